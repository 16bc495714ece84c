// Package pathtrace is the SRv6 Path Tracing prober behind `srv6-trace --pt`: it sends ICMPv6
// Echo Requests along a segment list that ends at the prober's own address, each with a
// Hop-by-Hop Path Tracing option (an empty MCD stack) and the source's PT TLV in its SRH, so
// that every PT midpoint on the way (srv6-agent --pt, or a router's own) pushes its outgoing
// interface, load and truncated timestamp, and the probe comes back with the whole path. A
// Result says, per probe, which interfaces it left by, in order, and when: each truncated
// timestamp unwrapped within the window from the probe's transmission to its return.
//
// With Options.IOAM the same loop-back probe carries an IOAM Pre-allocated Trace instead
// (`srv6-ping --ioam`): every IOAM-enabled Linux hop there and back fills an entry, and the
// Result holds the trace as it came home.
//
// Probe has the engine shape of package probes (probes.ProbeFunc); the wire formats are
// packages oam/pt's and oam/ioam's (docs/wire-format.md).
package pathtrace

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/oam/pt"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
)

// Options of a Path Tracing run.
type Options struct {
	// Count is the number of probes (default 3); Interval the time between them (default
	// 200 ms); Timeout how long a probe may take to come back (default 2 s).
	Count    int
	Interval time.Duration
	Timeout  time.Duration
	// MCDs is the stack each probe pre-allocates (default pt.DefaultMCDs).
	MCDs int
	// Template is the timestamp template the midpoints use (default pt.DefaultTemplate): an
	// MCD does not say, the operator does.
	Template pt.Template
	// Source is the prober's address, where the probes come back to (default: the kernel's
	// choice towards the first segment). Interface binds the sockets.
	Source    netip.Addr
	Interface string
	// Identifier is the ICMPv6 echo identifier (default random); Session the PT TLV's session
	// id (default random).
	Identifier, Session uint16
	HopLimit            uint8
	FlowLabel           uint32
	// FlowLabels spreads the probes over this many flow labels (FlowLabel, FlowLabel+1, …, by
	// sequence), so that the probes take every ECMP branch a router hashes them onto; 0 or
	// 1: one label. Result.FlowLabel says which one a probe had.
	FlowLabels  int
	PayloadSize int
	// IOAM, when set, is the IOAM trace every probe carries instead of the PT option (MCDs
	// and Template are then unused).
	IOAM *ioam.Trace
	// Tap sees every probe sent and every one that came back (--pcap).
	Tap probes.Tap
	// OnSend, when set, is called as each probe leaves (from the run's goroutine).
	OnSend func(seq uint16, at time.Time)
	// KeepGoing makes a probe the kernel refused to send a Result with Err (and the run go
	// on) instead of the end of the run: for a monitor whose route may come back.
	KeepGoing bool
}

func (o Options) withDefaults() (Options, error) {
	if o.Count == 0 {
		o.Count = 3
	}
	if o.Interval == 0 {
		o.Interval = 200 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if o.MCDs == 0 {
		o.MCDs = pt.DefaultMCDs
	}
	if o.Template == 0 {
		o.Template = pt.DefaultTemplate
	}
	if o.Identifier == 0 {
		o.Identifier = uint16(rand.Uint32())
	}
	if o.Session == 0 {
		o.Session = uint16(rand.Uint32())
	}
	switch {
	case o.Count < 0:
		return o, fmt.Errorf("count %d: negative", o.Count)
	case o.Interval < 0:
		return o, fmt.Errorf("interval %v: negative", o.Interval)
	case o.Timeout < 0:
		return o, fmt.Errorf("timeout %v: negative", o.Timeout)
	case o.MCDs < 1 || o.MCDs > pt.MaxMCDs:
		return o, fmt.Errorf("MCDs %d: want 1 to %d", o.MCDs, pt.MaxMCDs)
	case !o.Template.Valid():
		return o, fmt.Errorf("timestamp template %d: want 1 to 4", o.Template)
	case o.FlowLabels < 0 || o.FlowLabel+uint32(max(o.FlowLabels, 1))-1 > 0xfffff:
		return o, fmt.Errorf("flow labels %#x + %d: must be at least 0 and stay within 20 bits", o.FlowLabel, o.FlowLabels)
	}
	return o, nil
}

// Hop is one midpoint's record, in path order.
type Hop struct {
	pt.MCD
	// Candidates is how many times within the probe's window the TTS could stand for: 1 is
	// an answer; 0 says the midpoint's clock disagrees with the prober's (or the template is
	// not the one configured); more than 1 that the template wraps within the window (the hop
	// is ambiguous: At is the earliest).
	Candidates int
	// At is the start of the TTS unit the midpoint transmitted in, when Candidates > 0.
	At time.Time
	// Earliest and Latest bound when the midpoint transmitted, when Candidates is 1: its TTS
	// unit within the window the probe was out.
	Earliest, Latest time.Time
	// Delay is At less the previous hop's At (the source's transmit time for the first hop),
	// when both are known; DelayKnown says whether it is.
	Delay      time.Duration
	DelayKnown bool
}

// Result is one probe.
type Result struct {
	Seq uint16
	// Sent is the source's transmit time (the PT TLV's T64); Received when it came back.
	Sent, Received time.Time
	RTT            time.Duration
	Lost           bool
	// FlowLabel is the flow label the probe was sent with (Options.FlowLabels).
	FlowLabel uint32
	// Hops are the MCDs midpoints wrote, in path order. Full says the stack's last MCD was
	// written: the probe may have crossed more midpoints than it kept.
	Hops []Hop
	Full bool
	// IOAM is the trace the probe came back with, in IOAM mode (Options.IOAM); Hops is then
	// empty.
	IOAM *ioam.Record
	// Err says why a probe that came back could not be read (its Hop-by-Hop header or TLV).
	Err error
}

// Summary of a run.
type Summary struct {
	Sent, Received int
	// Paths counts the probes by the interfaces they left by (ids joined by '>'): one path
	// is a stable route; several, ECMP or a route that changed.
	Paths map[string]int
}

// PathKey is the interfaces of r's hops joined by '>', the key of Summary.Paths.
func (r *Result) PathKey() string {
	b := make([]byte, 0, 6*len(r.Hops))
	for i, h := range r.Hops {
		if i > 0 {
			b = append(b, '>')
		}
		b = fmt.Appendf(b, "%#x", h.Interface)
	}
	return string(b)
}

// Decode reads what a returning probe carried: the MCD stack of its Hop-by-Hop header (hbh,
// the whole header as IPV6_HOPOPTS gives it) and the source's TLV in its routing header (rh),
// and unwraps each TTS by tmpl within [source's T64, received]. The TLV's session must be
// session; its sequence is returned.
func Decode(hbh, rh []byte, session uint16, tmpl pt.Template, received time.Time) (Result, error) {
	var r Result
	if hbh == nil {
		return r, errors.New("no Hop-by-Hop header came back (a router on the way dropped or stripped it)")
	}
	opt, ok, err := pt.FindOption(hbh)
	if err != nil {
		return r, err
	}
	if !ok {
		return r, errors.New("the Hop-by-Hop header holds no Path Tracing option")
	}
	if r, err = decodeSource(rh, session, received); err != nil {
		return r, err
	}
	mcds, full := opt.Hops()
	r.Full = full
	r.Hops = make([]Hop, len(mcds))
	prev, prevKnown := r.Sent, true
	for i, m := range mcds {
		h := Hop{MCD: m}
		h.At, h.Candidates = tmpl.Unwrap(m.TTS, r.Sent, received)
		if h.Candidates == 1 {
			h.Earliest, h.Latest = h.At, h.At.Add(tmpl.Resolution()-1)
			if h.Earliest.Before(r.Sent) {
				h.Earliest = r.Sent
			}
			if h.Latest.After(received) {
				h.Latest = received
			}
		}
		if h.Candidates == 1 && prevKnown {
			h.Delay, h.DelayKnown = h.At.Sub(prev), true
		}
		prev, prevKnown = h.At, h.Candidates == 1
		if i == 0 && full {
			// Earlier hops fell off the stack: the first one kept is not the first on the path.
			h.DelayKnown = false
		}
		r.Hops[i] = h
	}
	return r, nil
}

// DecodeIOAM reads what a returning probe of IOAM mode carried: the IOAM trace of its
// Hop-by-Hop header and the source's TLV in its routing header.
func DecodeIOAM(hbh, rh []byte, session uint16, received time.Time) (Result, error) {
	if hbh == nil {
		return Result{}, errors.New("no Hop-by-Hop header came back (a router on the way dropped or stripped it)")
	}
	tr, ok, err := ioam.FindTrace(hbh)
	if err != nil {
		return Result{}, err
	}
	if !ok {
		return Result{}, errors.New("the Hop-by-Hop header holds no IOAM trace")
	}
	rec, err := tr.Record()
	if err != nil {
		return Result{}, err
	}
	r, err := decodeSource(rh, session, received)
	if err != nil {
		return r, err
	}
	r.IOAM = &rec
	return r, nil
}

// IOAMDelays judges the delays between the entries of r's IOAM trace by the one-way rule
// (oam.IOAMDelays): prober is this host's clock, nodes what is known of the IOAM hops' clocks,
// shared that every clock is one. IOAM entries are realtime and r.Sent is CLOCK_TAI:
// taiOffset (probes.TAIOffset) is CLOCK_TAI less CLOCK_REALTIME. Nil without a trace.
func (r *Result) IOAMDelays(prober, nodes oam.EndClock, shared bool, taiOffset time.Duration) []oam.OneWay {
	if r.IOAM == nil {
		return nil
	}
	return oam.IOAMDelays(r.IOAM, r.Sent.Add(-taiOffset), prober, nodes, shared)
}

// decodeSource reads the source's PT TLV of the routing header rh: the probe's sequence and
// transmit time, which must be of session.
func decodeSource(rh []byte, session uint16, received time.Time) (Result, error) {
	var r Result
	var s srh.SRH
	if err := s.DecodeFromBytes(rh, gopacket.NilDecodeFeedback); err != nil {
		return r, fmt.Errorf("routing header: %w", err)
	}
	for _, t := range s.TLVs {
		if t.Type != pt.TLVType {
			continue
		}
		src, err := pt.ParseSourceTLV(append([]byte{t.Type, byte(len(t.Value))}, t.Value...))
		if err != nil {
			return r, err
		}
		if src.Session != session {
			return r, fmt.Errorf("path tracing TLV of session %d, not ours (%d)", src.Session, session)
		}
		r.Seq = src.Sequence
		r.Sent, r.Received = src.T64.Time(received), received
		r.RTT = received.Sub(r.Sent)
		return r, nil
	}
	return r, errors.New("the SRH holds no Path Tracing TLV")
}

// Probe sends opts.Count Path Tracing probes along target's segment list, its destination,
// and back to the prober, and hands each to emit as it comes back or times out.
func Probe(ctx context.Context, target oam.Target, opts Options, emit func(Result)) (Summary, error) {
	t, err := New(ctx, target, opts)
	if err != nil {
		return Summary{}, err
	}
	return t.Run(ctx, emit)
}

// Tracer is a prepared run: options checked, source chosen, sockets open, probe built. New
// then Run lets a caller open the sockets in one network namespace and run anywhere.
type Tracer struct {
	conn probes.PacketConn
	b    *Builder
	opts Options
}

// New checks opts, picks the source, builds the probe and opens the sockets.
func New(ctx context.Context, target oam.Target, opts Options) (*Tracer, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	first := target.FirstHop()
	if !opts.Source.IsValid() {
		if opts.Source, err = probes.SourceFor(ctx, first, opts.Interface); err != nil {
			return nil, fmt.Errorf("first segment: %w", err)
		}
	}
	b, err := newBuilder(target, opts)
	if err != nil {
		return nil, err
	}
	conn, err := probes.Dial(probes.Config{Interface: opts.Interface, ICMPTypes: []uint8{128},
		RoutingHeader: true, HopByHop: true, Tap: opts.Tap})
	if err != nil {
		return nil, err
	}
	return &Tracer{conn: conn, b: b, opts: opts}, nil
}

// Source is the address the probes leave from and come back to.
func (t *Tracer) Source() netip.Addr { return t.opts.Source }

// Options are the run's options with the defaults filled in (source, identifier, session).
func (t *Tracer) Options() Options { return t.opts }

// Run sends the probes until the count is done or ctx is, and closes the sockets.
func (t *Tracer) Run(ctx context.Context, emit func(Result)) (Summary, error) {
	return run(ctx, t.conn, t.b, t.opts, emit)
}

// Close releases the sockets of a Tracer that will not Run.
func (t *Tracer) Close() error { return t.conn.Close() }

// run drives one run on conn, which it closes.
func run(ctx context.Context, conn probes.PacketConn, b *Builder, opts Options, emit func(Result)) (Summary, error) {
	loop := probes.NewLoop[probes.Received]()
	s := newSession(conn, b, opts, emit)
	returns := NewReturns(conn)
	if _, err := loop.Add(s, func(h *probes.Handle[probes.Received]) error {
		unregister, err := returns.Register(opts.Identifier, opts.Source, h)
		h.OnRemove(unregister)
		return err
	}); err != nil {
		conn.Close()
		return s.sum, err
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		returns.Run(loop.Stop)
	}()
	runErr := loop.Run(ctx, true)
	loop.Close()
	conn.Close()
	<-readDone
	if s.err != nil {
		return s.sum, s.err
	}
	if errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded) {
		runErr = nil
	}
	return s.sum, runErr
}

// NewSession prepares a run as a probes.Session, to be put on a Loop shared with other runs
// (srv6-monitor's ioam jobs): it sends on conn, which it does not close, and gets its returning
// probes from the Loop, where a Returns registration routes them; emit is called on the Loop's
// goroutine. opts.Source must be set; the run never ends by itself when opts.Count is
// math.MaxInt (Handle.Remove ends it).
func NewSession(conn probes.PacketConn, target oam.Target, opts Options, emit func(Result)) (probes.Session[probes.Received], Options, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, opts, err
	}
	if !opts.Source.IsValid() {
		return nil, opts, errors.New("pathtrace: a source address is needed")
	}
	b, err := newBuilder(target, opts)
	if err != nil {
		return nil, opts, err
	}
	return newSession(conn, b, opts, emit), opts, nil
}

// newBuilder builds the probe of a run: target's path and back to opts.Source.
func newBuilder(target oam.Target, opts Options) (*Builder, error) {
	path := append(append(oam.SegmentList(nil), target.Path()...), opts.Source)
	return NewBuilder(BuildConfig{Path: path, Source: opts.Source, ID: opts.Identifier, Session: opts.Session,
		MCDs: opts.MCDs, IOAM: opts.IOAM, HopLimit: opts.HopLimit, FlowLabel: opts.FlowLabel, PayloadSize: opts.PayloadSize})
}

func newSession(conn probes.PacketConn, b *Builder, opts Options, emit func(Result)) *session {
	return &session{b: b, conn: conn, opts: opts, emit: emit, pending: map[uint16]sentAt{},
		sum: Summary{Paths: map[string]int{}}}
}

// Returns reads the probes that come back on a socket (an Echo Request from this host to
// itself, with the Hop-by-Hop and routing headers it came with) and hands each to the session
// registered for its echo identifier and source: one reader for any number of runs.
type Returns struct {
	conn   probes.PacketConn
	mu     sync.Mutex
	routes map[uint16]returnRoute
}

type returnRoute struct {
	h   *probes.Handle[probes.Received]
	src netip.Addr
}

// NewReturns reads conn (Run does).
func NewReturns(conn probes.PacketConn) *Returns {
	return &Returns{conn: conn, routes: map[uint16]returnRoute{}}
}

// Register routes the probes of identifier id from src to h; unregister undoes it.
func (r *Returns) Register(id uint16, src netip.Addr, h *probes.Handle[probes.Received]) (unregister func(), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, taken := r.routes[id]; taken {
		return func() {}, fmt.Errorf("pathtrace: echo identifier %d already in use", id)
	}
	r.routes[id] = returnRoute{h: h, src: src}
	return func() {
		r.mu.Lock()
		if r.routes[id].h == h {
			delete(r.routes, id)
		}
		r.mu.Unlock()
	}, nil
}

// Run reads until the socket fails or is closed, then calls stop with the error (nil when
// closed).
func (r *Returns) Run(stop func(error)) {
	var in probes.Received
	for {
		if err := r.conn.Receive(time.Time{}, &in); err != nil {
			if errors.Is(err, net.ErrClosed) {
				err = nil
			}
			stop(err)
			return
		}
		if len(in.ICMPv6) < 8 || in.ICMPv6[0] != 128 {
			continue
		}
		r.mu.Lock()
		route, ok := r.routes[uint16(in.ICMPv6[4])<<8|uint16(in.ICMPv6[5])]
		r.mu.Unlock()
		if !ok || in.From != route.src {
			continue
		}
		// The slices point into the Conn's buffers: copy what the session keeps. The window's
		// end is CLOCK_TAI read now, after the probe came back: the kernel's receive timestamp
		// of a packet forwarded through namespaces can be earlier than the last midpoint's
		// transmission.
		c := in
		c.Time = time.Unix(0, probes.TAINow())
		c.HopByHop = append([]byte(nil), in.HopByHop...)
		c.RoutingHeader = append([]byte(nil), in.RoutingHeader...)
		c.ICMPv6 = append([]byte(nil), in.ICMPv6[:8]...)
		// Offer, not Deliver: one run's full queue must not hold up the others'.
		route.h.Offer(&c)
	}
}

// sentAt is when a probe left: on the Loop's clock (for its timeout) and on CLOCK_TAI (its
// T64, what midpoints' timestamps are read against).
type sentAt struct {
	wall, tai time.Time
	label     uint32
}

// session is the run's probing logic on a probes.Loop.
type session struct {
	b       *Builder
	conn    probes.PacketConn
	opts    Options
	emit    func(Result)
	next    int
	plan    time.Time
	pending map[uint16]sentAt // sequence → when it was sent
	sum     Summary
	err     error
}

// Wake sends the probe that is due and gives up on those out longer than the timeout.
func (s *session) Wake(now time.Time) (time.Time, bool) {
	for seq, sent := range s.pending {
		if now.Sub(sent.wall) >= s.opts.Timeout {
			delete(s.pending, seq)
			s.emitResult(Result{Seq: seq, Sent: sent.tai, Lost: true, FlowLabel: sent.label})
		}
	}
	if s.next < s.opts.Count && !now.Before(s.plan) {
		s.next++
		seq := uint16(s.next)
		t := time.Unix(0, probes.TAINow())
		pkt := s.b.Build(seq, t)
		label := s.opts.FlowLabel
		if n := s.opts.FlowLabels; n > 1 {
			// Outside every checksum: rewritten in place (the outer header's, which routers
			// hash).
			label += uint32(int(seq) % n)
			binary.BigEndian.PutUint32(pkt[0:4], binary.BigEndian.Uint32(pkt[0:4])&^0xfffff|label)
		}
		if _, err := s.conn.Send(pkt, s.b.FirstHop()); err != nil {
			err = fmt.Errorf("send probe %d: %w", seq, err)
			if !s.opts.KeepGoing {
				s.err = err
				return time.Time{}, true
			}
			s.plan = now.Add(s.opts.Interval)
			s.emitResult(Result{Seq: seq, Sent: t, Err: err, FlowLabel: label})
			return s.nextWake(), s.done()
		}
		s.sum.Sent++
		s.pending[seq] = sentAt{wall: now, tai: t, label: label}
		if s.opts.OnSend != nil {
			s.opts.OnSend(seq, now)
		}
		s.plan = now.Add(s.opts.Interval)
	}
	return s.nextWake(), s.done()
}

// Input is a probe that came back.
func (s *session) Input(in *probes.Received, now time.Time) (time.Time, bool) {
	seq := uint16(in.ICMPv6[6])<<8 | uint16(in.ICMPv6[7])
	sent, ok := s.pending[seq]
	if !ok {
		return s.nextWake(), s.done()
	}
	delete(s.pending, seq)
	rx := in.Time // CLOCK_TAI, as the midpoints' and the T64 are
	var r Result
	var err error
	if s.opts.IOAM != nil {
		r, err = DecodeIOAM(in.HopByHop, in.RoutingHeader, s.opts.Session, rx)
	} else {
		r, err = Decode(in.HopByHop, in.RoutingHeader, s.opts.Session, s.opts.Template, rx)
	}
	if err != nil {
		r = Result{Seq: seq, Sent: sent.tai, Received: rx, RTT: rx.Sub(sent.tai), Err: err}
	}
	r.FlowLabel = sent.label
	s.sum.Received++
	if err == nil && s.opts.IOAM == nil {
		s.sum.Paths[r.PathKey()]++
	}
	s.emitResult(r)
	return s.nextWake(), s.done()
}

func (s *session) emitResult(r Result) {
	if s.emit != nil {
		s.emit(r)
	}
}

func (s *session) done() bool { return s.next >= s.opts.Count && len(s.pending) == 0 }

func (s *session) nextWake() time.Time {
	next := time.Time{}
	if s.next < s.opts.Count {
		next = s.plan
	}
	for _, sent := range s.pending {
		if t := sent.wall.Add(s.opts.Timeout); next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next
}
