package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	s6cli "github.com/srv6oam/srv6oam/cmd/internal/cli"
	"github.com/srv6oam/srv6oam/cmd/internal/output"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/trace"
)

// watchRefused are the flags --report and --live cannot be combined with, and why.
var watchRefused = map[string]string{
	"per-segment":    "--per-segment probes segments, not hops",
	"pt":             "--pt is a mode of its own",
	"expect":         "--expect checks one trace; run srv6-trace without --report or --live",
	"agent-nexthops": "the agents' next hops are asked once; run srv6-trace without --report or --live",
	"q":              "each round sends one probe per hop, as mtr does: -c sets the rounds",
	"ioam":           "--ioam is shown by a single trace",
	"pcap":           "a capture of every round is not kept; use tcpdump",
	"pmtu":           "--pmtu is a mode of its own",
}

// watchOptions reads -c and -i of --report and --live.
func watchOptions(c *cli.Context, target oam.Target, opts trace.Options) (trace.WatchOptions, error) {
	for name, why := range watchRefused {
		if c.IsSet(name) {
			mode := "--report"
			if c.Bool("live") {
				mode = "--live"
			}
			dash := "--"
			if len(name) == 1 {
				dash = "-"
			}
			return trace.WatchOptions{}, fmt.Errorf("%s%s cannot be used with %s: %s", dash, name, mode, why)
		}
	}
	if c.Bool("report") && c.Bool("live") {
		return trace.WatchOptions{}, errors.New("--report and --live: choose one (--report -c N prints the table after N rounds)")
	}
	w := trace.WatchOptions{Options: opts, Count: c.Int("c")}
	if w.Count < 0 {
		return w, fmt.Errorf("-c %d: the number of rounds must be 0 (until interrupted) or more", w.Count)
	}
	if c.Bool("report") && !c.IsSet("c") {
		w.Count = 10 // mtr -r's default
	}
	iv := c.Float64("i")
	if iv <= 0 || iv > 3600 {
		return w, fmt.Errorf("-i %v: the interval between rounds must be more than 0 and at most 3600 seconds", iv)
	}
	w.Interval = time.Duration(iv * float64(time.Second))
	if c.Bool("timestamps") {
		if len(target.Segments) == 0 {
			return w, errors.New("--timestamps needs --segs: the timestamped probes travel the segment list")
		}
		if c.IsSet("timestamp-count") {
			return w, errors.New("--timestamp-count is --per-segment's: with --report and --live the timestamped probes go every -i, as the rounds")
		}
		// The rounds trace to the destination as given; the timestamped probes go along the
		// list and back (their source is the rounds').
		d := delayOptions(c, opts, netip.Addr{})
		w.OneWay = &d
		w.LoopDestination = false
	}
	return w, nil
}

// runWatch is --report (and --live when stdout is not a terminal): rounds of one probe per hop,
// then the table (--report), or the table after every round.
func runWatch(ctx context.Context, c *cli.Context, target oam.Target, opts trace.Options, encoding string, names *output.Names) error {
	wo, err := watchOptions(c, target, opts)
	if err != nil {
		return fail(err)
	}
	out := os.Stdout
	jsonMode := c.Bool("json")
	if c.Bool("live") {
		if jsonMode {
			return fail(errors.New("--json cannot be used with --live: use --report -c N --json"))
		}
		if isTerminal(out) {
			return runLive(ctx, target, wo, names, c.Bool("n"))
		}
	}
	s6cli.Warn("srv6-trace", probes.Preflight{Target: target, Encoding: opts.Encoding, Structure: opts.Structure, Interface: opts.Interface}.Check())
	w, err := trace.NewWatch(ctx, target, wo)
	if err != nil {
		if jsonMode {
			// A document even when nothing could be sent: what was asked, and why not.
			st := trace.WatchState{Target: target}
			_ = writeJSON(output.NewTraceReportDocument(ctx, &st, wo, encoding, names, "error", err))
			return fail(err)
		}
		return fail(err)
	}
	view := &output.WatchView{Names: names, Numeric: c.Bool("n")}
	var onRound func(trace.WatchState)
	if c.Bool("live") {
		// Not a terminal: the table after every round, as plain lines.
		onRound = func(s trace.WatchState) {
			view.Names.PrefetchHosts(ctx, &s)
			fmt.Fprintf(out, "round %d at %s\n", s.Rounds, time.Now().UTC().Format("15:04:05"))
			writeTable(ctx, out, view, &s)
			fmt.Fprintln(out)
		}
	}
	runErr := w.Run(ctx, onRound)
	interrupted := errors.Is(runErr, context.Canceled)
	if interrupted {
		runErr = nil
	}
	s := w.State()
	stop := "completed"
	switch {
	case runErr != nil:
		stop = "error"
	case interrupted:
		stop = "interrupted"
	}
	switch {
	case jsonMode:
		if err := writeJSON(output.NewTraceReportDocument(ctx, &s, w.Options(), encoding, names, stop, runErr)); err != nil {
			return fail(err)
		}
	case c.Bool("report"):
		view.Names.PrefetchHosts(ctx, &s)
		view.WatchReport(ctx, out, &s, interrupted)
	}
	if runErr != nil {
		return fail(runErr)
	}
	return nil
}

func writeTable(ctx context.Context, out io.Writer, view *output.WatchView, s *trace.WatchState) {
	fmt.Fprintln(out, view.Header())
	for _, l := range view.Lines(ctx, s) {
		fmt.Fprintln(out, l)
	}
}
