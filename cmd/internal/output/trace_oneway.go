package output

import (
	"context"
	"fmt"
	"strings"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes/trace"
)

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
func (p *TracePrinter) PerSegmentOneWay(ctx context.Context, target oam.Target, status []trace.SegmentStatus, w *trace.OneWay) {
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
	OneWayHints(p.W, s, true, "this host")
}

// segmentLabel is "src→fc00:0:2::b0" for the delay segment of a point pair.
func segmentLabel(s collect.SegmentSummary) string {
	return strings.TrimSpace(s.From) + "→" + strings.TrimSpace(s.To)
}

// returnLine is the extra line for the way back from the final SID to the prober.
func returnLine(w *trace.OneWay, n, width int) (string, bool) {
	s, ok := w.Segment(n)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("return     %-*s  %s", width, segmentLabel(s), oneWayText(s, w.Summary.SharedClock)), true
}
