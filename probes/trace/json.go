package trace

import (
	"context"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
)

// The JSON forms of srv6-trace --json, documented in docs/json.md ("srv6-trace"). Durations are
// milliseconds as numbers; addresses are strings.

// JSONDocument is what srv6-trace --json prints once, at the end.
type JSONDocument struct {
	Command  string        `json:"command"`
	Version  int           `json:"version"`
	Mode     string        `json:"mode"` // "trace", "ecmp" or "per-segment"
	Target   JSONTarget    `json:"target"`
	Options  JSONOptions   `json:"options"`
	Hops     []JSONHop     `json:"hops,omitempty"`
	Branches []JSONBranch  `json:"branches,omitempty"`
	Segments []JSONSegment `json:"segments,omitempty"`
	Reached  bool          `json:"reached"`
	Probes   int           `json:"probes"`
	Flows    int           `json:"flows,omitempty"`
	// ElapsedMS is the wall time of the run.
	ElapsedMS float64         `json:"elapsed_ms"`
	Expect    *JSONValidation `json:"expect,omitempty"`
	// Timestamps is the run of timestamped probes of --per-segment --timestamps.
	Timestamps *JSONTimestamps `json:"timestamps,omitempty"`
	// AgentNextHops are the FIB next hops srv6-agent reported per SID (--agent-nexthops).
	AgentNextHops []JSONNextHops `json:"agent_nexthops,omitempty"`
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

// JSONTarget says what was traced.
type JSONTarget struct {
	Destination string   `json:"destination"`
	Segments    []string `json:"segments"`
	Encoding    string   `json:"encoding"`
	Source      string   `json:"source"`
}

// JSONOptions echoes the options that shape the result.
type JSONOptions struct {
	FirstHop   int     `json:"first_hop"`
	MaxHops    int     `json:"max_hops"`
	Queries    int     `json:"queries"`
	WaitMS     float64 `json:"wait_ms"`
	FlowLabel  uint32  `json:"flow_label"`
	Identifier uint16  `json:"identifier"`
}

// JSONHop is one hop.
type JSONHop struct {
	TTL int `json:"ttl"`
	// Segment is the 1-based number of the segment being travelled (0: unknown), SegmentSID
	// that segment.
	Segment    int         `json:"segment"`
	SegmentSID string      `json:"segment_sid,omitempty"`
	SID        *JSONSID    `json:"sid,omitempty"`
	Probes     []JSONProbe `json:"probes"`
	// Destination is set when the final destination answered here.
	Destination bool `json:"destination"`
}

// JSONSID marks the node that processed a SID at this hop.
type JSONSID struct {
	SID          string `json:"sid"`
	Behavior     string `json:"behavior,omitempty"`
	SegmentsLeft [2]int `json:"segments_left"` // before, after
}

// JSONProbe is one probe.
type JSONProbe struct {
	Flow     uint32   `json:"flow"`
	Answered bool     `json:"answered"`
	From     string   `json:"from,omitempty"`
	Name     string   `json:"name,omitempty"`
	RTTMS    *float64 `json:"rtt_ms,omitempty"`
	Kind     string   `json:"kind"`
	ICMPType uint8    `json:"icmp_type,omitempty"`
	ICMPCode uint8    `json:"icmp_code,omitempty"`
	Error    string   `json:"error,omitempty"`
	// QuotedSL is Segments Left in the SRH quoted by an error, absent when none.
	QuotedSL *int `json:"quoted_segments_left,omitempty"`
}

// JSONBranch is one ECMP branch.
type JSONBranch struct {
	Flows []uint32  `json:"flows"`
	Hops  []JSONHop `json:"hops"`
}

// JSONSegment is one segment of --per-segment.
type JSONSegment struct {
	Index    int         `json:"index"` // 1-based
	SID      string      `json:"sid"`
	Behavior string      `json:"behavior,omitempty"`
	Method   string      `json:"method"` // "loop" or "echo"
	Alive    bool        `json:"alive"`
	Probes   []JSONProbe `json:"probes"`
	Error    string      `json:"error,omitempty"`
	// OneWay is set with --timestamps.
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

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// NewJSONTarget describes the target.
func NewJSONTarget(t oam.Target, encoding, source string) JSONTarget {
	segs := make([]string, 0, len(t.Segments))
	for _, s := range t.Segments {
		segs = append(segs, s.String())
	}
	return JSONTarget{Destination: t.Destination.String(), Segments: segs, Encoding: encoding, Source: source}
}

// NewJSONOptions echoes opts.
func NewJSONOptions(o Options) JSONOptions {
	return JSONOptions{FirstHop: o.FirstHop, MaxHops: o.MaxHops, Queries: o.Queries, WaitMS: ms(o.Wait),
		FlowLabel: o.FlowLabel, Identifier: o.Identifier}
}

func jsonProbes(ctx context.Context, ps []Probe, names *Names) []JSONProbe {
	out := make([]JSONProbe, 0, len(ps))
	for _, p := range ps {
		j := JSONProbe{Flow: p.Flow, Answered: p.Answered, Kind: p.Kind.String(), Error: p.Error}
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
		out = append(out, j)
	}
	return out
}

func jsonHops(ctx context.Context, path oam.SegmentList, hops []Hop, names *Names) []JSONHop {
	out := make([]JSONHop, 0, len(hops))
	for _, h := range hops {
		j := JSONHop{TTL: h.TTL, Probes: jsonProbes(ctx, h.Probes, names), Destination: h.Destination}
		if h.Segment >= 0 && h.Segment < len(path) {
			j.Segment, j.SegmentSID = h.Segment+1, path[h.Segment].String()
		}
		if h.SID {
			j.SID = &JSONSID{SID: h.SIDAddr.String(), Behavior: names.Behavior(h.SIDAddr), SegmentsLeft: [2]int{h.SLBefore, h.SLAfter}}
		}
		out = append(out, j)
	}
	return out
}

// NewJSONDocument renders a report (and, when not nil, the --expect verdict).
func NewJSONDocument(ctx context.Context, rep *Report, opts Options, encoding string, names *Names, v *Validation) JSONDocument {
	names.PrefetchNames(ctx, rep)
	d := JSONDocument{Command: "srv6-trace", Version: 1, Mode: "trace",
		Target:  NewJSONTarget(rep.Target, encoding, rep.Source.String()),
		Options: NewJSONOptions(opts), Reached: rep.Reached, Probes: rep.Probes, ElapsedMS: ms(rep.Elapsed)}
	if len(rep.Branches) > 0 {
		d.Mode, d.Flows = "ecmp", rep.Flows
		for _, b := range rep.Branches {
			d.Branches = append(d.Branches, JSONBranch{Flows: b.Flows, Hops: jsonHops(ctx, rep.Path, b.Hops, names)})
		}
	} else {
		d.Hops = jsonHops(ctx, rep.Path, rep.Hops, names)
	}
	if rep.NextHops != nil {
		var mda *Report
		if len(rep.Branches) > 0 {
			mda = rep
		}
		d.AgentNextHops = NewJSONNextHops(rep.NextHops, mda)
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

// NewJSONPerSegment renders --per-segment results.
func NewJSONPerSegment(ctx context.Context, target oam.Target, opts Options, encoding string, source string,
	status []SegmentStatus, names *Names, elapsed time.Duration, probes int) JSONDocument {
	return NewJSONPerSegmentOneWay(ctx, target, opts, encoding, source, status, nil, names, elapsed, probes)
}

// NewJSONPerSegmentOneWay renders --per-segment results with the one-way delays of
// --timestamps (w nil: none).
func NewJSONPerSegmentOneWay(ctx context.Context, target oam.Target, opts Options, encoding string, source string,
	status []SegmentStatus, w *OneWay, names *Names, elapsed time.Duration, probes int) JSONDocument {
	d := JSONDocument{Command: "srv6-trace", Version: 1, Mode: "per-segment",
		Target:  NewJSONTarget(target, encoding, source),
		Options: NewJSONOptions(opts), Reached: true, Probes: probes, ElapsedMS: ms(elapsed)}
	for _, s := range status {
		method := "loop"
		if !s.Loop {
			method = "echo"
		}
		js := JSONSegment{Index: s.Index + 1, SID: s.SID.String(), Behavior: names.Behavior(s.SID),
			Method: method, Alive: s.Alive, Probes: jsonProbes(ctx, s.Probes, names), Error: s.Error}
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
		j.P50MS, j.P99MS = msOf(s.Delay.P50), msOf(s.Delay.P99)
		if !shared {
			j.BoundMS = msOf(s.MaxBound)
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
