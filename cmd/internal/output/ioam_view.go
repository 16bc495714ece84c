package output

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/probes/delay"
	"github.com/srv6oam/srv6oam/probes/stamp"
)

// IOAMView is how a mode whose probes carry an IOAM trace (--ioam with --timestamps or
// --stamp) shows it: entries named, delays between them judged by the one-way rule.
type IOAMView struct {
	Names *Names
	Trace *ioam.Trace // the empty trace every probe carries
	// Clock is what the user said of the IOAM nodes' clocks (--ioam-clock-error), Shared that
	// every clock is this host's, Prober this host's clock; TAIOffset is CLOCK_TAI less
	// CLOCK_REALTIME (the probes leave stamped in TAI, Linux's IOAM entries are realtime).
	Clock     oam.EndClock
	Shared    bool
	Prober    oam.EndClock
	TAIOffset time.Duration
}

// Delays judges the delays between rec's entries of a probe sent at txTAI (CLOCK_TAI ns).
func (v *IOAMView) Delays(rec *ioam.Record, txTAI int64) []oam.OneWay {
	return oam.IOAMDelays(rec, time.Unix(0, txTAI-int64(v.TAIOffset)), v.Prober, v.Clock, v.Shared)
}

// writeEntries writes a line (head, then how many entries: noun) and one line per entry.
func (v *IOAMView) writeEntries(b *strings.Builder, indent, head, noun string, rec *ioam.Record, delays []oam.OneWay) {
	note := ""
	if rec.Overflow {
		note = " (overflow: a hop found no room; pre-allocate more with --ioam-nodes)"
	}
	fmt.Fprintf(b, "%s%s%d %s%s\n", indent, head, len(rec.Entries), noun, note)
	for i := range rec.Entries {
		var ow *oam.OneWay
		if i < len(delays) {
			ow = &delays[i]
		}
		fmt.Fprintf(b, "%s  %2d  %s\n", indent, i+1, ioamEntryText(v.Names, rec, &rec.Entries[i], ow))
	}
}

// Options is the ioam object of the run's options.
func (v *IOAMView) Options() JSONIOAMOptions {
	o := JSONIOAMOptions{Namespace: v.Trace.Namespace, TraceType: v.Trace.Type.Names(),
		Nodes: len(v.Trace.Data) / (4 * int(v.Trace.NodeLen)), SharedClock: v.Shared}
	if v.Clock.Known {
		e := ms(v.Clock.Error)
		o.ClockErrorMS = &e
	}
	return o
}

// DelayIOAM shows the IOAM traces of timestamped probes (srv6-ping --timestamps --ioam): the
// whole trace of a probe that came back, and what the End.OAM agents' reports captured.
type DelayIOAM struct {
	IOAMView
	// Reports says the agents' reports carry the trace (delay.Prober.ReportsCarryIOAM).
	Reports bool
}

func (d *DelayIOAM) delays(r *delay.Result, rec *ioam.Record) []oam.OneWay {
	return d.Delays(rec, r.TxNs)
}

// shown is the trace a probe's text shows: the one it came back with, or for a probe that
// did not, the trace of the last point that reported it (how far it came, hop by hop).
func shown(r *delay.Result) *delay.IOAMTrace {
	for i := len(r.IOAM) - 1; i >= 0; i-- {
		if r.IOAM[i].Record != nil {
			return &r.IOAM[i]
		}
	}
	if len(r.IOAM) > 0 {
		return &r.IOAM[len(r.IOAM)-1]
	}
	return nil
}

// Format writes the lines under a probe's result line: the trace it came back with, entry by
// entry, or, for a lost probe, the trace of the last node that reported it.
func (d *DelayIOAM) Format(w io.Writer, r *delay.Result, points []collect.Point) error {
	var b strings.Builder
	t := shown(r)
	switch {
	case t == nil && r.Status == collect.StatusLost:
		fmt.Fprintf(&b, "  ioam: no trace reported before the loss\n")
	case t == nil:
		fmt.Fprintf(&b, "  ioam: the probe came back without its trace\n")
	case t.Err != nil:
		fmt.Fprintf(&b, "  ioam at %s: unreadable: %v\n", points[t.Point].Name, t.Err)
	default:
		where := "ioam back at " + points[t.Point].Name
		if t.Point < len(points)-1 {
			where = fmt.Sprintf("ioam as reported by %s (node %d)", points[t.Point].Name, t.Node)
		}
		d.writeEntries(&b, "  ", where+": ", "entries", t.Record, d.delays(r, t.Record))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// JSONDelayIOAMOptions are the IOAM options of a timestamped run.
type JSONDelayIOAMOptions struct {
	JSONIOAMOptions
	// ReportsCarryTrace: the probes ask the agents to capture their headers, trace included.
	ReportsCarryTrace bool `json:"reports_carry_trace"`
}

// DelayOptions is the ioam object of a timestamped run's options.
func (d *DelayIOAM) DelayOptions() *JSONDelayIOAMOptions {
	return &JSONDelayIOAMOptions{JSONIOAMOptions: d.Options(), ReportsCarryTrace: d.Reports}
}

// JSONDelayIOAM is a probe's trace as one point saw it.
type JSONDelayIOAM struct {
	Point string `json:"point"`
	// PointIndex is the index in the run's points.
	PointIndex int `json:"point_index"`
	// Source is "report" (an End.OAM agent's capture, the trace as the probe reached the node)
	// or "return" (the probe that came back, the whole trace).
	Source string `json:"source"`
	// NodeID is the reporting agent's node id (reports only).
	NodeID *uint32   `json:"node_id,omitempty"`
	Error  string    `json:"error,omitempty"`
	Trace  *JSONIOAM `json:"trace,omitempty"`
}

// JSON is the ioam array of a result.
func (d *DelayIOAM) JSON(r *delay.Result, points []collect.Point) []JSONDelayIOAM {
	out := []JSONDelayIOAM{}
	for i := range r.IOAM {
		t := &r.IOAM[i]
		j := JSONDelayIOAM{Point: points[t.Point].Name, PointIndex: t.Point, Source: "return"}
		if t.Point < len(points)-1 {
			n := t.Node
			j.Source, j.NodeID = "report", &n
		}
		if t.Err != nil {
			j.Error = t.Err.Error()
		} else {
			j.Trace = newJSONIOAM(t.Record, 0, d.delays(r, t.Record), d.Names)
		}
		out = append(out, j)
	}
	return out
}

// noStampTrace: a reply without the IOAM trace its test packet carried.
const noStampTrace = "the reply came without an IOAM trace: the reflector does not return it (srv6-agent: --stamp-reflect-ioam)"

// StampLines are the lines under a STAMP reply's line: the trace it came back with.
func (v *IOAMView) StampLines(p *stamp.Outcome) string {
	r := p.Reply
	if r == nil {
		return ""
	}
	var b strings.Builder
	switch {
	case r.IOAMErr != nil:
		fmt.Fprintf(&b, "  ioam: unreadable: %v\n", r.IOAMErr)
	case r.IOAM == nil:
		fmt.Fprintf(&b, "  ioam: %s\n", noStampTrace)
	default:
		v.writeEntries(&b, "  ", "ioam there and back: ", "entries", r.IOAM, v.Delays(r.IOAM, r.T1))
	}
	return b.String()
}

// StampJSON sets the ioam fields of a STAMP result.
func (v *IOAMView) StampJSON(p *stamp.Outcome, j *StampResult) {
	r := p.Reply
	switch {
	case r == nil:
	case r.IOAMErr != nil:
		j.IOAMError = r.IOAMErr.Error()
	case r.IOAM == nil:
		j.IOAMError = noStampTrace
	default:
		j.IOAM = newJSONIOAM(r.IOAM, 0, v.Delays(r.IOAM, r.T1), v.Names)
	}
}
