package output

import (
	"context"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/trace"
)

// The JSON forms of srv6-trace --json, documented in docs/json.md ("srv6-trace"). Durations are
// milliseconds as numbers; addresses are strings.

// TraceDocument is what srv6-trace --json prints once, at the end.
type TraceDocument struct {
	Command  string         `json:"command"`
	Version  int            `json:"version"`
	Mode     string         `json:"mode"` // "trace", "ecmp" or "per-segment"
	Target   TraceTarget    `json:"target"`
	Options  TraceOptions   `json:"options"`
	Hops     []TraceHop     `json:"hops,omitempty"`
	Branches []TraceBranch  `json:"branches,omitempty"`
	Segments []TraceSegment `json:"segments,omitempty"`
	Reached  bool           `json:"reached"`
	Probes   int            `json:"probes"`
	Flows    int            `json:"flows,omitempty"`
	// ElapsedMS is the wall time of the run.
	ElapsedMS float64         `json:"elapsed_ms"`
	Expect    *JSONValidation `json:"expect,omitempty"`
	// Timestamps is the run of timestamped probes of --per-segment --timestamps.
	Timestamps *JSONTimestamps `json:"timestamps,omitempty"`
	// AgentNextHops are the FIB next hops srv6-agent reported per SID (--agent-nexthops).
	AgentNextHops []TraceNextHops `json:"agent_nexthops,omitempty"`
	// AgentNextHopsError is why the next-hop step ended early (send error, interrupted wait).
	AgentNextHopsError string `json:"agent_nexthops_error,omitempty"`
}

// JSONTimestamps summarises the timestamped probes of --per-segment --timestamps; each
// segment's one-way delay is in its one_way, the way back to the prober in Return.
type JSONTimestamps struct {
	Session     uint32  `json:"session"`
	Transmitted int     `json:"transmitted"`
	Received    int     `json:"received"`
	SharedClock bool    `json:"shared_clock"`
	RTTP50MS    float64 `json:"rtt_p50_ms"`
	// Return is the segment from the final SID back to the prober.
	Return JSONOneWay `json:"return"`
}

// JSONOneWay is the one-way delay of one segment over the timestamped probes.
type JSONOneWay struct {
	From string `json:"from"`
	To   string `json:"to"`
	// State: "measured" (count > 0), "missing" (an end without End.OAM: "?" in text),
	// "unsync", "negative", "lost", or "none" (no probe crossed it).
	State string `json:"state"`
	Count int64  `json:"count"`
	// P50MS and P99MS are absent when nothing was measured; BoundMS (the largest error
	// bound) is absent with a shared clock.
	P50MS   *float64 `json:"p50_ms,omitempty"`
	P99MS   *float64 `json:"p99_ms,omitempty"`
	BoundMS *float64 `json:"bound_ms,omitempty"`
	Lost    int      `json:"lost"`
}

// TraceTarget says what was traced.
type TraceTarget struct {
	Destination string   `json:"destination"`
	Segments    []string `json:"segments"`
	Encoding    string   `json:"encoding"`
	Source      string   `json:"source"`
}

// TraceOptions echoes the options that shape the result.
type TraceOptions struct {
	FirstHop   int     `json:"first_hop"`
	MaxHops    int     `json:"max_hops"`
	Queries    int     `json:"queries"`
	WaitMS     float64 `json:"wait_ms"`
	FlowLabel  uint32  `json:"flow_label"`
	Identifier uint16  `json:"identifier"`
	// IOAM is the trace every probe carried (--ioam).
	IOAM *JSONIOAMOptions `json:"ioam,omitempty"`
}

// JSONIOAMOptions echoes --ioam: the namespace, the trace type by bit names, the entries
// pre-allocated, and what was said of the hops' clocks.
type JSONIOAMOptions struct {
	Namespace    uint16   `json:"namespace"`
	TraceType    []string `json:"trace_type"`
	Nodes        int      `json:"nodes"`
	ClockErrorMS *float64 `json:"clock_error_ms,omitempty"`
	SharedClock  bool     `json:"shared_clock"`
}

// TraceHop is one hop.
type TraceHop struct {
	TTL int `json:"ttl"`
	// Segment is the 1-based number of the segment being travelled (0: unknown), SegmentSID
	// that segment.
	Segment    int          `json:"segment"`
	SegmentSID string       `json:"segment_sid,omitempty"`
	SID        *JSONSID     `json:"sid,omitempty"`
	Probes     []TraceProbe `json:"probes"`
	// Destination is set when the final destination answered here.
	Destination bool `json:"destination"`
	// Decapsulated: from this hop on, the errors are about the probes' inner packet (to
	// DecapDst): the last SID decapsulated them.
	Decapsulated bool   `json:"decapsulated,omitempty"`
	DecapDst     string `json:"decapsulated_destination,omitempty"`
	// IOAM is what the hop's quoted IOAM trace says of it (--ioam).
	IOAM *JSONIOAM `json:"ioam,omitempty"`
}

// JSONSID marks the node that processed a SID at this hop.
type JSONSID struct {
	SID          string `json:"sid"`
	Behavior     string `json:"behavior,omitempty"`
	SegmentsLeft [2]int `json:"segments_left"` // before, after; -1: no SRH (a container, popped)
	// CSID is the C-SID of the container SID that the node consumed (NEXT-C-SID).
	CSID *JSONCSID `json:"csid,omitempty"`
	// SRHPopped: the SRH left the probe here (PSP).
	SRHPopped bool `json:"srh_popped,omitempty"`
}

// TraceProbe is one probe.
type TraceProbe struct {
	Flow     uint32   `json:"flow"`
	Answered bool     `json:"answered"`
	From     string   `json:"from,omitempty"`
	Name     string   `json:"name,omitempty"`
	RTTMS    *float64 `json:"rtt_ms,omitempty"`
	Kind     string   `json:"kind"`
	ICMPType uint8    `json:"icmp_type,omitempty"`
	ICMPCode uint8    `json:"icmp_code,omitempty"`
	Error    string   `json:"error,omitempty"`
	// QuotedSL is Segments Left in the SRH quoted by an error, absent when none; QuotedDst the
	// quoted destination address.
	QuotedSL  *int   `json:"quoted_segments_left,omitempty"`
	QuotedDst string `json:"quoted_destination,omitempty"`
	// Quote is the packet the error quoted, decoded (-v).
	Quote *JSONQuote `json:"quote,omitempty"`
}

// TraceBranch is one ECMP branch.
type TraceBranch struct {
	Flows []uint32   `json:"flows"`
	Hops  []TraceHop `json:"hops"`
}

// TraceSegment is one segment of --per-segment.
type TraceSegment struct {
	Index    int    `json:"index"` // 1-based
	SID      string `json:"sid"`
	Behavior string `json:"behavior,omitempty"`
	// CSID is, for a container of compressed SIDs, the C-SID this segment ends with (every
	// C-SID of a container is a segment of its own).
	CSID   *JSONCSID    `json:"csid,omitempty"`
	Method string       `json:"method"` // "loop" or "echo"
	Alive  bool         `json:"alive"`
	Probes []TraceProbe `json:"probes"`
	Error  string       `json:"error,omitempty"`
	// trace.OneWay is set with --timestamps.
	OneWay *JSONOneWay `json:"one_way,omitempty"`
}

// JSONValidation is the verdict of --expect.
type JSONValidation struct {
	OK    bool            `json:"ok"`
	Paths []JSONPathCheck `json:"paths"`
}

// JSONPathCheck is the check of one path.
type JSONPathCheck struct {
	Flows []uint32       `json:"flows"`
	OK    bool           `json:"ok"`
	Rows  []JSONCheckRow `json:"hops"`
}

// JSONCheckRow is one compared hop.
type JSONCheckRow struct {
	Expected string   `json:"expected"`
	Got      []string `json:"got"`
	OK       bool     `json:"ok"`
}

// NewJSONTarget describes the target.
func NewJSONTarget(t oam.Target, encoding, source string) TraceTarget {
	segs := make([]string, 0, len(t.Segments))
	for _, s := range t.Segments {
		segs = append(segs, s.String())
	}
	return TraceTarget{Destination: t.Destination.String(), Segments: segs, Encoding: encoding, Source: source}
}

// NewJSONOptions echoes opts.
func NewJSONOptions(o trace.Options) TraceOptions {
	j := TraceOptions{FirstHop: o.FirstHop, MaxHops: o.MaxHops, Queries: o.Queries, WaitMS: ms(o.Wait),
		FlowLabel: o.FlowLabel, Identifier: o.Identifier}
	if t := o.IOAM; t != nil {
		j.IOAM = &JSONIOAMOptions{Namespace: t.Namespace, TraceType: t.Type.Names(), Nodes: len(t.Data) / (4 * max(1, int(t.NodeLen))),
			SharedClock: o.IOAMSharedClock}
		if o.IOAMClock.Known {
			v := ms(o.IOAMClock.Error)
			j.IOAM.ClockErrorMS = &v
		}
	}
	return j
}

func jsonProbes(ctx context.Context, ps []trace.Probe, names *Names) []TraceProbe {
	out := make([]TraceProbe, 0, len(ps))
	for _, p := range ps {
		j := TraceProbe{Flow: p.Flow, Answered: p.Answered, Kind: p.Kind.String(), Error: p.Error}
		if p.Answered {
			j.From = p.From.String()
			j.Name = names.Name(ctx, p.From)
			v := ms(p.RTT)
			j.RTTMS = &v
			j.ICMPType, j.ICMPCode = p.ICMPType, p.ICMPCode
		}
		if p.QuotedSL >= 0 {
			v := p.QuotedSL
			j.QuotedSL = &v
		}
		if p.At.Dst.IsValid() {
			j.QuotedDst = p.At.Dst.String()
		}
		if p.Quote != nil {
			j.Quote = DecodeQuote(p.Quote)
		}
		out = append(out, j)
	}
	return out
}

func jsonHops(ctx context.Context, path oam.SegmentList, hops []trace.Hop, names *Names) []TraceHop {
	out := make([]TraceHop, 0, len(hops))
	for _, h := range hops {
		j := TraceHop{TTL: h.TTL, Probes: jsonProbes(ctx, h.Probes, names), Destination: h.Destination, Decapsulated: h.Decapsulated,
			IOAM: jsonIOAM(&h, names)}
		if h.Decapsulated {
			j.DecapDst = h.Decap.String()
		}
		if h.Segment >= 0 && h.Segment < len(path) {
			j.Segment, j.SegmentSID = h.Segment+1, path[h.Segment].String()
		}
		if h.SID {
			j.SID = &JSONSID{SID: h.SIDAddr.String(), Behavior: names.Behavior(h.SIDAddr), SegmentsLeft: [2]int{h.SLBefore, h.SLAfter},
				SRHPopped: h.Popped}
			if h.CSID >= 0 {
				s := h.Structure
				j.SID.CSID = &JSONCSID{Index: h.CSID, Value: s.FormatCSID(h.CSIDValue), Address: s.CSIDAddr(s.Block(h.SIDAddr), h.CSIDValue).String()}
			}
		}
		out = append(out, j)
	}
	return out
}

// NewTraceDocument renders a report (and, when not nil, the --expect verdict).
func NewTraceDocument(ctx context.Context, rep *trace.Report, opts trace.Options, encoding string, names *Names, v *Validation) TraceDocument {
	names.PrefetchNames(ctx, rep)
	d := TraceDocument{Command: "srv6-trace", Version: 1, Mode: "trace",
		Target:  NewJSONTarget(rep.Target, encoding, rep.Source.String()),
		Options: NewJSONOptions(opts), Reached: rep.Reached, Probes: rep.Probes, ElapsedMS: ms(rep.Elapsed)}
	if len(rep.Branches) > 0 {
		d.Mode, d.Flows = "ecmp", rep.Flows
		for _, b := range rep.Branches {
			d.Branches = append(d.Branches, TraceBranch{Flows: b.Flows, Hops: jsonHops(ctx, rep.Path, b.Hops, names)})
		}
	} else {
		d.Hops = jsonHops(ctx, rep.Path, rep.Hops, names)
	}
	if rep.NextHops != nil {
		var mda *trace.Report
		if len(rep.Branches) > 0 {
			mda = rep
		}
		d.AgentNextHops = NewTraceNextHops(rep.NextHops, mda)
	}
	if rep.NextHopsErr != nil {
		d.AgentNextHopsError = rep.NextHopsErr.Error()
	}
	if v != nil {
		jv := &JSONValidation{OK: v.OK}
		for _, pc := range v.Paths {
			jp := JSONPathCheck{Flows: pc.Flows, OK: pc.OK}
			for _, r := range pc.Rows {
				got := r.Got
				if got == nil {
					got = []string{}
				}
				jp.Rows = append(jp.Rows, JSONCheckRow{Expected: r.Expected, Got: got, OK: r.OK})
			}
			jv.Paths = append(jv.Paths, jp)
		}
		d.Expect = jv
	}
	return d
}
