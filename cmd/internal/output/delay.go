package output

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes/delay"
)

// msText formats a duration in milliseconds with microsecond resolution, as ping does.

// segmentValue is how one segment of one probe prints: its delay in msText, or why there is none.
// A delay that is not believed (unsynchronised, negative) never prints as a number.
func segmentValue(s collect.SegmentResult) string {
	switch s.State {
	case oam.DelayMeasured:
		return oam.FormatMillis(s.Delay)
	case oam.DelayMissing:
		return "?"
	case oam.DelayUnsynchronised:
		return "unsync"
	case oam.DelayClockUnknown:
		return "clock?"
	case oam.DelayNegative:
		return "neg!"
	case oam.DelayLost:
		return "LOST"
	case oam.DelayNotReached:
		return "-"
	}
	return "?"
}

// NamePoints returns a copy of a timestamped run's points with the names a person gave them
// (srv6-ping --names): names[i] names the run's i-th segment (points[i+1]); empty or missing
// names keep the SID. The source and the return stay "src".
func NamePoints(points []collect.Point, names []string) []collect.Point {
	out := append([]collect.Point(nil), points...)
	for i, n := range names {
		if i+1 < len(out)-1 && n != "" {
			out[i+1].Name = n
		}
	}
	return out
}

func segmentName(points []collect.Point, i int) string {
	name := points[i].Name + "→" + points[i+1].Name
	if points[i+1].Kind == collect.PointReply {
		name += "↩"
	}
	return name
}

// FormatDelayResult writes one probe as a line:
//
//	seq=4 rtt=14.053 msText   src→r1 0.005   r1→r2 2.010   r2→r3 0.006   r3→h2 5.013   h2→src 7.020 ms (one-way, ±0.002)
//
// then one line per liveness change it caused. points are Prober.Points(); shared says every
// point reads one clock (printed instead of a bound).
func FormatDelayResult(w io.Writer, r delay.Result, points []collect.Point, shared bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "seq=%d", r.Sequence)
	switch r.Status {
	case collect.StatusLost:
		fmt.Fprintf(&b, " lost on %s (last seen by %s)", segmentName(points, r.LostOn), points[r.LastSeen].Name)
	default:
		fmt.Fprintf(&b, " rtt=%s ms", oam.FormatMillis(r.RTT))
	}
	var bound time.Duration
	measured := 0
	var unsync, unknown, negative bool
	for i, s := range r.Segments {
		fmt.Fprintf(&b, "   %s %s", segmentName(points, i), segmentValue(s))
		switch s.State {
		case oam.DelayMeasured:
			measured++
			bound = max(bound, s.Bound)
		case oam.DelayUnsynchronised:
			unsync = true
		case oam.DelayClockUnknown:
			unknown = true
		case oam.DelayNegative:
			negative = true
		}
	}
	switch {
	case measured > 0 && shared:
		b.WriteString(" ms (one-way, shared clock)")
	case measured > 0:
		fmt.Fprintf(&b, " ms (one-way, ±%s)", oam.FormatMillis(bound))
	}
	var notes []string
	if unsync {
		notes = append(notes, "unsync = an end's clock is not synchronised")
	}
	if unknown {
		notes = append(notes, "clock? = an end's clock state is unknown")
	}
	if negative {
		notes = append(notes, "neg! = the two clocks disagree")
	}
	if len(notes) > 0 {
		fmt.Fprintf(&b, " (%s: no delay printed)", strings.Join(notes, "; "))
	}
	if r.Evicted {
		b.WriteString(" [window full]")
	}
	b.WriteByte('\n')
	for _, t := range r.Transitions {
		fmt.Fprintf(&b, "segment %s→%s is %s (seq=%d, was %s)\n", points[t.Segment].Name, points[t.Segment+1].Name, t.New, t.Sequence, t.Old)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// FormatDelaySummary writes the statistics block: totals, RTT, then per segment the one-way delay
// statistics, the error bound, the loss on that segment and its liveness.
func FormatDelaySummary(w io.Writer, s delay.Summary, points []collect.Point, target string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\n--- %s timestamped probe statistics (session %#08x) ---\n", target, s.Session)
	loss := 0.0
	if s.Transmitted > 0 {
		loss = float64(s.Transmitted-s.Received) * 100 / float64(s.Transmitted)
	}
	fmt.Fprintf(&b, "%d probes transmitted, %d returned, %.1f%% loss, time %dms\n",
		s.Transmitted, s.Received, loss, s.Elapsed.Milliseconds())
	if s.RTT.Count > 0 {
		fmt.Fprintf(&b, "rtt min/avg/max/mdev = %s/%s/%s/%s ms\n", oam.FormatMillis(s.RTT.Min), oam.FormatMillis(s.RTT.Avg), oam.FormatMillis(s.RTT.Max), oam.FormatMillis(s.RTT.Mdev))
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "segment\tone-way min/avg/max/mdev ms\tp50/p90/p99 ms\tbound ms\tloss\tliveness")
	for _, seg := range s.Segments {
		name := segmentName(points, seg.Index)
		stats, q := "-", "-"
		if d := seg.Delay; d.Count > 0 {
			stats = fmt.Sprintf("%s/%s/%s/%s", oam.FormatMillis(d.Min), oam.FormatMillis(d.Avg), oam.FormatMillis(d.Max), oam.FormatMillis(d.Mdev))
			q = fmt.Sprintf("%s/%s/%s", oam.FormatMillis(d.P50), oam.FormatMillis(d.P90), oam.FormatMillis(d.P99))
		}
		bound := "±" + oam.FormatMillis(seg.MaxBound)
		if s.SharedClock {
			bound = "shared"
		}
		notes := ""
		if seg.Unsynchronised > 0 {
			notes += fmt.Sprintf(" %d unsync", seg.Unsynchronised)
		}
		if seg.Negative > 0 {
			notes += fmt.Sprintf(" %d negative", seg.Negative)
		}
		if seg.Missing > 0 {
			notes += fmt.Sprintf(" %d unreported", seg.Missing)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f%% (%d/%d)\t%s%s\n", name, stats, q, bound,
			seg.LossPercent(), seg.Lost, seg.Crossed+seg.Lost, seg.Liveness, notes)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Late reports are normal (a probe whose slots came back is resolved before its reports
	// arrive); the rest deserves a line.
	if c := s.Counters; c.Duplicates+c.PathMismatch+c.Foreign+c.Unexpected+c.Evicted+c.TimeMismatch > 0 || s.BadReports+s.Dropped > 0 {
		fmt.Fprintf(&b, "reports: %d records, %d slots; %d duplicate, %d off-path, %d foreign, %d unexpected, %d disagreeing with their slot, %d undecodable datagrams; %d probes evicted; %d events dropped (prober too slow)\n",
			c.Records, c.Slots, c.Duplicates, c.PathMismatch, c.Foreign, c.Unexpected, c.TimeMismatch, s.BadReports, c.Evicted, s.Dropped)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// OneWayHints writes a line after a timestamped run's statistics for each kind of segment
// without a delay: a missing timestamp ("?") and an unsynchronised clock ("unsync"), saying
// what to check. unmeasuredOnly counts only segments that got no delay at all (the per-segment
// view prints one figure per segment); host is who must be on the agents' allow-list.
func OneWayHints(w io.Writer, s delay.Summary, unmeasuredOnly bool, host string) {
	var missing, unsync bool
	for _, seg := range s.Segments {
		if unmeasuredOnly && seg.Delay.Count > 0 {
			continue
		}
		missing = missing || seg.Missing > 0
		unsync = unsync || seg.Unsynchronised > 0
	}
	if missing {
		what := "that node"
		if unmeasuredOnly {
			what = "an end of that segment"
		}
		fmt.Fprintf(w, "? = no timestamp from %s: is its SID bound to End.OAM by srv6-agent, and does the agent's collectors allow-list hold %s?\n", what, host)
	}
	if unsync && !s.SharedClock {
		fmt.Fprintln(w, "unsync = a clock without synchronisation (adjtimex): run chrony or PTP on the nodes; if every node is on this host (a lab of namespaces), use --shared-clock")
	}
}
