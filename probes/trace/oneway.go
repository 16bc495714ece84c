package trace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes/delay"
)

// OneWay is what timestamped probes (probes/delay) measured along the whole segment list, for
// srv6-trace --per-segment --timestamps.
type OneWay struct {
	// Summary has one segment per SID of the path (Segments[i] ends at the path's i-th SID:
	// src→first SID, then SID→SID) and, last, the return from the final SID to the prober.
	Summary delay.Summary
	// Results are the probes, in order.
	Results []delay.Result
	Points  []collect.Point
}

// Segment returns the one-way statistics of the segment that ends at path index i; i equal to
// the path's length is the return to the prober. ok is false when there is none.
func (w *OneWay) Segment(i int) (collect.SegmentSummary, bool) {
	if w == nil || i < 0 || i >= len(w.Summary.Segments) {
		return collect.SegmentSummary{}, false
	}
	return w.Summary.Segments[i], true
}

// OneWayDelays sends opts.Count timestamped probes along target.Path() and back to the prober
// (delay.Prober), after which each segment has its one-way delay where both of its ends run
// srv6-agent with an End.OAM SID, and "missing" elsewhere. Every segment, the destination
// included, must be a SID that sends the probe onwards.
func OneWayDelays(ctx context.Context, target oam.Target, opts delay.Options) (*OneWay, error) {
	if len(target.Segments) == 0 {
		return nil, errors.New("timestamped probes need a segment list")
	}
	p, err := delay.New(ctx, target, opts)
	if err != nil {
		return nil, fmt.Errorf("timestamped probes: %w", err)
	}
	defer p.Close()
	w := &OneWay{Points: p.Points()}
	sum, err := p.Run(ctx, func(r delay.Result) { w.Results = append(w.Results, r) })
	if err != nil {
		return nil, fmt.Errorf("timestamped probes: %w", err)
	}
	w.Summary = sum
	return w, nil
}

// oneWayText is how one segment's one-way delay prints next to its liveness:
// "one-way p50 0.008 p99 0.032 ms (shared clock)", "(±0.002)", or "?" / "unsync" / "neg!" /
// "LOST" when no delay was measured.
func oneWayText(s collect.SegmentSummary, shared bool) string {
	if s.Delay.Count > 0 {
		bound := "shared clock"
		if !shared {
			bound = "±" + fmt.Sprintf("%.3f", ms(s.MaxBound))
		}
		return fmt.Sprintf("one-way p50 %.3f p99 %.3f ms (%s)", ms(s.Delay.P50), ms(s.Delay.P99), bound)
	}
	switch {
	case s.Unsynchronised > 0:
		return "one-way unsync"
	case s.Negative > 0:
		return "one-way neg!"
	case s.Crossed == 0 && s.Lost > 0:
		return "one-way LOST"
	}
	return "one-way ?"
}

// PerSegmentOneWay prints per-segment results with each segment's one-way delay (w may be nil:
// then it prints what PerSegment does), then the return to the prober and a hint line per kind
// of segment without a delay.
func (p *Printer) PerSegmentOneWay(ctx context.Context, target oam.Target, status []SegmentStatus, w *OneWay) {
	p.perSegment(ctx, target, status, w)
	if w == nil {
		return
	}
	s := w.Summary
	fmt.Fprintf(p.W, "%d timestamped probes, %d returned", s.Transmitted, s.Received)
	if s.RTT.Count > 0 {
		fmt.Fprintf(p.W, ", rtt p50 %.3f ms", ms(s.RTT.P50))
	}
	fmt.Fprintln(p.W)
	writeHints(p.W, s)
}

func writeHints(out io.Writer, s delay.Summary) {
	var missing, unsync bool
	for _, seg := range s.Segments {
		missing = missing || (seg.Delay.Count == 0 && seg.Missing > 0)
		unsync = unsync || (seg.Delay.Count == 0 && seg.Unsynchronised > 0)
	}
	if missing {
		fmt.Fprintln(out, "? = no timestamp from an end of that segment: is its SID bound to End.OAM by srv6-agent, and does the agent's collectors allow-list hold this host?")
	}
	if unsync && !s.SharedClock {
		fmt.Fprintln(out, "unsync = a clock without synchronisation (adjtimex): run chrony or PTP on the nodes; if every node is on this host (a lab of namespaces), use --shared-clock")
	}
}

// segmentLabel is "src→fc00:0:2::b0" for the delay segment of a point pair.
func segmentLabel(s collect.SegmentSummary) string {
	return strings.TrimSpace(s.From) + "→" + strings.TrimSpace(s.To)
}

// returnLine is the extra line for the way back from the final SID to the prober.
func returnLine(w *OneWay, n, width int) (string, bool) {
	s, ok := w.Segment(n)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("return     %-*s  %s", width, segmentLabel(s), oneWayText(s, w.Summary.SharedClock)), true
}

// msOf is a duration in milliseconds, for JSON.
func msOf(d time.Duration) *float64 {
	v := ms(d)
	return &v
}
