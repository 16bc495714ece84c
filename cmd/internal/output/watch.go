package output

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/trace"
)

// What srv6-trace --report and --live show of a trace.Watch: mtr's table (loss, sent, last,
// average, best, worst, standard deviation per hop), grouped by segment, one block per ECMP
// branch, with SID nodes marked.

// WatchView renders a Watch's state as lines of text.
type WatchView struct {
	Names *Names
	// Numeric shows addresses only (mtr's n toggles it).
	Numeric bool
	// Display is what each hop's line holds.
	Display WatchDisplay
}

// WatchDisplay is what a hop's line of a watch holds (--live's d cycles through them).
type WatchDisplay int

// Displays of a watch.
const (
	DisplayStats      WatchDisplay = iota // the statistics (--report)
	DisplayStatsSpark                     // the statistics and a sparkline of the recent round trips
	DisplayGraph                          // the sparkline alone, wide
)

// WatchDisplays names the displays, in order.
var WatchDisplays = []string{"statistics", "statistics and recent round trips", "recent round trips"}

// WatchColumns is the header of the table (after the hop number and host).
const WatchColumns = " Loss%   Snt     Last      Avg     Best     Wrst    StDev"

// hostWidth is the room the host column takes.
const hostWidth = 44

// Header is the table's column line.
func (v *WatchView) Header() string {
	switch v.Display {
	case DisplayGraph:
		return fmt.Sprintf("%3s  %-*s  %s", "", hostWidth, "Host", "Recent round trips (× lost)")
	case DisplayStatsSpark:
		return fmt.Sprintf("%3s  %-*s%s  %s", "", hostWidth, "Host", WatchColumns, "Recent")
	}
	return fmt.Sprintf("%3s  %-*s%s", "", hostWidth, "Host", WatchColumns)
}

// Lines are the table's rows: per path (a heading when there are several), per segment a
// heading, per hop a line (more when several hosts answered it), and how the latest round
// ended.
func (v *WatchView) Lines(ctx context.Context, s *trace.WatchState) []string {
	var out []string
	for i := range s.Paths {
		p := &s.Paths[i]
		if len(s.Paths) > 1 {
			out = append(out, fmt.Sprintf("path %d of %d: flow label %#05x", i+1, len(s.Paths), p.Flow))
		}
		seg := -1
		for j, h := range shownHops(p) {
			if len(s.Path) > 1 && h.Segment >= 0 && h.Segment != seg {
				seg = h.Segment
				out = append(out, fmt.Sprintf("segment %d → %s", seg+1, s.Path[seg])+watchOneWay(s, seg))
			}
			out = append(out, v.hopLines(ctx, &p.Hops[j])...)
		}
		if p.Rounds > 0 {
			out = append(out, "     "+endText(p, s))
		}
	}
	if s.OneWay != nil && len(s.OneWay.Segments) == len(s.Path)+1 {
		out = append(out, "return → "+s.Source.String()+watchOneWay(s, len(s.Path)))
	}
	if s.OneWayErr != "" {
		out = append(out, s.OneWayErr)
	}
	return out
}

// watchOneWay is what the timestamped probes measured of segment i, to follow its heading.
func watchOneWay(s *trace.WatchState, i int) string {
	if s.OneWay == nil || i >= len(s.OneWay.Segments) {
		return ""
	}
	seg := s.OneWay.Segments[i]
	b := "   one-way"
	if seg.Delay.Count > 0 {
		b += fmt.Sprintf(" p50 %s ms", oam.FormatMillis(seg.Delay.P50))
		if i < len(s.OneWayLast) && s.OneWayLast[i].State == oam.DelayMeasured {
			b += ", last " + oam.FormatMillis(s.OneWayLast[i].Delay)
		}
		if s.OneWay.SharedClock {
			b += " (shared clock)"
		} else {
			b += " ±" + oam.FormatMillis(seg.MaxBound)
		}
	} else if i < len(s.OneWayLast) {
		b += " " + segmentValue(s.OneWayLast[i])
	} else {
		b += " ?"
	}
	return b + fmt.Sprintf(", %d measured, lost %d", seg.Delay.Count, seg.Lost)
}

// shownHops are a path's hops up to the last that ever answered, and one silent hop after it
// when the destination was not reached (mtr's "???"): the silent tail up to the hop limit says
// nothing more.
func shownHops(p *trace.PathStats) []trace.HopStats {
	last := -1
	for i := range p.Hops {
		if p.Hops[i].Received > 0 {
			last = i
		}
	}
	n := last + 1
	if n < len(p.Hops) && p.End != trace.EndReached {
		n++
	}
	return p.Hops[:n]
}

func endText(p *trace.PathStats, s *trace.WatchState) string {
	switch p.End {
	case trace.EndReached:
		return "destination reached"
	case trace.EndUnreachable:
		return "the path ends with an ICMPv6 error before the destination"
	}
	return fmt.Sprintf("no answer from the destination up to the largest hop limit (%d)", len(p.Hops)+lowestTTL(p)-1)
}

func lowestTTL(p *trace.PathStats) int {
	if len(p.Hops) == 0 {
		return 1
	}
	return p.Hops[0].TTL
}

// hopLines are one hop's line and, when several hosts answered it, one line for each other.
func (v *WatchView) hopLines(ctx context.Context, h *trace.HopStats) []string {
	hosts := make([]string, len(h.Hosts))
	for i, a := range h.Hosts {
		hosts[i] = v.host(ctx, a)
	}
	first := "???"
	if len(hosts) > 0 {
		first = hosts[0]
	}
	if h.SID {
		sid := "SID " + h.SIDAddr.String()
		if b := v.Names.Behavior(h.SIDAddr); b != "" {
			sid += " " + b
		}
		first += " [" + sid + "]"
	}
	if h.Error != "" {
		first += " " + shortError(h.ErrorType, h.ErrorCode)
	}
	var line string
	switch v.Display {
	case DisplayGraph:
		line = fmt.Sprintf("%3d. %-*s  %s", h.TTL, hostWidth, clip(first, hostWidth), Sparkline(h.Recent))
	default:
		line = fmt.Sprintf("%3d. %-*s %5.1f%% %5d %s %s %s %s %s", h.TTL, hostWidth, clip(first, hostWidth), h.Loss(), h.Sent,
			msCol(h.Last, h.Last != trace.Lost && h.Received > 0), msCol(h.Avg(), h.Received > 0), msCol(h.Best, h.Received > 0),
			msCol(h.Worst, h.Received > 0), msCol(h.StDev(), h.Received > 1))
		if v.Display == DisplayStatsSpark {
			line += "  " + Sparkline(h.Recent[max(0, len(h.Recent)-16):])
		}
	}
	out := []string{line}
	for _, o := range hosts[min(1, len(hosts)):] {
		out = append(out, fmt.Sprintf("     %s", o))
	}
	return out
}

func (v *WatchView) host(ctx context.Context, a netip.Addr) string {
	if v.Numeric {
		return a.String()
	}
	return hostText(ctx, v.Names, a)
}

// hostText is an address as "name (address)", or the address alone without a name.
func hostText(ctx context.Context, names *Names, a netip.Addr) string {
	if name := names.Name(ctx, a); name != "" {
		return name + " (" + a.String() + ")"
	}
	return a.String()
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// msCol is a duration in milliseconds in an 8-wide column, "-" when there is none.
func msCol(d time.Duration, ok bool) string {
	if !ok {
		return fmt.Sprintf("%8s", "-")
	}
	return fmt.Sprintf("%8.3f", float64(d)/1e6)
}

// sparks are the levels of a sparkline, lowest first.
var sparks = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws round trips as bars scaled between their smallest and largest; a lost probe
// is "×".
func Sparkline(rtts []time.Duration) string {
	lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
	for _, d := range rtts {
		if d != trace.Lost {
			lo, hi = min(lo, d), max(hi, d)
		}
	}
	var b strings.Builder
	for _, d := range rtts {
		switch {
		case d == trace.Lost:
			b.WriteRune('×')
		case hi == lo:
			b.WriteRune(sparks[0])
		default:
			b.WriteRune(sparks[int(float64(d-lo)/float64(hi-lo)*float64(len(sparks)-1)+0.5)])
		}
	}
	return b.String()
}

// WatchReport writes srv6-trace --report's text: a heading, the table, and the stop reason.
func (v *WatchView) WatchReport(ctx context.Context, w io.Writer, s *trace.WatchState, interrupted bool) {
	fmt.Fprintf(w, "Start: %s\n", s.Start.UTC().Format(time.RFC3339))
	via := ""
	if len(s.Target.Segments) > 0 {
		via = " via " + s.Target.Segments.String()
	}
	fmt.Fprintf(w, "SRV6-TRACE --report %s%s from %s: %d rounds\n", s.Target.Destination, via, s.Source, s.Rounds)
	fmt.Fprintln(w, v.Header())
	for _, l := range v.Lines(ctx, s) {
		fmt.Fprintln(w, l)
	}
	if interrupted {
		fmt.Fprintf(w, "interrupted after %d rounds\n", s.Rounds)
	}
}

// TraceReportDocument is srv6-trace --report --json.
type TraceReportDocument struct {
	Command string             `json:"command"`
	Version int                `json:"version"`
	Mode    string             `json:"mode"` // "report"
	Target  TraceTarget        `json:"target"`
	Options TraceReportOptions `json:"options"`
	Paths   []TraceReportPath  `json:"paths"`
	// OneWay (--timestamps) is each segment's one-way delay, the return to the prober last.
	OneWay  []JSONReportOneWay `json:"one_way,omitempty"`
	Summary TraceReportSummary `json:"summary"`
	// Error is what stopped the run before or during its rounds (no route, a send error).
	Error string `json:"error,omitempty"`
}

// TraceReportOptions echo the options of a report.
type TraceReportOptions struct {
	Count      int     `json:"count"`
	IntervalMS float64 `json:"interval_ms"`
	FirstHop   int     `json:"first_hop"`
	MaxHops    int     `json:"max_hops"`
	WaitMS     float64 `json:"wait_ms"`
	FlowLabel  uint32  `json:"flow_label"`
	ECMP       bool    `json:"ecmp"`
}

// TraceReportPath is one path (one flow label; with --ecmp one branch).
type TraceReportPath struct {
	FlowLabel uint32 `json:"flow_label"`
	// End is how its latest round ended: "reached", "unreachable" (an ICMPv6 error other than
	// Time Exceeded) or "max_hops" (no answer from the destination up to the largest hop
	// limit); "none" when no round was done.
	End    string           `json:"end"`
	Rounds int              `json:"rounds"`
	Hops   []TraceReportHop `json:"hops"`
}

// TraceReportHop is one hop of a path over the rounds.
type TraceReportHop struct {
	TTL         int        `json:"ttl"`
	Segment     *int       `json:"segment,omitempty"` // 1-based, absent when unknown
	SID         string     `json:"sid,omitempty"`
	Destination bool       `json:"destination"`
	Hosts       []JSONHost `json:"hosts"`
	Sent        int        `json:"sent"`
	Received    int        `json:"received"`
	LossPercent float64    `json:"loss_percent"`
	// The round trips, in milliseconds, absent without an answer (StDevMS: without two).
	LastMS  *float64 `json:"last_ms,omitempty"`
	AvgMS   *float64 `json:"avg_ms,omitempty"`
	BestMS  *float64 `json:"best_ms,omitempty"`
	WorstMS *float64 `json:"worst_ms,omitempty"`
	StDevMS *float64 `json:"stdev_ms,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// JSONHost is an address that answered, with its name when known.
type JSONHost struct {
	Address string `json:"address"`
	Name    string `json:"name,omitempty"`
}

// JSONReportOneWay is one segment's one-way delay over the timestamped probes.
type JSONReportOneWay struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Measured counts the probes whose delay was measured (P50MS, AvgMS, BoundMS then set);
	// Crossed and Lost count those that crossed the segment and those lost on it; Missing those
	// without a timestamp at one end (no End.OAM there).
	Measured int64    `json:"measured"`
	P50MS    *float64 `json:"p50_ms,omitempty"`
	AvgMS    *float64 `json:"avg_ms,omitempty"`
	BoundMS  *float64 `json:"bound_ms,omitempty"`
	Crossed  int      `json:"crossed"`
	Lost     int      `json:"lost"`
	Missing  int      `json:"missing"`
	Liveness string   `json:"liveness"`
}

// TraceReportSummary says how the run went.
type TraceReportSummary struct {
	Rounds int `json:"rounds"`
	// Stop is "completed" (the rounds asked for), "interrupted" (a signal), or "error".
	Stop      string  `json:"stop"`
	Reached   bool    `json:"reached"` // every path's latest round reached the destination
	ElapsedMS float64 `json:"elapsed_ms"`
}

// NewTraceReportDocument assembles srv6-trace --report --json from the state (which may hold
// no round at all).
func NewTraceReportDocument(ctx context.Context, s *trace.WatchState, o trace.WatchOptions, encoding string, names *Names, stop string, runErr error) TraceReportDocument {
	d := TraceReportDocument{Command: "srv6-trace", Version: 1, Mode: "report",
		Target: NewJSONTarget(s.Target, encoding, sourceText(s.Source)),
		Options: TraceReportOptions{Count: o.Count, IntervalMS: ms(o.Interval), FirstHop: o.FirstHop,
			MaxHops: o.MaxHops, WaitMS: ms(o.Wait), FlowLabel: o.FlowLabel, ECMP: o.ECMP},
		Paths:   []TraceReportPath{},
		Summary: TraceReportSummary{Rounds: s.Rounds, Stop: stop},
	}
	if !s.Start.IsZero() {
		d.Summary.ElapsedMS = ms(time.Since(s.Start))
	}
	if runErr != nil {
		d.Error = runErr.Error()
	}
	reached := len(s.Paths) > 0
	for i := range s.Paths {
		p := &s.Paths[i]
		jp := TraceReportPath{FlowLabel: p.Flow, End: string(p.End), Rounds: p.Rounds, Hops: []TraceReportHop{}}
		if jp.End == "" {
			jp.End = "none"
		}
		reached = reached && p.End == trace.EndReached
		for _, h := range shownHops(p) {
			jh := TraceReportHop{TTL: h.TTL, Destination: h.Destination, Hosts: []JSONHost{}, Sent: h.Sent, Received: h.Received,
				LossPercent: h.Loss(), Error: h.Error}
			if h.Segment >= 0 {
				n := h.Segment + 1
				jh.Segment = &n
			}
			if h.SID {
				jh.SID = h.SIDAddr.String()
			}
			for _, a := range h.Hosts {
				jh.Hosts = append(jh.Hosts, JSONHost{Address: a.String(), Name: names.Name(ctx, a)})
			}
			if h.Received > 0 {
				jh.AvgMS, jh.BestMS, jh.WorstMS = msp(ms(h.Avg())), msp(ms(h.Best)), msp(ms(h.Worst))
				if h.Last != trace.Lost {
					jh.LastMS = msp(ms(h.Last))
				}
			}
			if h.Received > 1 {
				jh.StDevMS = msp(ms(h.StDev()))
			}
			jp.Hops = append(jp.Hops, jh)
		}
		d.Paths = append(d.Paths, jp)
	}
	d.Summary.Reached = reached
	if s.OneWay != nil {
		for _, seg := range s.OneWay.Segments {
			j := JSONReportOneWay{From: seg.From, To: seg.To, Measured: seg.Delay.Count, Crossed: seg.Crossed, Lost: seg.Lost,
				Missing: seg.Missing, Liveness: seg.Liveness.String()}
			if seg.Delay.Count > 0 {
				j.P50MS, j.AvgMS = msp(ms(seg.Delay.P50)), msp(ms(seg.Delay.Avg))
				if !s.OneWay.SharedClock {
					j.BoundMS = msp(ms(seg.MaxBound))
				}
			}
			d.OneWay = append(d.OneWay, j)
		}
	}
	if s.OneWayErr != "" && d.Error == "" {
		d.Error = s.OneWayErr
	}
	return d
}

func sourceText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
