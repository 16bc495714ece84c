package delay

import (
	"errors"
	"fmt"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/probes"
)

// maxCapture is the most an agent's report can capture of a probe (the Probe TLV's capture
// length is one octet).
const maxCapture = 255

// IOAMTrace is a probe's IOAM trace as one point of its path saw it.
type IOAMTrace struct {
	// Point is the index in Prober.Points: an End.OAM node (from its agent's report, the trace
	// as the probe reached the node: the node's own entry is there when its ingress has IOAM
	// enabled) or the final point (the probe that came back: the whole trace).
	Point int
	// Node is the reporting agent's node id (0 for the final point).
	Node uint32
	// Record is the decoded trace; nil when Err says why there is none.
	Record *ioam.Record
	Err    error
}

// errNoTrace: the probe came back, or reached a node, without the trace it was sent with.
var errNoTrace = errors.New("no IOAM trace: the Hop-by-Hop header did not come along")

// returnTrace keeps the trace probe seq came back with.
func (p *Prober) returnTrace(seq uint32, hbh []byte) {
	if p.opts.IOAM == nil {
		return
	}
	t := IOAMTrace{Point: len(p.points) - 1, Err: errNoTrace}
	if hbh != nil {
		t.Record, t.Err = traceOf(hbh)
	}
	p.keepTrace(seq, t)
}

// recordTrace keeps the trace an End.OAM node's report captured, when the record is of one of
// this prober's points.
func (p *Prober) recordTrace(node uint32, rec *oam.ReportRecord) {
	if p.opts.IOAM == nil || rec.Session != p.opts.Session {
		return
	}
	pt := -1
	for i, q := range p.points {
		if q.WireIndex == int(rec.SegmentsLeft)+1 && q.SID == rec.SID && i > 0 && i < len(p.points)-1 {
			pt = i
			break
		}
	}
	if pt < 0 {
		return
	}
	if rec.Capture == nil {
		// The agent sent no capture: its collector is not trusted for them, or the trace was
		// too large to capture (ReportsCarryIOAM).
		return
	}
	t := IOAMTrace{Point: pt, Node: node}
	t.Record, t.Err = captureTrace(rec.Capture)
	p.keepTrace(rec.Sequence, t)
}

// keepTrace stores t for probe seq while the probe is unresolved, in point order (a point's
// second trace of one probe, a duplicate, is not kept).
func (p *Prober) keepTrace(seq uint32, t IOAMTrace) {
	if seq <= p.resolved || seq >= p.next {
		return
	}
	if p.traces == nil {
		p.traces = make(map[uint32][]IOAMTrace)
	}
	ts := p.traces[seq]
	i := 0
	for i < len(ts) && ts[i].Point < t.Point {
		i++
	}
	if i < len(ts) && ts[i].Point == t.Point {
		return
	}
	p.traces[seq] = append(ts[:i], append([]IOAMTrace{t}, ts[i:]...)...)
}

// takeTraces hands over the traces of probe seq, which is being resolved.
func (p *Prober) takeTraces(seq uint32) []IOAMTrace {
	p.resolved = max(p.resolved, seq)
	ts := p.traces[seq]
	delete(p.traces, seq)
	return ts
}

// traceOf decodes the IOAM trace of a Hop-by-Hop header.
func traceOf(hbh []byte) (*ioam.Record, error) {
	rec, err := probes.QuotedIOAM(hbh)
	if rec == nil && err == nil {
		return nil, errNoTrace
	}
	return rec, err
}

// captureTrace decodes the IOAM trace of a report's capture: the probe's first bytes, from its
// IPv6 header, as the node received it.
func captureTrace(b []byte) (*ioam.Record, error) {
	if len(b) < 40 || b[0]>>4 != 6 {
		return nil, fmt.Errorf("capture of %d bytes: not an IPv6 header", len(b))
	}
	if b[6] != 0 {
		return nil, errNoTrace
	}
	b = b[40:]
	if len(b) < 2 || len(b) < 8*(int(b[1])+1) {
		return nil, fmt.Errorf("capture: the Hop-by-Hop header is cut (%d bytes captured)", len(b))
	}
	return traceOf(b[:8*(int(b[1])+1)])
}
