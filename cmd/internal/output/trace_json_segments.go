package output

import (
	"context"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes/trace"
)

// NewTracePerSegment renders --per-segment results.
func NewTracePerSegment(ctx context.Context, target oam.Target, opts trace.Options, encoding string, source string,
	status []trace.SegmentStatus, names *Names, elapsed time.Duration, probes int) TraceDocument {
	return NewTracePerSegmentDocument(ctx, target, opts, encoding, source, status, nil, names, elapsed, probes)
}

// NewTracePerSegmentDocument renders --per-segment results with the one-way delays of
// --timestamps (w nil: none).
func NewTracePerSegmentDocument(ctx context.Context, target oam.Target, opts trace.Options, encoding string, source string,
	status []trace.SegmentStatus, w *trace.OneWay, names *Names, elapsed time.Duration, probes int) TraceDocument {
	d := TraceDocument{Command: "srv6-trace", Version: 1, Mode: "per-segment",
		Target:  NewJSONTarget(target, encoding, source),
		Options: NewJSONOptions(opts), Reached: true, Probes: probes, ElapsedMS: ms(elapsed)}
	for _, s := range status {
		method := "loop"
		if !s.Loop {
			method = "echo"
		}
		js := TraceSegment{Index: s.Index + 1, SID: s.SID.String(), Behavior: names.Behavior(s.SID),
			Method: method, Alive: s.Alive, Probes: jsonProbes(ctx, s.Probes, names), Error: s.Error}
		if s.CSID >= 0 {
			js.CSID = &JSONCSID{Index: s.CSID, Value: s.Structure.FormatCSID(s.CSIDValue), Address: s.CSIDAddr.String()}
			js.Behavior = names.Behavior(s.CSIDAddr)
		}
		if seg, ok := w.Segment(s.Index); ok {
			j := jsonOneWay(seg, w.Summary.SharedClock)
			js.OneWay = &j
		}
		d.Segments = append(d.Segments, js)
		d.Reached = d.Reached && s.Alive
	}
	if w != nil {
		sum := w.Summary
		t := &JSONTimestamps{Session: sum.Session, Transmitted: sum.Transmitted, Received: sum.Received,
			SharedClock: sum.SharedClock, RTTP50MS: ms(sum.RTT.P50)}
		if seg, ok := w.Segment(len(status)); ok {
			t.Return = jsonOneWay(seg, sum.SharedClock)
		}
		d.Timestamps = t
	}
	return d
}

func jsonOneWay(s collect.SegmentSummary, shared bool) JSONOneWay {
	j := JSONOneWay{From: s.From, To: s.To, Count: s.Delay.Count, Lost: s.Lost}
	switch {
	case s.Delay.Count > 0:
		j.State = "measured"
		j.P50MS, j.P99MS = msp(ms(s.Delay.P50)), msp(ms(s.Delay.P99))
		if !shared {
			j.BoundMS = msp(ms(s.MaxBound))
		}
	case s.Unsynchronised > 0:
		j.State = "unsync"
	case s.Negative > 0:
		j.State = "negative"
	case s.Crossed == 0 && s.Lost > 0:
		j.State = "lost"
	case s.Missing > 0:
		j.State = "missing"
	default:
		j.State = "none"
	}
	return j
}
