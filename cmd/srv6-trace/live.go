package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/srv6oam/srv6oam/cmd/internal/output"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/trace"
)

// srv6-trace --live: mtr's full-screen view. The rounds run in their own goroutine (a
// trace.Watch); after each, the state goes to the bubbletea program, which draws it. Keys as
// mtr's: q quit, p pause, r reset, d display, n names, ? help. The terminal is restored on q,
// on Ctrl-C (a key in raw mode) and on SIGTERM (the context ends the program).

type liveModel struct {
	ctx    context.Context
	watch  *trace.Watch
	view   *output.WatchView
	state  trace.WatchState
	title  string
	width  int
	height int
	// help shows the keys' page.
	help bool
	err  error
	done bool
}

type stateMsg trace.WatchState

type doneMsg struct{ err error }

var (
	titleStyle  = lipgloss.NewStyle().Bold(true)
	headerStyle = lipgloss.NewStyle().Bold(true).Reverse(true)
	noteStyle   = lipgloss.NewStyle().Faint(true)
)

func (m *liveModel) Init() tea.Cmd { return nil }

func (m *liveModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyMsg:
		if m.help && msg.String() != "ctrl+c" && msg.String() != "q" {
			m.help = false
			return m, nil
		}
		switch msg.String() {
		case "q", "ctrl+c":
			return m, tea.Quit
		case "p":
			m.watch.Pause(!m.state.Paused)
			m.state.Paused = !m.state.Paused
		case "r":
			m.watch.Reset()
			m.state = m.watch.State()
		case "d":
			m.view.Display = (m.view.Display + 1) % output.WatchDisplay(len(output.WatchDisplays))
		case "n":
			m.view.Numeric = !m.view.Numeric
		case "?", "h":
			m.help = true
		}
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case stateMsg:
		paused := m.state.Paused
		m.state = trace.WatchState(msg)
		m.state.Paused = paused
	case doneMsg:
		m.err, m.done = msg.err, true
		if msg.err == nil {
			return m, tea.Quit // -c rounds done
		}
	}
	return m, nil
}

func (m *liveModel) View() string {
	var lines []string
	status := fmt.Sprintf("round %d", m.state.Rounds)
	if m.state.Paused {
		status += "  [paused]"
	}
	lines = append(lines, titleStyle.Render(clipTo(m.title, m.width-len(status)-2))+"  "+status,
		noteStyle.Render(clipTo("Keys: q quit  p pause  r reset  d display  n names  ? help", m.width)))
	if m.help {
		lines = append(lines, "", "q      quit (the terminal is restored; the last table is printed)",
			"p      pause and resume the rounds",
			"r      reset every hop's counters",
			"d      display: "+strings.Join(output.WatchDisplays, " / "),
			"n      names on and off (addresses only)",
			"?      this page (any key returns)")
		return strings.Join(lines, "\n")
	}
	if m.err != nil {
		lines = append(lines, "error: "+m.err.Error())
	}
	table := m.view.Lines(m.ctx, &m.state)
	lines = append(lines, headerStyle.Render(clipTo(m.view.Header(), m.width)))
	for _, l := range table {
		lines = append(lines, clipTo(l, m.width))
	}
	if m.state.Rounds == 0 && len(m.state.Paths) == 0 {
		lines = append(lines, noteStyle.Render("finding the path…"))
	}
	if m.height > 0 && len(lines) > m.height {
		lines = lines[:m.height]
	}
	return strings.Join(lines, "\n")
}

// clipTo cuts s to n runes (no limit when n ≤ 0, before the first size message).
func clipTo(s string, n int) string {
	r := []rune(s)
	if n <= 0 || len(r) <= n {
		return s
	}
	return string(r[:n])
}

// runLive is --live on a terminal.
func runLive(ctx context.Context, target oam.Target, wo trace.WatchOptions, names *output.Names, numeric bool) error {
	w, err := trace.NewWatch(ctx, target, wo)
	if err != nil {
		return fail(err)
	}
	via := ""
	if len(target.Segments) > 0 {
		via = " via " + target.Segments.String()
	}
	m := &liveModel{ctx: ctx, watch: w, view: &output.WatchView{Names: names, Numeric: numeric, Display: output.DisplayStatsSpark},
		state: w.State(), title: fmt.Sprintf("srv6-trace --live %s%s from %s", target.Destination, via, w.State().Source)}
	// The program quits when ctx ends (SIGTERM, or SIGINT sent as a signal) the way q quits it,
	// restoring the terminal. bubbletea's own signal handler is off: it sends its quit on an
	// unbuffered channel without watching for the program's end, so a signal that comes as the
	// program quits for another reason (the rounds ending with ctx) leaves its shutdown waiting
	// for that send forever, on the alternate screen.
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithoutSignalHandler())
	stopQuit := context.AfterFunc(ctx, p.Quit)
	defer stopQuit()
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		err := w.Run(rctx, func(s trace.WatchState) {
			names.PrefetchHosts(rctx, &s)
			p.Send(stateMsg(s))
		})
		if rctx.Err() != nil {
			err = nil
		}
		p.Send(doneMsg{err})
	}()
	_, perr := p.Run()
	stop()
	// The last table, on the ordinary screen: what mtr -r would have printed.
	s := w.State()
	fmt.Fprintf(os.Stdout, "srv6-trace --live: %d rounds, %s\n", s.Rounds, time.Since(s.Start).Round(time.Second))
	writeTable(context.Background(), os.Stdout, &output.WatchView{Names: names, Numeric: m.view.Numeric}, &s)
	if m.err != nil {
		return fail(m.err)
	}
	if perr != nil && ctx.Err() == nil {
		return fail(perr)
	}
	return nil
}
