package trace

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
)

// SegmentStatus is what per-segment probing found for one prefix of the segment list.
type SegmentStatus struct {
	// Index of the segment in the path (0 = first), and the segment.
	Index int
	SID   netip.Addr
	// CSID is, for a container of compressed SIDs, the position of the C-SID this prefix ends
	// with, CSIDValue that C-SID, CSIDAddr the C-SID on its own (block, C-SID, zeros); -1 for a
	// whole SID. Every C-SID of a container is a segment of its own here.
	CSID      int
	CSIDValue uint64
	CSIDAddr  netip.Addr
	Structure oam.SIDStructure
	// Loop is set when the probe looped back to the prober after the SID (every segment but the
	// destination); the destination itself, and a decapsulating final SID, are probed with an
	// ordinary echo through the whole list.
	Loop bool
	// Alive is set when at least one probe came back with an Echo Reply.
	Alive  bool
	Probes []Probe
	// Error is the first ICMPv6 error a probe got instead of a reply ("Destination
	// unreachable: No route from fd00:0:0:2::2"), empty when none.
	Error string
}

// PerSegment probes each prefix of the segment list: for segment i (not the destination) a probe
// visits segments 1..i and then the prober's own address as the final segment, so that the
// prober decapsulates its own echo and answers it; the round trip is the loop through that
// prefix. Linux drops a packet that reaches an End SID with Segments Left 0, so an echo
// addressed to the SID itself would never be answered; the loop needs nothing from the SID but
// its End behaviour, and works in every encoding. The destination is probed with an ordinary
// echo through the whole list; so is a decapsulating last SID (target.Decap), whose table a
// loop back to the prober would not reach. A container of compressed SIDs (opts.Structure)
// counts as one segment per C-SID: the prefix ending with C-SID k is the container cut after
// it, which its node, finding no C-SID after its own, processes as End (NEXT-C-SID falls back
// to the SRH). opts.Queries probes per segment, all in one batch.
//
// With opts.LoopDestination the destination is probed with a loop too (for a destination that
// is itself a SID, such as an End.OAM SID: Linux answers no echo addressed to a SID). This
// function measures round trips; OneWayDelays adds the one-way delay of each segment where the
// nodes run srv6-agent.
func PerSegment(ctx context.Context, target oam.Target, opts Options) ([]SegmentStatus, netip.Addr, error) {
	rep, err := RunPerSegment(ctx, target, opts, nil)
	if rep == nil {
		return nil, netip.Addr{}, err
	}
	return rep.Segments, rep.Source, err
}

// PerSegmentReport is what per-segment probing found: one status per segment of the path, and
// the source address of the probes (the loops' final segment).
type PerSegmentReport struct {
	Source   netip.Addr
	Segments []SegmentStatus
}

// RunPerSegment implements probes.ProbeFunc for per-segment probing.
var _ probes.ProbeFunc[Options, Probe, *PerSegmentReport] = RunPerSegment

// RunPerSegment is PerSegment in the engine shape: each probe goes to emit as it is answered or
// given up (Probe.Segment says which prefix it looped through; nil emit: none).
func RunPerSegment(ctx context.Context, target oam.Target, opts Options, emit func(Probe)) (*PerSegmentReport, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(target.Segments) == 0 {
		return nil, errors.New("per-segment probing needs a segment list")
	}
	src, err := probes.SourceFor(ctx, target.FirstHop(), opts.Interface)
	if err != nil {
		return nil, fmt.Errorf("first segment: %w", err)
	}
	if opts.Source.IsValid() {
		src = opts.Source
	}
	steps := perSegmentSteps(target, opts, src)
	var templates []template
	for _, st := range steps {
		tmpl, err := newTemplate(st.probe, src, opts)
		if err != nil {
			return &PerSegmentReport{Source: src}, fmt.Errorf("segment %d (%s): %w", st.status.Index+1, st.status.SID, err)
		}
		templates = append(templates, tmpl)
	}
	conn, err := probes.Dial(probes.Config{Interface: opts.Interface, TxTimestamps: true, Tap: opts.Tap})
	if err != nil {
		return &PerSegmentReport{Source: src}, err
	}
	eng := newEngine(conn, opts.Identifier, templates, opts.SendInterval)
	eng.emit = emit
	defer eng.close()
	var specs []probeSpec
	for q := 0; q < opts.Queries; q++ {
		for i := range templates {
			specs = append(specs, probeSpec{template: i, hopLimit: 64, flow: opts.FlowLabel, query: q})
		}
	}
	out, err := eng.batch(ctx, specs, waits{max: opts.Wait, here: opts.WaitHere, near: opts.WaitNear}, nil, nil)
	if err != nil {
		return &PerSegmentReport{Source: src}, err
	}
	status := make([]SegmentStatus, len(steps))
	for i := range steps {
		status[i] = steps[i].status
	}
	for _, o := range out {
		s := &status[o.spec.template]
		p := Probe{Flow: o.spec.flow, Answered: o.answered, Kind: oam.KindTimeout, QuotedSL: o.quotedSL, At: o.at}
		if o.answered {
			p.From, p.RTT, p.Kind, p.ICMPType, p.ICMPCode = o.from, o.rtt(), o.kind, o.icmpType, o.icmpCode
			if o.kind == oam.KindReply {
				s.Alive = true
			} else {
				p.Error = probes.DescribeError(o.icmpType, o.icmpCode, o.info)
				if s.Error == "" {
					s.Error = p.Error + " from " + o.from.String()
					if o.at.Popped && o.icmpType == probes.ICMPv6ParamProblem && opts.Encoding.Encapsulates() {
						s.Error += ": the SRH was popped on the way (PSP), and the bare IPv6-in-IPv6 left is not decapsulated there; --insert probes have no outer header to strand"
					}
				}
			}
		}
		s.Probes = append(s.Probes, p)
	}
	return &PerSegmentReport{Source: src, Segments: status}, ctx.Err()
}

// step is one probe target of per-segment probing and the status it fills.
type step struct {
	probe  oam.Target
	status SegmentStatus
}

// perSegmentSteps lists what per-segment probing sends: a loop back to src through each prefix
// of the path (each C-SID of a container a prefix of its own), and the destination or a
// decapsulating last SID probed through the whole list.
func perSegmentSteps(target oam.Target, opts Options, src netip.Addr) []step {
	path := target.Path()
	s := opts.Structure
	var out []step
	loop := func(prefix oam.SegmentList, st SegmentStatus) {
		st.Loop = true
		out = append(out, step{probe: oam.Target{Segments: append(oam.SegmentList(nil), prefix...), Destination: src}, status: st})
	}
	for i, seg := range path {
		last := i == len(path)-1
		whole := SegmentStatus{Index: i, SID: seg, CSID: -1}
		if s.IsZero() || !s.IsContainer(seg) {
			switch {
			case !last || (opts.LoopDestination && !target.Decap):
				loop(append(append(oam.SegmentList(nil), path[:i]...), seg), whole)
			default:
				out = append(out, step{probe: target, status: whole})
			}
			continue
		}
		csids := s.CSIDs(seg)
		block := s.Block(seg)
		for k := range csids {
			st := SegmentStatus{Index: i, SID: seg, CSID: k, CSIDValue: csids[k], CSIDAddr: s.CSIDAddr(block, csids[k]), Structure: s}
			if last && k == len(csids)-1 && (target.Decap || !opts.LoopDestination) {
				out = append(out, step{probe: target, status: st})
				continue
			}
			cut, _ := s.Container(block, csids[:k+1])
			loop(append(append(oam.SegmentList(nil), path[:i]...), cut), st)
		}
	}
	return out
}
