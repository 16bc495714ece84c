package trace

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
)

// Path MTU along a segment list, as tracepath finds it for a plain path but per segment: the
// probes are the trace's echo requests padded to a size, sent with the full hop limit. A hop
// whose next link is too small answers with Packet Too Big, which names the MTU and quotes the
// probe's SRH (so the segment it was travelling); the size drops to it and the probe goes again.
// Where big probes vanish without a word (a blackhole: Packet Too Big filtered, or a link that
// drops them), a binary search of sizes finds the largest that still crosses, and probes of the
// smallest that does not, sent with growing hop limits, find the last hop they reach.

// MinMTU is IPv6's minimum link MTU (RFC 8200): every path carries packets of this size.
const MinMTU = 1280

// PMTUOptions configure PathMTU.
type PMTUOptions struct {
	// Options of the probes (Queries: tries per size, default 2; Wait as a trace's).
	Options
	// Max is the largest size tried; 0: the MTU of the route toward the first segment.
	Max int
}

// MTUHop is a hop that limited the path: its Packet Too Big, or where probes vanished.
type MTUHop struct {
	// TTL of the hop in the trace of small probes (0 when it answered none of them); From the
	// address that sent the Packet Too Big (invalid for a blackhole).
	TTL  int
	From netip.Addr
	// Segment is the index in the path of the segment the probe was travelling (-1: unknown).
	Segment int
	// MTU the hop reported (Packet Too Big), or for a blackhole the largest size that crossed.
	MTU int
	// Size of the probe that found it.
	Size int
	// Blackhole: probes of Size vanished without a Packet Too Big; After is the last hop they
	// reached (its TTL, 0: not even the first), found with hop-limited probes of that size.
	Blackhole bool
	After     int
}

// SegmentMTU is what the discovery knows of one segment.
type SegmentMTU struct {
	Index int
	SID   netip.Addr // the segment's end: the SID (or the destination) it leads to
	// MTU is the smallest MTU found inside the segment (Packet Too Big or blackhole), 0 when
	// none: then Crossed is a lower bound.
	MTU int
	// Crossed is the largest probe known to have crossed the segment whole (0: none did).
	Crossed int
	// Hops that limited the segment.
	Hops []MTUHop
}

// PMTUReport is the result of PathMTU.
type PMTUReport struct {
	Target oam.Target
	Source netip.Addr
	Path   oam.SegmentList
	// Start is the first size tried (the route's MTU, or Max).
	Start int
	// PathMTU is the largest probe that reached the destination, 0 when none did.
	PathMTU int
	// Hops that limited the path, in the order found.
	Hops []MTUHop
	// Segments, one per segment of the path.
	Segments []SegmentMTU
	// Trace is the trace of small probes that mapped the hops to segments.
	Trace *Report
	// Probes sent, sizes tried, wall time.
	Probes  int
	Tries   []SizeTry
	Elapsed time.Duration
}

// SizeTry is one size tried and what came of it.
type SizeTry struct {
	Size int
	// Outcome is one of the Try constants (TryTooBig: MTU and From set); TTL is the hop of
	// From in the trace of small probes (0 when it answered none).
	Outcome string
	TTL     int
	MTU     int
	From    netip.Addr
	Segment int
}

// Outcomes of a size tried (SizeTry.Outcome), as srv6-trace --pmtu --json spells them.
const (
	TryReached  = "reached"  // the destination answered
	TryTooBig   = "too_big"  // a hop answered Packet Too Big
	TrySilent   = "silent"   // nothing came back
	TryExceeded = "exceeded" // Time Exceeded (a hop-limited try of the blackhole search)
	TryError    = "error"    // another ICMPv6 error
)

// PathMTU finds the path MTU of target, per segment.
func PathMTU(ctx context.Context, target oam.Target, opts PMTUOptions) (*PMTUReport, error) {
	return pathMTU(ctx, target, opts, func(o Options) (*Tracer, error) { return New(ctx, target, o) },
		func() (int, error) { return probes.RouteMTU(ctx, target.FirstHop(), opts.Interface) })
}

// PathMTUOn is PathMTU on the connections dial opens, one per size tried, with routeMTU the
// size to start from: the seam that lets it run on a scripted network (probes/probetest).
// opts.Source must be set.
func PathMTUOn(ctx context.Context, dial func() probes.PacketConn, routeMTU int, target oam.Target, opts PMTUOptions) (*PMTUReport, error) {
	return pathMTU(ctx, target, opts, func(o Options) (*Tracer, error) { return NewOn(dial(), target, o) },
		func() (int, error) { return routeMTU, nil })
}

func pathMTU(ctx context.Context, target oam.Target, opts PMTUOptions, newTracer func(Options) (*Tracer, error), routeMTU func() (int, error)) (*PMTUReport, error) {
	start := time.Now()
	o, err := opts.Options.withDefaults()
	if err != nil {
		return nil, err
	}
	if opts.Options.Queries == 0 {
		o.Queries = 2
	}
	o.Size, o.ECMP, o.AgentNextHops = 0, false, false
	rep := &PMTUReport{Target: target, Path: target.Path()}
	// The hops, their segments and round trips: a trace of small probes.
	t0, err := newTracer(o)
	if err != nil {
		return nil, err
	}
	tr, err := t0.Run(ctx)
	if err != nil {
		return nil, err
	}
	rep.Trace, rep.Source, rep.Probes = tr, tr.Source, tr.Probes
	o.Source = tr.Source
	// This host cannot send more than its route's MTU (a larger crafted packet is refused).
	if rep.Start, err = routeMTU(); err != nil {
		return nil, err
	}
	if opts.Max > 0 {
		if opts.Max < MinMTU {
			return nil, fmt.Errorf("largest size %d: below IPv6's minimum MTU %d", opts.Max, MinMTU)
		}
		rep.Start = min(rep.Start, opts.Max)
	}
	// Give a probe up by the round trips the small probes saw (NEAR rule), not after -w MAX.
	if rtt := worstRTT(tr); rtt > 0 && o.WaitNear > 0 {
		o.Wait = min(o.Wait, max(time.Duration(o.WaitNear*float64(rtt)), 50*time.Millisecond))
	}
	d := &discovery{ctx: ctx, target: target, opts: o, rep: rep, newTracer: newTracer}
	crossed := make([]int, len(rep.Path)) // per segment, the largest size known to cross it
	size := rep.Start
	for ctx.Err() == nil {
		t, err := d.try(size, 64)
		if err != nil {
			return nil, err
		}
		rep.Tries = append(rep.Tries, t)
		switch t.Outcome {
		case TryReached:
			rep.PathMTU = size
			for i := range crossed {
				crossed[i] = max(crossed[i], size)
			}
		case TryTooBig:
			h := MTUHop{TTL: t.TTL, From: t.From, Segment: t.Segment, MTU: t.MTU, Size: size}
			rep.Hops = append(rep.Hops, h)
			for i := 0; i < t.Segment && i < len(crossed); i++ {
				crossed[i] = max(crossed[i], size)
			}
			if t.MTU >= size || t.MTU < MinMTU {
				return nil, fmt.Errorf("%s said Packet Too Big with MTU %d for a probe of %d bytes: not a smaller size to try", t.From, t.MTU, size)
			}
			size = t.MTU
			continue
		case TrySilent:
			h, err := d.blackhole(size, crossed)
			if err != nil {
				return nil, err
			}
			if h != nil {
				// The search ended on the largest size that reached the destination.
				rep.Hops = append(rep.Hops, *h)
				rep.PathMTU = h.MTU
				for i := range crossed {
					crossed[i] = max(crossed[i], h.MTU)
				}
			}
		}
		break
	}
	rep.Segments = make([]SegmentMTU, len(rep.Path))
	for i, sid := range rep.Path {
		rep.Segments[i] = SegmentMTU{Index: i, SID: sid, Crossed: crossed[i]}
	}
	for _, h := range rep.Hops {
		if h.Segment >= 0 && h.Segment < len(rep.Segments) {
			s := &rep.Segments[h.Segment]
			s.Hops = append(s.Hops, h)
			if s.MTU == 0 || h.MTU < s.MTU {
				s.MTU = h.MTU
			}
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, ctx.Err()
}

// worstRTT is the longest round trip of the trace's answers.
func worstRTT(r *Report) time.Duration {
	var w time.Duration
	for _, h := range r.Hops {
		for _, p := range h.Probes {
			if p.Answered {
				w = max(w, p.RTT)
			}
		}
	}
	return w
}

// ttlOf is the hop of the trace that answered from a, 0 when none did.
func ttlOf(r *Report, a netip.Addr) int {
	for _, h := range r.Hops {
		for _, p := range h.Probes {
			if p.Answered && p.From == a {
				return h.TTL
			}
		}
	}
	return 0
}

type discovery struct {
	ctx       context.Context
	target    oam.Target
	opts      Options
	rep       *PMTUReport
	newTracer func(Options) (*Tracer, error)
}

// try sends probes of size with hop limit ttl (Queries of them) and says what came back.
func (d *discovery) try(size, ttl int) (SizeTry, error) {
	o := d.opts
	o.Size, o.FirstHop, o.MaxHops, o.NoRetry = size, ttl, ttl, true
	t, err := d.newTracer(o)
	if err != nil {
		return SizeTry{}, err
	}
	rep, err := t.Run(d.ctx)
	if rep != nil {
		d.rep.Probes += rep.Probes
	}
	st := SizeTry{Size: size, Outcome: TrySilent, Segment: -1}
	if errors.Is(err, syscall.EMSGSIZE) {
		return st, fmt.Errorf("probe of %d bytes: larger than this host's link toward %s: %w", size, d.target.FirstHop(), err)
	}
	if err != nil {
		return st, err
	}
	for _, h := range rep.Hops {
		for _, p := range h.Probes {
			switch {
			case !p.Answered:
			case p.Kind == oam.KindReply:
				st.Outcome = TryReached
				return st, nil
			case p.MTU > 0:
				st.Outcome, st.MTU, st.From, st.Segment = TryTooBig, p.MTU, p.From, p.At.Index
				st.TTL = ttlOf(d.rep.Trace, p.From)
				return st, nil
			case p.Kind == oam.KindError && p.ICMPType != probes.ICMPv6TimeExceeded:
				st.Outcome = TryError
				return st, fmt.Errorf("probe of %d bytes: %s from %s", size, p.Error, p.From)
			case p.Kind == oam.KindError:
				st.Outcome = TryExceeded
				st.From, st.Segment = p.From, p.At.Index
			}
		}
	}
	return st, nil
}

// blackhole handles probes of size that vanished: the binary search between the largest size
// known to cross (at least MinMTU) and size finds the largest that reaches the destination,
// and probes of the smallest that does not, with growing hop limits, find the last hop they
// reach. nil when even MinMTU vanishes (the destination does not answer at all).
func (d *discovery) blackhole(size int, crossed []int) (*MTUHop, error) {
	lo, hi := MinMTU, size // lo: reaches (checked below), hi: vanishes
	t, err := d.try(lo, 64)
	if err != nil {
		return nil, err
	}
	d.rep.Tries = append(d.rep.Tries, t)
	if t.Outcome != TryReached {
		return nil, nil
	}
	for hi-lo > 1 && d.ctx.Err() == nil {
		mid := (lo + hi) / 2
		t, err := d.try(mid, 64)
		if err != nil {
			return nil, err
		}
		d.rep.Tries = append(d.rep.Tries, t)
		switch t.Outcome {
		case TryReached:
			lo = mid
		case TryTooBig:
			// A Packet Too Big after all (a hop before the blackhole): take its MTU as the next
			// upper bound.
			d.rep.Hops = append(d.rep.Hops, MTUHop{TTL: t.TTL, From: t.From, Segment: t.Segment, MTU: t.MTU, Size: mid})
			hi = min(hi, t.MTU+1)
		default:
			hi = mid
		}
	}
	h := &MTUHop{Blackhole: true, MTU: lo, Size: hi, Segment: -1}
	// Where probes of hi stop: the last hop that still answers them with Time Exceeded.
	for _, hop := range d.rep.Trace.Hops {
		if hop.Destination || len(hop.Responders()) == 0 {
			continue
		}
		t, err := d.try(hi, hop.TTL)
		if err != nil {
			return nil, err
		}
		if t.Outcome != TryExceeded {
			break
		}
		h.After, h.Segment = hop.TTL, hop.Segment
	}
	// The probe was lost after hop After, in the segment of the hop that follows it.
	for _, hop := range d.rep.Trace.Hops {
		if hop.TTL > h.After && hop.Segment >= 0 {
			h.Segment = hop.Segment
			break
		}
	}
	for i := 0; i < h.Segment && i < len(crossed); i++ {
		crossed[i] = max(crossed[i], hi)
	}
	return h, nil
}
