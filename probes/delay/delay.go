package delay

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
)

// Options of one run. The zero value of a field means its default.
type Options struct {
	// Count of probes; 0 probes until ctx is done.
	Count int
	// Interval between probes; default 1s.
	Interval time.Duration
	// Timeout after which a probe that has not come back is lost; default 2s.
	Timeout time.Duration
	// Linger is how long a probe that came back waits for agents' reports (they batch them
	// for up to 10 ms); default 100ms.
	Linger time.Duration
	// PayloadSize of the echo data; default 16.
	PayloadSize int
	// HopLimit of the probes; default 64.
	HopLimit     int
	TrafficClass uint8
	FlowLabel    uint32
	// Source address; default: what the kernel picks toward the first segment. The probe's
	// final segment is this address: the probe comes back to the prober.
	Source netip.Addr
	// Interface binds the sockets to an interface.
	Interface string
	// Session identifies the run in the Probe TLV; default random.
	Session uint32
	// Identifier of the echo probes; default random.
	Identifier uint16
	// CollectorPort is the UDP port of the built-in collector, announced in the probe as the
	// report-to port (the address is Source); 0 picks a free one.
	CollectorPort uint16
	// DetectMultiplier and UpMultiplier of the per-segment liveness (see collect.Config);
	// defaults 3 and 3.
	DetectMultiplier int
	UpMultiplier     int
	// SharedClock says that the prober and every node read one clock (a lab on one host):
	// one-way delays need no synchronisation and carry no clock error bound.
	SharedClock bool
	// Registry overrides the OAM TLV codes; the zero value means srh.DefaultRegistry().
	Registry srh.Registry
	// HMAC signs the SRH.
	HMAC *srh.HMACKey
	// Tap sees every probe sent and every ICMPv6 message received.
	Tap probes.Tap
	// NoTxTimestamps takes the send time from the user clock instead of the kernel's
	// software TX timestamp.
	NoTxTimestamps bool
	// Window is how many probes the correlator keeps in flight (see collect.Config.Window);
	// memory is proportional to it. Default: 2×Timeout/Interval+2, at least 1024, at most
	// 65536. A long-running prober with few probes in flight (a monitor job) sets it small.
	Window int
	// IOAM, when set, is the empty IOAM Pre-allocated Trace (ioam.NewTrace) every probe
	// carries in a Hop-by-Hop header, for every IOAM-enabled hop to fill: the probe comes back
	// with the whole trace, there and back (Result.IOAM), and each End.OAM node's report
	// carries the trace as the probe reached it, when the capture it asks for fits in a
	// report (ReportsCarryIOAM) and the collector is trusted for captures.
	IOAM *ioam.Trace
}

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Count < 0:
		return o, fmt.Errorf("count %d: must be 0 (no limit) or more", o.Count)
	case o.Interval < 0:
		return o, fmt.Errorf("interval %v: must not be negative", o.Interval)
	case o.Timeout < 0:
		return o, fmt.Errorf("timeout %v: must not be negative", o.Timeout)
	case o.Linger < 0:
		return o, fmt.Errorf("linger %v: must not be negative", o.Linger)
	case o.HopLimit < 0 || o.HopLimit > 255:
		return o, fmt.Errorf("hop limit %d: must be 1 to 255", o.HopLimit)
	case o.DetectMultiplier < 0 || o.DetectMultiplier > 255:
		return o, fmt.Errorf("detect multiplier %d: must be 1 to 255", o.DetectMultiplier)
	case o.UpMultiplier < 0 || o.UpMultiplier > 255:
		return o, fmt.Errorf("up multiplier %d: must be 1 to 255", o.UpMultiplier)
	case o.Window < 0 || o.Window > 65536:
		return o, fmt.Errorf("window %d: must be 0 (default) or 1 to 65536", o.Window)
	}
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Linger == 0 {
		o.Linger = 100 * time.Millisecond
	}
	if o.PayloadSize == 0 {
		o.PayloadSize = 16
	}
	if o.HopLimit == 0 {
		o.HopLimit = 64
	}
	if o.Session == 0 {
		o.Session = rand.Uint32() | 1
	}
	if o.Identifier == 0 {
		o.Identifier = uint16(rand.N(0xffff)) + 1
	}
	if o.Registry.ProbeType == 0 && o.Registry.SlotsType == 0 {
		o.Registry = srh.DefaultRegistry()
	}
	if o.Window == 0 {
		o.Window = min(max(1024, int(2*o.Timeout/o.Interval)+2), 65536)
	}
	return o, nil
}

// Result is one resolved probe: collect's result with the segments copied (owned by the
// Result) and the liveness changes its resolution caused.
type Result struct {
	collect.ProbeResult
	Transitions []collect.Transition
	// IOAM are the IOAM traces of the probe (Options.IOAM), one per point that saw one, in
	// point order: the End.OAM nodes' from their reports, the final point's from the probe
	// that came back.
	IOAM []IOAMTrace
}

// Summary is the run's outcome.
type Summary struct {
	collect.Summary
	// Transmitted counts probes sent (Resolved counts those resolved).
	Transmitted int
	// SendErrors counts probes the kernel refused to send.
	SendErrors int
	// Reports counts report datagrams received, BadReports those that did not decode
	// (LastReportError says why the first did not). With shared sockets (NewShared) the Mux
	// decodes the datagrams, which may carry other probers' records: Reports counts the
	// records routed to this prober, and the Mux's Stats count the bad datagrams.
	Reports, BadReports int
	LastReportError     string
	// Dropped counts returning probes, report records and TX timestamps lost because Run
	// did not take them fast enough (the sockets' reader never blocks on one prober).
	Dropped int
	// SharedClock echoes the option: bounds are 0 because every point reads one clock.
	SharedClock bool
	Start       time.Time
	Elapsed     time.Duration
}

// Prober is a prepared run: sockets open, collector listening, probe template built.
type Prober struct {
	opts      Options
	target    oam.Target
	source    netip.Addr
	path      oam.SegmentList
	points    []collect.Point
	builder   *ProbeBuilder
	collector netip.AddrPort
	taiOffset time.Duration
	// mux holds the sockets; route is this prober's inbox in it. ownMux: New opened the Mux
	// for this prober alone, and Close closes it.
	mux    *Mux
	route  *route
	ownMux bool

	// The run, on its Loop (Start).
	coll     *collect.Collector
	pending  []collect.Transition // liveness changes of the probe being resolved
	sum      Summary
	next     uint32    // the next sequence to send (first is 1)
	plan     time.Time // when it is due
	finished bool      // every probe sent and resolved
	// traces are the IOAM traces of the probes in flight, by sequence; resolved is the last
	// sequence resolved (results come in sequence order): later traces of it are not kept.
	traces   map[uint32][]IOAMTrace
	resolved uint32
	err      error // what ended the run early
	end      func(Summary, error)
}

// New checks the options, picks the source, opens the probe sockets and the collector socket
// and builds the probe template. The probe's path is target.Path() followed by the source
// address: every segment but the last must be a SID whose node returns the probe onwards
// (End.OAM SIDs are timestamped), and the probe comes back to the prober.
func New(ctx context.Context, target oam.Target, opts Options) (*Prober, error) {
	pickSession, pickIdent := opts.Session == 0, opts.Identifier == 0
	p, err := prepare(ctx, target, opts, true)
	if err != nil {
		return nil, err
	}
	// The collector listens on the source address only: that is where the probe asks the
	// agents to report.
	mux, err := NewMux(MuxOptions{Interface: p.opts.Interface, CollectorAddress: p.source,
		CollectorPort: p.opts.CollectorPort, Registry: p.opts.Registry, Tap: p.opts.Tap,
		NoTxTimestamps: p.opts.NoTxTimestamps})
	if err != nil {
		return nil, err
	}
	if err := p.attach(mux, pickSession, pickIdent); err != nil {
		mux.Close()
		return nil, err
	}
	p.ownMux = true
	return p, nil
}

// NewShared is New for a prober that opens no socket: it sends, receives its returning probes
// and gets its reports through mux, which tells it apart from the mux's other probers by its
// session (drawn afresh when opts.Session is 0 and the random one is taken; an explicit
// session already attached is an error). opts.Interface, CollectorPort, Registry, Tap and
// NoTxTimestamps are the Mux's. Run, or Close, detaches the prober.
func NewShared(ctx context.Context, mux *Mux, target oam.Target, opts Options) (*Prober, error) {
	pickSession, pickIdent := opts.Session == 0, opts.Identifier == 0
	opts.Interface, opts.CollectorPort, opts.Registry = mux.opts.Interface, mux.port, mux.opts.Registry
	opts.Tap, opts.NoTxTimestamps = mux.opts.Tap, mux.opts.NoTxTimestamps
	// On scripted sockets (MuxOptions.Sockets) there is no kernel route to look up.
	p, err := prepare(ctx, target, opts, mux.opts.Sockets == nil)
	if err != nil {
		return nil, err
	}
	if err := p.attach(mux, pickSession, pickIdent); err != nil {
		return nil, err
	}
	return p, nil
}

// attach registers the prober with mux (drawing a free session and identifier where pick
// says so) and builds its probe template.
func (p *Prober) attach(mux *Mux, pickSession, pickIdent bool) error {
	p.collector = netip.AddrPortFrom(p.source, mux.port)
	r, err := mux.attach(p.opts.Session, p.opts.Identifier, p.source, pickSession, pickIdent)
	if err != nil {
		return err
	}
	p.opts.Session, p.opts.Identifier = r.session, r.ident
	if err := p.build(); err != nil {
		mux.detach(r)
		return err
	}
	p.mux, p.route = mux, r
	return nil
}

// prepare checks the options and the target and picks the source: what New and NewShared share.
func prepare(ctx context.Context, target oam.Target, opts Options, lookup bool) (*Prober, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if target.Decap {
		return nil, errors.New("decap: timestamped probes return to the prober; they cannot end at a decapsulating SID")
	}
	if !target.Destination.IsValid() {
		return nil, errors.New("destination: missing")
	}
	src := opts.Source
	if lookup || !src.IsValid() {
		// The kernel's route toward the first segment, even with a source given: without one
		// nothing could be sent.
		s, err := probes.SourceFor(ctx, target.FirstHop(), opts.Interface)
		if err != nil {
			return nil, fmt.Errorf("first segment: %w", err)
		}
		if !src.IsValid() {
			src = s
		}
	}
	path := append(target.Path(), src)
	if len(path) > srh.MaxSlots {
		return nil, fmt.Errorf("segment list: %d segments and the return to the source make %d, at most %d fit in the Timestamp Slots TLV", len(target.Path()), len(path), srh.MaxSlots)
	}
	off, err := probes.TAIOffset()
	if err != nil {
		return nil, err
	}
	p := &Prober{opts: opts, target: target, source: src, path: path, taiOffset: off}
	p.points = collect.PathPoints(path, true)
	return p, nil
}

// build makes the probe template once the session, identifier and collector are known.
func (p *Prober) build() error {
	var err error
	o := p.opts
	probe := srh.Probe{Flags: srh.ProbeReport, Session: o.Session, ReportTo: p.source, ReportPort: p.collector.Port()}
	if n := 40 + hbhLen(o.IOAM); o.IOAM != nil && n <= maxCapture {
		// The agents' reports carry the IOAM trace as the probe reached them: the capture of
		// the IPv6 and Hop-by-Hop headers.
		probe.Flags |= srh.ProbeCapture
		probe.CaptureLen = uint8(n)
	}
	p.builder, err = NewProbeBuilder(ProbeConfig{
		Path: p.path, Source: p.source, Registry: o.Registry, ID: o.Identifier, Probe: probe,
		PayloadSize: o.PayloadSize, HopLimit: uint8(o.HopLimit), TrafficClass: o.TrafficClass,
		FlowLabel: o.FlowLabel, HMAC: o.HMAC, IOAM: o.IOAM,
	})
	return err
}

// ReportsCarryIOAM says the End.OAM agents' reports carry each probe's IOAM trace: the probes
// carry one, and the capture of their headers fits in a report (at most 255 bytes).
func (p *Prober) ReportsCarryIOAM() bool {
	return p.opts.IOAM != nil && 40+hbhLen(p.opts.IOAM) <= maxCapture
}

// Source is the probes' source address, also their final segment and the collector's address.
func (p *Prober) Source() netip.Addr { return p.source }

// Collector is the address and port the probes name for reports.
func (p *Prober) Collector() netip.AddrPort { return p.collector }

// Path is the segment list on the wire, in visiting order (the source last).
func (p *Prober) Path() oam.SegmentList { return p.path }

// Points are the timestamping points: the source, each segment but the last, the return.
func (p *Prober) Points() []collect.Point { return p.points }

// Options are the options with defaults filled in (session and identifier included).
func (p *Prober) Options() Options { return p.opts }

// Close detaches the Prober from its Mux, closing the sockets New opened for it; Run closes it
// when it returns.
func (p *Prober) Close() error {
	p.mux.detach(p.route)
	if p.ownMux {
		return p.mux.Close()
	}
	return nil
}

// Probe implements probes.ProbeFunc for timestamped probes.
var _ probes.ProbeFunc[Options, Result, Summary] = Probe

// Probe prepares and runs one measurement; see Prober.Run.
func Probe(ctx context.Context, target oam.Target, opts Options, emit func(Result)) (Summary, error) {
	p, err := New(ctx, target, opts)
	if err != nil {
		return Summary{}, err
	}
	defer p.Close()
	return p.Run(ctx, emit)
}

// tai converts a CLOCK_REALTIME time to CLOCK_TAI nanoseconds.
func (p *Prober) tai(t time.Time) int64 { return t.UnixNano() + int64(p.taiOffset) }

func (p *Prober) now() int64 { return p.tai(time.Now()) }

type rxEvent struct {
	seq16 uint16
	at    time.Time
	// probe and slots (a copy of the slots TLV value) when the routing header came with it.
	probe    srh.Probe
	hasProbe bool
	slots    []byte
	// hbh is a copy of the Hop-by-Hop header the probe came back with (nil without one).
	hbh []byte
}

// Run sends the probes and returns when the count is done (every probe resolved) or ctx is; it
// may be called once and closes the sockets when it returns. emit is called from Run's
// goroutine, once per probe, in sequence order. When ctx ends first, the probes still in
// flight are resolved with what they have (as ping counts them lost on Ctrl-C).
func (p *Prober) Run(ctx context.Context, emit func(Result)) (Summary, error) {
	defer p.Close()
	loop := probes.NewLoop[Event]()
	defer loop.Close()
	if _, err := p.Start(loop, emit, nil); err != nil {
		return Summary{}, err
	}
	if err := loop.Run(ctx, true); err != nil {
		return p.Summary(), err
	}
	if !p.finished && p.err == nil {
		p.coll.Flush(p.now())
	}
	return p.Summary(), p.err
}

// Start puts the prober on loop as a probes.Session, for many probers on one Loop
// (srv6-monitor's timestamped jobs); emit is called on the Loop's goroutine. The session ends
// when the count is done and every probe is resolved, or when the Mux's socket of returning
// probes fails; then end, when not nil, gets the summary and the error that ended it, on the
// Loop's goroutine. Handle.Remove stops the session sooner (end is not called) and detaches
// it from the Mux.
func (p *Prober) Start(loop *probes.Loop[Event], emit func(Result), end func(Summary, error)) (*probes.Handle[Event], error) {
	if p.coll != nil {
		return nil, errors.New("delay: prober started twice")
	}
	coll, err := collect.New(collect.Config{
		Session: p.opts.Session, Points: p.points, Window: p.opts.Window, Timeout: p.opts.Timeout, Linger: p.opts.Linger,
		DetectMultiplier: p.opts.DetectMultiplier, UpMultiplier: p.opts.UpMultiplier,
		SourceClock: probes.LocalClock(), SharedClock: p.opts.SharedClock, TxFirst: true,
		OnTransition: func(t collect.Transition) { p.pending = append(p.pending, t) },
		OnResult: func(r *collect.ProbeResult) {
			res := Result{ProbeResult: *r, Transitions: p.pending}
			res.Segments = append([]collect.SegmentResult(nil), r.Segments...)
			p.pending = nil
			res.IOAM = p.takeTraces(r.Sequence)
			if emit != nil {
				emit(res)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	p.coll, p.next, p.end = coll, 1, end
	p.sum = Summary{SharedClock: p.opts.SharedClock}
	return loop.Add(p, func(h *probes.Handle[Event]) error {
		p.mux.mu.Lock()
		p.route.handle = h
		p.mux.mu.Unlock()
		h.OnRemove(func() { p.mux.detach(p.route) })
		return nil
	})
}

// Summary is the run's outcome so far; call it from the Loop's goroutine or once it stopped.
func (p *Prober) Summary() Summary {
	sum := p.sum
	if p.coll == nil {
		return sum
	}
	sum.Summary = p.coll.Summary()
	sum.Dropped = int(p.route.dropped.Load())
	if p.ownMux {
		// Every datagram on its own collector was meant for this prober.
		st := p.mux.Stats()
		sum.Reports, sum.BadReports, sum.LastReportError = int(st.Reports), int(st.BadReports), st.BadReportError
	}
	if !sum.Start.IsZero() {
		sum.Elapsed = time.Since(sum.Start)
	}
	return sum
}

func (p *Prober) sendingDone() bool { return p.opts.Count > 0 && int(p.next) > p.opts.Count }

// Wake implements probes.Session: send the probe that is due, resolve what is overdue.
func (p *Prober) Wake(now time.Time) (time.Time, bool) {
	select {
	case <-p.mux.failed:
		return p.fail(p.mux.Err())
	default:
	}
	if !p.sendingDone() && !now.Before(p.plan) {
		if err := p.send(); err != nil {
			return p.fail(err)
		}
		p.plan = p.plan.Add(p.opts.Interval)
		if p.plan.Before(now) {
			p.plan = now.Add(p.opts.Interval) // fell behind: no burst to catch up
		}
	}
	p.coll.Expire(p.now())
	return p.nextWake()
}

// send builds and sends probe p.next; an error ends the run (no route for the first probe).
func (p *Prober) send() error {
	seq := p.next
	p.next++
	pkt, err := p.builder.Build(seq, uint64(p.now()))
	if err != nil {
		return fmt.Errorf("build probe %d: %w", seq, err)
	}
	info, err := p.mux.send(p.route, seq, pkt, p.builder.FirstHop())
	if p.sum.Start.IsZero() {
		p.sum.Start = info.UserTime
		if p.sum.Start.IsZero() {
			p.sum.Start = time.Now()
		}
	}
	p.sum.Transmitted++
	if err != nil {
		if seq == 1 && errors.Is(err, probes.ErrNoRoute) {
			return err
		}
		p.sum.SendErrors++
		return nil
	}
	p.coll.ObserveTx(seq, p.tai(info.UserTime), p.now())
	return nil
}

// nextWake is the earlier of the next send and the collector's next deadline; done when
// nothing is left to send or resolve.
func (p *Prober) nextWake() (time.Time, bool) {
	if p.sendingDone() && p.coll.Outstanding() == 0 {
		p.finished = true
		if p.end != nil {
			p.end(p.Summary(), nil)
		}
		return time.Time{}, true
	}
	var next time.Time
	if !p.sendingDone() {
		next = p.plan
	}
	if d, ok := p.coll.NextDeadline(); ok {
		if t := time.Unix(0, d-int64(p.taiOffset)); next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next, false
}

// Input implements probes.Session: a returning probe, a report record or a TX timestamp.
func (p *Prober) Input(ev *Event, _ time.Time) (time.Time, bool) {
	switch ev.kind {
	case eventReturn:
		// The kernel's TX timestamp before the probe's return, where both are waiting.
		p.mux.pollTx(p.route, p.observeTx)
		now := p.now()
		rx := &ev.rx
		if rx.hasProbe && rx.probe.Session == p.opts.Session && rx.probe.Sequence < p.next {
			p.returnTrace(rx.probe.Sequence, rx.hbh)
			// The in-band timestamps first, so that the probe can be complete on arrival;
			// unless the agents' reports carry the probe's IOAM trace: then the probe waits
			// for them (their timestamps are the slots'), up to the linger.
			if slots, err := srh.ParseSlots(rx.slots); err == nil && !p.ReportsCarryIOAM() {
				p.coll.ObserveSlots(rx.probe, slots, now)
			}
			p.coll.ObserveReceive(rx.probe.Sequence, p.tai(rx.at), now)
		} else if seq, ok := seqFor(p.next-1, rx.seq16, p.opts.Window); ok {
			p.returnTrace(seq, rx.hbh)
			p.coll.ObserveReceive(seq, p.tai(rx.at), now)
		}
	case eventRecord:
		p.sum.Reports++
		p.recordTrace(ev.rec.node, &ev.rec.rec)
		p.coll.ObserveRecord(ev.rec.node, ev.rec.clock, &ev.rec.rec, p.now())
	case eventTx:
		p.observeTx(ev.tx.seq, ev.tx.at)
	}
	return p.nextWake()
}

// fail ends the session with err.
func (p *Prober) fail(err error) (time.Time, bool) {
	p.err = err
	if p.end != nil {
		p.end(p.Summary(), err)
	}
	return time.Time{}, true
}

func (p *Prober) observeTx(seq uint32, at time.Time) { p.coll.ObserveTx(seq, p.tai(at), p.now()) }

// seqFor maps a 16-bit echo sequence to the latest 32-bit sequence sent with it.
func seqFor(last uint32, wire uint16, window int) (uint32, bool) {
	back := uint32(uint16(last) - wire)
	if last == 0 || back >= uint32(window) || back >= last {
		return 0, false
	}
	return last - back, true
}
