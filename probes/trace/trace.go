package trace

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/probes"
)

// Options of one trace. The zero value of a field means its default.
type Options struct {
	// FirstHop is the first hop limit probed (traceroute -f); default 1.
	FirstHop int
	// MaxHops is the largest hop limit probed (traceroute -m); default 30.
	MaxHops int
	// Queries is the number of probes per hop (traceroute -q); default 3. ECMP sends one probe
	// per hop and flow instead.
	Queries int
	// Wait is the longest a probe is waited for (traceroute -w MAX); default 2s. A wave ends
	// sooner when every hop up to the destination has answered.
	Wait time.Duration
	// WaitHere and WaitNear shorten the wait as traceroute's -w MAX,HERE,NEAR do (defaults 3
	// and 10; negative turns one off): a probe is given up once WaitHere times the round trip
	// of an answer from its own hop, or WaitNear times that of an answer from a farther hop,
	// has passed since it was sent. A hop that never answers then costs milliseconds, not Wait.
	WaitHere, WaitNear float64
	// Wave is the number of hop limits probed at once; the next wave starts only when the
	// destination was not reached. Default 16.
	Wave int
	// SendInterval spaces consecutive probes; default 0 (back to back). Probes to one hop are
	// spread over the wave anyway: the wave sends query 1 of every hop, then query 2 of every
	// hop, and so on (see docs/srv6-trace.md on ICMPv6 rate limits).
	SendInterval time.Duration
	// FlowLabel of the probes (constant, Paris-traceroute style); with ECMP the first flow.
	FlowLabel uint32
	// ECMP enumerates equal-cost branches by varying the flow label, with the Multipath
	// Detection Algorithm's stopping rule at 95% confidence.
	ECMP bool
	// MaxFlows bounds the flows ECMP discovery may use; default 256.
	MaxFlows int
	// Encoding of the segment list (probes.Encap, default, probes.EncapRed, probes.Insert or
	// probes.InsertRed).
	Encoding probes.Encoding
	// Structure is the SID structure of compressed segments (uSID containers) in the list; zero:
	// the common structures are tried on shifted destinations.
	Structure oam.SIDStructure
	// Source address; default what the kernel picks toward the first segment.
	Source netip.Addr
	// Interface binds the sockets to an interface.
	Interface string
	// Identifier of the echo probes; default random.
	Identifier uint16
	// Tap sees every packet sent and received.
	Tap probes.Tap
	// LoopDestination makes PerSegment probe the destination with a loop-back echo like every
	// other segment instead of an echo addressed to it: for a destination that is a SID.
	LoopDestination bool
	// NoRetry turns off the second chance of silent probes: by default the probes left
	// unanswered where a router looks rate-limited (see retrySilent) are sent once more after
	// RetryDelay, and ECMP
	// discovery asks a hop's silent flows again (at most twice) before it adds flows, which is
	// what a router that rate-limits its ICMPv6 errors needs (see docs/srv6-trace.md).
	NoRetry bool
	// RetryDelay before silent hops are probed again; default 1.1s (Linux refills one error
	// per net.ipv6.icmp.ratelimit, 1s by default).
	RetryDelay time.Duration
	// IOAM, when set, is the empty IOAM Pre-allocated Trace (ioam.NewTrace) every probe
	// carries in a Hop-by-Hop header; each hop's error quotes it as far as it was filled
	// (Hop.IOAM). The trace is Linux's to fill: IOAM-enabled hops that know its namespace.
	IOAM *ioam.Trace
	// IOAMClock is what the user says of the IOAM hops' realtime clocks (IOAM carries no clock
	// state; zero: unknown), IOAMSharedClock that the prober and every hop read one clock (a
	// lab of namespaces): they judge Hop.IOAMDelays by oam.OneWayDelay's rule.
	IOAMClock       oam.EndClock
	IOAMSharedClock bool
	// AgentNextHops asks srv6-agent on every SID node of the path for its FIB next hops toward
	// the next segment once the trace is done (AgentNextHops, Report.NextHops).
	AgentNextHops bool
	// Progress, when set, is called after every batch of ECMP discovery (for a progress line).
	Progress func(Progress)
	// Quotes keeps every ICMPv6 error's quoted packet (Probe.Quote), for a caller that shows
	// the headers a router sent back (srv6-trace -v).
	Quotes bool
	// Size is the length of every probe, headers included (the outer IPv6 header to the end of
	// the echo data); 0: the smallest (8 bytes of echo data). Path MTU discovery sets it.
	Size int
}

// Progress is the state of an ECMP discovery, for a progress line.
type Progress struct {
	Flows, Probes, Answers int
	Hops                   int
}

func (o Options) withDefaults() (Options, error) {
	if o.FirstHop == 0 {
		o.FirstHop = 1
	}
	if o.MaxHops == 0 {
		o.MaxHops = 30
	}
	if o.FirstHop < 1 || o.FirstHop > 255 {
		return o, fmt.Errorf("first hop %d: must be 1 to 255", o.FirstHop)
	}
	if o.MaxHops < 1 || o.MaxHops > 255 {
		return o, fmt.Errorf("max hops %d: must be 1 to 255", o.MaxHops)
	}
	if o.FirstHop > o.MaxHops {
		return o, fmt.Errorf("first hop %d: larger than max hops %d", o.FirstHop, o.MaxHops)
	}
	if o.Queries == 0 {
		o.Queries = 3
	}
	if o.Queries < 1 || o.Queries > 10 {
		return o, fmt.Errorf("queries per hop %d: must be 1 to 10", o.Queries)
	}
	if o.Wait == 0 {
		o.Wait = 2 * time.Second
	}
	if o.Wait < 0 || o.Wait > time.Minute {
		return o, fmt.Errorf("wait %v: must be more than 0 and at most 60s", o.Wait)
	}
	if o.WaitHere == 0 {
		o.WaitHere = 3
	}
	if o.WaitNear == 0 {
		o.WaitNear = 10
	}
	if o.WaitHere > 1000 || o.WaitNear > 1000 {
		return o, fmt.Errorf("wait factors here %v, near %v: at most 1000 (negative: off)", o.WaitHere, o.WaitNear)
	}
	if o.Wave == 0 {
		o.Wave = 16
	}
	if o.Wave < 1 || o.Wave > 255 {
		return o, fmt.Errorf("wave %d: must be 1 to 255 hops", o.Wave)
	}
	if o.SendInterval < 0 || o.SendInterval > 10*time.Second {
		return o, fmt.Errorf("send interval %v: must be 0 to 10s", o.SendInterval)
	}
	if o.FlowLabel > 0xfffff {
		return o, fmt.Errorf("flow label %#x: must fit in 20 bits", o.FlowLabel)
	}
	if o.Size < 0 || o.Size > 65535 {
		return o, fmt.Errorf("probe size %d: must be 0 (the smallest) to 65535", o.Size)
	}
	if o.RetryDelay == 0 {
		o.RetryDelay = 1100 * time.Millisecond
	}
	if o.RetryDelay < 0 || o.RetryDelay > time.Minute {
		return o, fmt.Errorf("retry delay %v: must be 0 to 60s", o.RetryDelay)
	}
	if o.MaxFlows == 0 {
		o.MaxFlows = 256
	}
	if o.MaxFlows < 6 || o.MaxFlows > 4096 {
		return o, fmt.Errorf("max flows %d: must be 6 to 4096", o.MaxFlows)
	}
	if o.Identifier == 0 {
		o.Identifier = uint16(rand.N(0xffff)) + 1
	}
	return o, nil
}

// Tracer is a prepared trace: options checked, source chosen, sockets open. New then Run lets
// the CLI report setup errors before it prints its header.
type Tracer struct {
	target oam.Target
	opts   Options
	source netip.Addr
	eng    *engine
	path   oam.SegmentList
	ran    bool
	// nextHops is the prepared --agent-nexthops probe, nil when not asked.
	nextHops *NextHopProbe
}

// New checks the options, picks the source, builds the probe template and opens the sockets.
// With target.Decap the hops are those of the tunnel (the outer header's hop limit): the last SID
// decapsulates, and the inner packet goes on with a hop limit of its own (64), so the
// destination answers at the decapsulating SID's hop and the routers after it are not seen.
func New(ctx context.Context, target oam.Target, opts Options) (*Tracer, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if opts.AgentNextHops && len(target.Path()) < 2 {
		return nil, errors.New("agent next hops need a segment list: a SID followed by another segment")
	}
	src, err := probes.SourceFor(ctx, target.FirstHop(), opts.Interface)
	if err != nil {
		if len(target.Segments) > 0 {
			return nil, fmt.Errorf("first segment: %w", err)
		}
		return nil, fmt.Errorf("destination: %w", err)
	}
	if opts.Source.IsValid() {
		src = opts.Source
	}
	conn, err := probes.Dial(probes.Config{Interface: opts.Interface, TxTimestamps: true, Tap: opts.Tap})
	if err != nil {
		return nil, err
	}
	opts.Source = src
	agent := opts.AgentNextHops
	opts.AgentNextHops = false
	t, err := NewOn(conn, target, opts)
	if err != nil {
		conn.Close()
		return nil, err
	}
	t.opts.AgentNextHops = agent
	if agent {
		if t.nextHops, err = NewNextHopProbe(ctx, target, opts); err != nil {
			t.eng.close()
			return nil, err
		}
	}
	return t, nil
}

// NewOn prepares a trace on conn, which it owns from then on: the seam that lets the engine
// run on a scripted network (probes/probetest). opts.Source must be set; agent next hops,
// which need sockets of their own, are not available.
func NewOn(conn probes.PacketConn, target oam.Target, opts Options) (*Tracer, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if !opts.Source.IsValid() {
		return nil, errors.New("trace: NewOn needs a source address")
	}
	if opts.AgentNextHops {
		return nil, errors.New("trace: NewOn cannot ask the agents for next hops")
	}
	tmpl, err := newTemplate(target, opts.Source, opts)
	if err != nil {
		return nil, err
	}
	eng := newEngine(conn, opts.Identifier, []template{tmpl}, opts.SendInterval)
	eng.loop.KeepQuotes = opts.Quotes
	return &Tracer{target: target, opts: opts, source: opts.Source, path: target.Path(), eng: eng}, nil
}

func (t *Tracer) closeNextHops() {
	if t.nextHops != nil {
		t.nextHops.Close()
		t.nextHops = nil
	}
}

func newTemplate(target oam.Target, src netip.Addr, opts Options) (template, error) {
	payload := 8
	if opts.Size > 0 {
		// The headers are what a probe with no echo data holds besides it.
		b, err := probes.NewEchoBuilder(probes.EchoConfig{Target: target, Source: src, Encoding: opts.Encoding, ID: opts.Identifier,
			HopLimit: 64, FlowLabel: opts.FlowLabel, IOAM: opts.IOAM})
		if err != nil {
			return template{}, err
		}
		pkt, err := b.Build(0)
		if err != nil {
			return template{}, err
		}
		if payload = opts.Size - len(pkt); payload < 0 {
			return template{}, fmt.Errorf("probe size %d: the headers alone take %d bytes", opts.Size, len(pkt))
		}
	}
	b, err := probes.NewEchoBuilder(probes.EchoConfig{
		Target:   target,
		Source:   src,
		Encoding: opts.Encoding,
		ID:       opts.Identifier,
		// 8 bytes of payload hold nothing but keep the probe as small as traceroute's.
		PayloadSize: payload,
		HopLimit:    64,
		FlowLabel:   opts.FlowLabel,
		IOAM:        opts.IOAM,
	})
	if err != nil {
		return template{}, err
	}
	return template{builder: b, firstHop: b.FirstHop(), final: target.Destination, path: target.Path(),
		sent: probes.Sends(target, opts.Encoding, false), structure: opts.Structure}, nil
}

// SourceAddr is the source address of the probes.
func (t *Tracer) SourceAddr() netip.Addr { return t.source }

// Options are the options with defaults filled in.
func (t *Tracer) Options() Options { return t.opts }

// Close releases the sockets; Run closes them itself when it returns.
func (t *Tracer) Close() error {
	t.closeNextHops()
	return t.eng.close()
}

// Probe is one probe's outcome as a trace reports it.
type Probe struct {
	// HopLimit the probe was sent with.
	HopLimit int
	// Segment is, in per-segment probing, the index of the segment whose prefix the probe
	// looped through (0 in a hop-by-hop trace).
	Segment int
	// Flow is the flow label the probe carried.
	Flow uint32
	// Answered is false for a probe that got nothing back within the wait.
	Answered bool
	From     netip.Addr
	RTT      time.Duration
	// Kind is KindReply (Echo Reply from the destination), KindError or KindTimeout.
	Kind               oam.ResultKind
	ICMPType, ICMPCode uint8
	// Error describes an ICMPv6 error other than Time Exceeded ("Destination unreachable: No
	// route"); empty otherwise. MTU is a Packet Too Big's MTU field (0 for other messages).
	Error string
	MTU   int
	// QuotedSL is Segments Left in the SRH the error quoted, -1 when none; At is where along
	// the path the quote says the probe was (oam.Locate; At.Index -1 when unknown).
	QuotedSL int
	At       oam.Position
	// Sent is when the probe left (wall clock: the kernel's TX timestamp when there was one);
	// zero for a probe that was not answered.
	Sent time.Time
	// IOAM is the IOAM trace the error's quote carried (Options.IOAM): the entries the IOAM
	// hops up to this one filled; nil without one. IOAMErr says why a quoted trace could not
	// be read.
	IOAM    *ioam.Record
	IOAMErr string
	// Quote is the packet an error quoted, from its outer IPv6 header, as much as the error
	// held (Options.Quotes); nil otherwise.
	Quote []byte
}

// Hop is one hop limit of one path: the probes sent with it and where they were answered.
type Hop struct {
	TTL    int
	Probes []Probe
	// Segment is the index in Report.Path of the segment being travelled when the probes
	// reached this hop, -1 when unknown (no probe answered).
	Segment int
	// SID is set when the node at this hop processed a SID: the quotes moved along the path
	// between the previous answered hop and this one (Segments Left dropped from SLBefore to
	// SLAfter, or a container's destination was shifted). SIDAddr is the segment processed.
	SID               bool
	SIDAddr           netip.Addr
	SLBefore, SLAfter int
	// CSID is, when the node consumed a C-SID of a container (NEXT-C-SID), its position in
	// SIDAddr and CSIDValue the C-SID; -1 otherwise. Structure read the container.
	CSID      int
	CSIDValue uint64
	Structure oam.SIDStructure
	// Popped: the probes left with an SRH and from this hop on the quotes have none: the node
	// at this hop (or one before it that did not answer) popped it (the PSP flavor).
	Popped bool
	// Decapsulated: from this hop on the errors quote the probes' inner packet: the last
	// segment decapsulated them (at this hop, or at one before it that did not answer), and
	// Decap is the quoted inner destination.
	Decapsulated bool
	Decap        netip.Addr
	DecapSID     netip.Addr
	// Destination is set when the final destination answered here.
	Destination bool
	// IOAM is the IOAM trace quoted by the first probe of this hop whose error carried one
	// (Options.IOAM), IOAMProbe that probe's index in Probes; nil and -1 when none did. IOAMNew
	// is how many of its entries are new since the previous hop's trace (since none for the
	// first): 1 when this hop filled an entry, more when silent hops before it did too, 0 when
	// it filled none (IOAM off on its ingress interface, the namespace unknown to it, or no
	// room left).
	IOAM      *ioam.Record
	IOAMProbe int
	IOAMNew   int
	// IOAMDelays is, per entry of IOAM, the one-way delay from the IOAM hop before it (from the
	// probe's transmission for the first), judged by oam.IOAMDelays.
	IOAMDelays []oam.OneWay
}

// Responders are the distinct addresses that answered at this hop, in order of first answer.
func (h *Hop) Responders() []netip.Addr {
	var out []netip.Addr
	for _, p := range h.Probes {
		if p.Answered && !contains(out, p.From) {
			out = append(out, p.From)
		}
	}
	return out
}

func contains(s []netip.Addr, a netip.Addr) bool {
	for _, x := range s {
		if x == a {
			return true
		}
	}
	return false
}

// Branch is one distinct path found by ECMP discovery and the flow labels that took it.
type Branch struct {
	Flows []uint32
	Hops  []Hop
}

// Report is the result of a trace.
type Report struct {
	Target oam.Target
	Source netip.Addr
	// Path is the segment list on the wire, the destination last.
	Path oam.SegmentList
	// Hops of the traced path (plain mode; with ECMP the hops of the first branch).
	Hops []Hop
	// Branches found by ECMP discovery, in order of their first flow; empty without ECMP.
	Branches []Branch
	// Reached is set when the destination answered (every branch, with ECMP).
	Reached bool
	// Probes is the number of probes sent; Elapsed the wall time of the run.
	Probes  int
	Flows   int
	Start   time.Time
	Elapsed time.Duration
	// NextHops are the agents' FIB next hops of Options.AgentNextHops, one per SID that has a
	// next segment; nil when not asked.
	NextHops []NodeNextHops
	// NextHopsErr is why the next-hop step ended early (a send error, or ctx ended during the
	// wait): the trace and whatever NextHops holds are still valid.
	NextHopsErr error
}

// Run implements probes.ProbeFunc for traces.
var _ probes.ProbeFunc[Options, Probe, *Report] = Run

// Run traces target with opts: each probe goes to emit as it is answered or given up (nil:
// none), the assembled report is returned; see probes.ProbeFunc.
func Run(ctx context.Context, target oam.Target, opts Options, emit func(Probe)) (*Report, error) {
	t, err := New(ctx, target, opts)
	if err != nil {
		return nil, err
	}
	t.eng.emit = emit
	return t.Run(ctx)
}

// Emit makes the prepared trace hand each probe to emit as it is answered or given up.
func (t *Tracer) Emit(emit func(Probe)) { t.eng.emit = emit }

// Run traces the target and closes the sockets; it may be called once.
func (t *Tracer) Run(ctx context.Context) (*Report, error) {
	if t.ran {
		return nil, errors.New("trace: Run called twice")
	}
	t.ran = true
	defer t.eng.close()
	defer t.closeNextHops()
	rep := &Report{Target: t.target, Source: t.source, Path: t.path, Start: time.Now()}
	var err error
	if t.opts.ECMP {
		err = t.runECMP(ctx, rep)
	} else {
		err = t.runPlain(ctx, rep)
	}
	if t.nextHops != nil && err == nil {
		// An error of this step keeps the trace: it goes into the report, not to the caller.
		rep.NextHops, rep.NextHopsErr = t.nextHops.Run(ctx)
		t.nextHops = nil
	}
	rep.Probes = t.eng.sentProbes
	rep.Elapsed = time.Since(rep.Start)
	return rep, err
}

// Trace is New and Run in one call.
func Trace(ctx context.Context, target oam.Target, opts Options) (*Report, error) {
	t, err := New(ctx, target, opts)
	if err != nil {
		return nil, err
	}
	return t.Run(ctx)
}

// terminal reports whether an answer ends the path: an Echo Reply from the destination, or an
// ICMPv6 error other than Time Exceeded (unreachable, parameter problem), as traceroute stops
// at !N or !P.
func terminal(o *outcome) bool {
	return o.answered && (o.kind == oam.KindReply || o.icmpType != probes.ICMPv6TimeExceeded)
}

// endHop returns the smallest hop limit whose probe ended the path, or 0.
func endHop(out []outcome) int {
	end := 0
	for i := range out {
		if terminal(&out[i]) {
			if h := int(out[i].spec.hopLimit); end == 0 || h < end {
				end = h
			}
		}
	}
	return end
}

// neededBelowEnd is the batch completion rule of a trace: every probe up to the hop where the
// path ended must be answered (or time out); probes beyond it do not matter.
func neededBelowEnd(out []outcome) func(i int) bool {
	end := endHop(out)
	return func(i int) bool { return end == 0 || int(out[i].spec.hopLimit) <= end }
}

// waits is how long the batches of this trace wait for a probe.
func (t *Tracer) waits() waits {
	return waits{max: t.opts.Wait, here: t.opts.WaitHere, near: t.opts.WaitNear}
}

func (t *Tracer) runPlain(ctx context.Context, rep *Report) error {
	var all []outcome
	for lo := t.opts.FirstHop; lo <= t.opts.MaxHops; lo += t.opts.Wave {
		hi := min(lo+t.opts.Wave-1, t.opts.MaxHops)
		var specs []probeSpec
		// Hop-major order, as traceroute sends: a hop's probes leave before the next hop's. A
		// node that ends the path with an error (an unbound SID: !N) receives every probe of a
		// hop limit from its own on, and answers only as many as its ICMPv6 rate limit allows
		// (Linux: a burst of 6, then one a second per destination): those must be its own
		// hop's, so that it prints !N !N !N as traceroute does, not !N * *.
		for h := lo; h <= hi; h++ {
			for q := 0; q < t.opts.Queries; q++ {
				specs = append(specs, probeSpec{hopLimit: uint8(h), flow: t.opts.FlowLabel, query: q})
			}
		}
		out, err := t.eng.batch(ctx, specs, t.waits(), neededBelowEnd, nil)
		all = append(all, out...)
		if err != nil {
			return err
		}
		if endHop(all) != 0 || ctx.Err() != nil {
			break
		}
	}
	if !t.opts.NoRetry && ctx.Err() == nil {
		if err := t.retrySilent(ctx, all); err != nil {
			return err
		}
	}
	rep.Hops = t.buildHops(all, t.opts.Queries)
	rep.Reached = reached(rep.Hops)
	rep.Flows = 1
	return ctx.Err()
}

// retrySilent probes again, after RetryDelay, the probes that went unanswered where the
// pattern says a router is rate-limiting its ICMPv6 errors (Linux: a burst of 6, then one per
// net.ipv6.icmp.ratelimit per destination), which a second chance a second later answers:
//   - a hop that answered some of its probes, not all;
//   - a hop that answered none, only when no router on the path answered every probe of its
//     hop with Time Exceeded: routers whose budget an earlier run spent are silent together,
//     while a hop silent between routers that answer everything is filtering its errors
//     (traceroute's "* * *"), and waiting a second for it would buy nothing.
//
// Hops past the last answer are not retried (nothing there is known to exist). The retry
// gives up its probes by the round trips the first batch saw (-w HERE,NEAR), not after MAX.
// It puts the new outcomes in place of the lost ones.
func (t *Tracer) retrySilent(ctx context.Context, all []outcome) error {
	last := endHop(all)
	if last == 0 {
		for i := range all {
			if all[i].answered {
				last = max(last, int(all[i].spec.hopLimit))
			}
		}
	}
	sent, answered, exceeded := map[int]int{}, map[int]int{}, map[int]int{}
	for i := range all {
		o := &all[i]
		if !o.sentOK {
			continue
		}
		h := int(o.spec.hopLimit)
		sent[h]++
		if o.answered {
			answered[h]++
			if o.kind == oam.KindError && o.icmpType == probes.ICMPv6TimeExceeded {
				exceeded[h]++
			}
		}
	}
	routersFresh := false
	for h, n := range exceeded {
		if n == sent[h] {
			routersFresh = true
		}
	}
	var specs []probeSpec
	var slots []int
	for i := range all {
		h := int(all[i].spec.hopLimit)
		if !all[i].sentOK || all[i].answered || h > last || (answered[h] == 0 && routersFresh) {
			continue
		}
		specs = append(specs, all[i].spec)
		slots = append(slots, i)
	}
	if len(specs) == 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(t.opts.RetryDelay):
	}
	w := t.waits()
	w.known = knownRTTs(all)
	out, err := t.eng.batch(ctx, specs, w, nil, nil)
	for j, o := range out {
		if o.sentOK {
			all[slots[j]] = o
		}
	}
	return err
}

func reached(hops []Hop) bool {
	return len(hops) > 0 && hops[len(hops)-1].Destination
}

// buildHops turns the outcomes of one flow (or one plain trace) into hops, up to the hop that
// ended the path, and attributes each hop to a segment.
func (t *Tracer) buildHops(out []outcome, queries int) []Hop {
	end := endHop(out)
	maxTTL := t.opts.MaxHops
	if end != 0 {
		maxTTL = end
	}
	byTTL := map[int][]*outcome{}
	for i := range out {
		o := &out[i]
		if !o.sentOK {
			continue
		}
		h := int(o.spec.hopLimit)
		if h <= maxTTL {
			byTTL[h] = append(byTTL[h], o)
		}
	}
	var ttls []int
	for h := range byTTL {
		ttls = append(ttls, h)
	}
	sort.Ints(ttls)
	hops := make([]Hop, 0, len(ttls))
	for _, h := range ttls {
		os := byTTL[h]
		sort.SliceStable(os, func(a, b int) bool { return os[a].spec.query < os[b].spec.query })
		hop := Hop{TTL: h, Segment: -1}
		for _, o := range os {
			p := probeOf(o)
			if o.answered && o.kind == oam.KindReply {
				hop.Destination = true
			}
			hop.Probes = append(hop.Probes, p)
		}
		hops = append(hops, hop)
	}
	attributeSegments(t.path, hops)
	if t.opts.IOAM != nil {
		attributeIOAM(hops, probes.LocalClock().ClockEnd(), t.opts.IOAMClock, t.opts.IOAMSharedClock)
	}
	return hops
}

// attributeIOAM picks each hop's quoted IOAM trace, counts the entries it added and judges
// the delays between its entries.
func attributeIOAM(hops []Hop, prober, nodes oam.EndClock, shared bool) {
	before := 0
	for i := range hops {
		h := &hops[i]
		h.IOAMProbe = -1
		for j, p := range h.Probes {
			if p.IOAM != nil {
				h.IOAM, h.IOAMProbe = p.IOAM, j
				break
			}
		}
		if h.IOAM != nil {
			h.IOAMNew = max(0, len(h.IOAM.Entries)-before)
			before = len(h.IOAM.Entries)
			h.IOAMDelays = oam.IOAMDelays(h.IOAM, h.Probes[h.IOAMProbe].Sent, prober, nodes, shared)
		}
	}
}

// attributeSegments fills Segment, SID, SLBefore, SLAfter, CSID and Popped of each hop from where
// the errors' quotes say the probe was (Probe.At). Before the first hop the probe heads for the
// first segment (and its first C-SID); a hop whose quote is further along processed what the
// probe was heading for (Linux advances the SRH, shifts a container or pops the SRH before it
// finds the hop limit exhausted), and it ends the segment, or the C-SID, it was travelling.
func attributeSegments(path oam.SegmentList, hops []Hop) {
	n := len(path)
	prev := oam.Position{Index: 0, CSID: -1, SegmentsLeft: n - 1}
	for i := range hops {
		h := &hops[i]
		h.Segment, h.CSID = -1, -1
		var at *oam.Position
		for j := range h.Probes {
			if p := &h.Probes[j]; p.Answered && p.At.Known() {
				at = &p.At
				break
			}
		}
		if at != nil && at.CSID >= 0 && prev.CSID < 0 && prev.Index == at.Index {
			prev.CSID = 0 // the container this probe is in: its first C-SID came first
		}
		switch {
		case h.Destination:
			h.Segment = n - 1
		case at != nil && at.Decapsulated:
			h.Segment = at.Index
			if !prev.Decapsulated {
				h.Decapsulated, h.Decap, h.DecapSID = true, at.Dst, at.SID
			}
			prev = *at
		case at == nil:
			if len(h.Responders()) > 0 {
				h.Segment = prev.Index
			}
		case prev.Less(at):
			h.Segment = prev.Index
			h.SID, h.SIDAddr = true, path[prev.Index]
			h.SLBefore, h.SLAfter = prev.SegmentsLeft, at.SegmentsLeft
			if prev.CSID >= 0 && prev.Index == at.Index {
				h.CSID, h.Structure = prev.CSID, at.Structure
				if v := at.Structure.CSIDs(path[prev.Index]); prev.CSID < len(v) {
					h.CSIDValue = v[prev.CSID]
				}
			}
			h.Popped = at.Popped && !prev.Popped
			prev = *at
		default:
			h.Segment = at.Index
			h.Popped = at.Popped && !prev.Popped
			prev = *at
		}
	}
}
