// Package ping is the engine behind srv6-ping: ICMPv6 Echo Requests along a segment list, in
// either SRv6 encoding, with replies and ICMPv6 errors matched back to their probe. It follows
// the shape probes.ProbeFunc, as trace and the monitor do.
package ping

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
)

// Options of one ping run. The zero value of a field means its default.
type Options struct {
	// Count of probes; 0 pings until ctx is done.
	Count int
	// Quotes keeps every ICMPv6 error's quoted packet (oam.Result.Quote), for srv6-ping -v.
	Quotes bool
	// Interval between probes (ping -i); default 1s. 0 is allowed with Flood.
	Interval time.Duration
	// Flood sends the next probe as soon as the previous one left (Interval ignored).
	Flood bool
	// Timeout after which a probe without answer is lost (ping -W); default 10s. After the
	// last probe, once any reply came, the run waits at most max(2 × the largest RTT,
	// Interval) more, as iputils does.
	Timeout time.Duration
	// PayloadSize is the echo data size (ping -s); default 56. Set NoPayload for 0.
	PayloadSize int
	NoPayload   bool
	// HopLimit (ping -t); default 64.
	HopLimit int
	// TrafficClass and FlowLabel (ping -F) of the outer header.
	TrafficClass uint8
	FlowLabel    uint32
	// Source address; default: what the kernel picks toward the first segment.
	Source netip.Addr
	// Interface binds the sockets to an interface (ping -I name).
	Interface string
	// Encoding of the segment list: probes.Encap (default), probes.EncapRed, probes.Insert or
	// probes.InsertRed.
	Encoding probes.Encoding
	// Structure is the SID structure of compressed segments (uSID containers) in the list: how
	// errors quoting a shifted container are read. Zero: the common structures are tried.
	Structure oam.SIDStructure
	// OAM sets the SRH O-flag.
	OAM bool
	// HMAC signs the SRH.
	HMAC *srh.HMACKey
	// Window bounds the probes outstanding at once (memory is O(Window)); default 1024, at
	// most 32768. The sender waits when the window is full.
	Window int
	// Identifier of the echo probes; default random per run.
	Identifier uint16
	// Tap sees every packet sent and received (srv6-ping --pcap).
	Tap probes.Tap
	// NoTxTimestamps turns kernel TX timestamps off (send time from the user clock).
	NoTxTimestamps bool

	// For many runs on one Loop (srv6-monitor's echo jobs):

	// Phase delays the first probe (a random phase keeps jobs of one interval apart).
	Phase time.Duration
	// Jitter moves every planned send by up to ±Jitter/2 of the interval, at random, so that
	// runs with the same interval never fall into step; 0 for none.
	Jitter float64
	// FlowLabels spreads the probes over this many flow labels (FlowLabel, FlowLabel+1, …, by
	// sequence), so that every ECMP path is exercised; 0 or 1: one label.
	FlowLabels int
	// OnSend, when set, is called for every probe sent, with the time it was planned for.
	OnSend func(seq int, planned, at time.Time)
	// Resolve, when set, picks the source address when the first probe is due, and again for
	// every probe until it succeeds: a run may start before its route exists, each due probe
	// then a send error, never the end of the run.
	Resolve func() (netip.Addr, error)
}

const maxWindow = 32768

func (o Options) withDefaults() (Options, error) {
	if o.Count < 0 {
		return o, fmt.Errorf("count %d: must be 0 (no limit) or more", o.Count)
	}
	if o.Interval < 0 {
		return o, fmt.Errorf("interval %v: must not be negative", o.Interval)
	}
	if o.Interval == 0 && !o.Flood {
		o.Interval = time.Second
	}
	if o.Timeout < 0 {
		return o, fmt.Errorf("timeout %v: must not be negative", o.Timeout)
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.PayloadSize < 0 || o.PayloadSize > probes.MaxPayload {
		return o, fmt.Errorf("payload size %d: must be 0 to %d", o.PayloadSize, probes.MaxPayload)
	}
	if o.PayloadSize == 0 && !o.NoPayload {
		o.PayloadSize = 56
	}
	if o.HopLimit < 0 || o.HopLimit > 255 {
		return o, fmt.Errorf("hop limit %d: must be 1 to 255", o.HopLimit)
	}
	if o.HopLimit == 0 {
		o.HopLimit = 64
	}
	if o.FlowLabel > 0xfffff {
		return o, fmt.Errorf("flow label %#x: must fit in 20 bits (at most 0xfffff)", o.FlowLabel)
	}
	if o.Window < 0 || o.Window > maxWindow {
		return o, fmt.Errorf("window %d: must be 1 to %d", o.Window, maxWindow)
	}
	if o.Window == 0 {
		o.Window = 1024
	}
	if o.Identifier == 0 {
		o.Identifier = uint16(rand.N(0xffff)) + 1
	}
	if o.Jitter < 0 || o.Jitter > 1 {
		return o, fmt.Errorf("jitter %v: must be 0 to 1 (a fraction of the interval)", o.Jitter)
	}
	if o.FlowLabels < 0 || uint64(o.FlowLabel)+uint64(max(o.FlowLabels, 1))-1 > 0xfffff {
		return o, fmt.Errorf("flow labels %d from %#x: must stay within 20 bits", o.FlowLabels, o.FlowLabel)
	}
	return o, nil
}

// Probe implements probes.ProbeFunc for ICMPv6 echo.
var _ probes.ProbeFunc[Options, oam.Result, oam.Summary] = Probe

// Probe pings target with opts; see probes.ProbeFunc for the contract.
func Probe(ctx context.Context, target oam.Target, opts Options, emit func(oam.Result)) (oam.Summary, error) {
	p, err := New(ctx, target, opts)
	if err != nil {
		return oam.Summary{}, err
	}
	defer p.Close()
	return p.Run(ctx, emit)
}

// Pinger is a prepared run: sockets open, source chosen, probe template built. New then Run
// lets a caller report setup errors (permission, route, options) before printing anything.
type Pinger struct {
	r      *run
	source netip.Addr
}

// New checks the options, picks the source, opens the sockets and builds the probe template.
func New(ctx context.Context, target oam.Target, opts Options) (*Pinger, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	src, err := Source(ctx, target, opts)
	if err != nil {
		return nil, err
	}
	opts.Source = src
	conn, err := probes.Dial(probes.Config{Interface: opts.Interface, TxTimestamps: !opts.NoTxTimestamps, Tap: opts.Tap})
	if err != nil {
		return nil, err
	}
	p, err := NewOn(conn, target, opts)
	if err != nil {
		conn.Close()
	}
	return p, err
}

// NewOn prepares a run on conn, which it owns from then on (Run and Close close it): the seam
// that lets the engine run on a scripted network (probes/probetest). opts.Source must be set.
func NewOn(conn probes.PacketConn, target oam.Target, opts Options) (*Pinger, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	r, err := newSession(conn, target, opts, nil)
	if err != nil {
		return nil, err
	}
	return &Pinger{r: r, source: opts.Source}, nil
}

// NewSession prepares a run as a probes.Session, to be put on a Loop shared with other runs
// (srv6-monitor's echo jobs): it sends on conn, which it does not close, gets its answers by
// opts.Identifier from the Loop, and hands every Result to emit on the Loop's goroutine.
// opts.Source or opts.Resolve must be set.
func NewSession(conn probes.PacketConn, target oam.Target, opts Options, emit func(oam.Result)) (probes.Session[probes.Match], Options, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, opts, err
	}
	r, err := newSession(conn, target, opts, emit)
	if err != nil {
		return nil, opts, err
	}
	return r, r.opts, nil
}

func newSession(conn probes.PacketConn, target oam.Target, opts Options, emit func(oam.Result)) (*run, error) {
	if !opts.Source.IsValid() && opts.Resolve == nil {
		return nil, errors.New("ping: a source address is needed")
	}
	r := newRun(target, opts, nil, conn, emit)
	if opts.Source.IsValid() {
		if err := r.build(opts.Source); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// build makes the probe template from src.
func (r *run) build(src netip.Addr) error {
	o := r.opts
	b, err := probes.NewEchoBuilder(probes.EchoConfig{
		Target: r.target, Source: src, Encoding: o.Encoding, ID: o.Identifier, PayloadSize: o.PayloadSize,
		HopLimit: uint8(o.HopLimit), TrafficClass: o.TrafficClass, FlowLabel: o.FlowLabel, OAM: o.OAM, HMAC: o.HMAC,
	})
	if err != nil {
		return err
	}
	r.builder, r.opts.Source = b, src
	return nil
}

// SourceAddr is the source address of the probes.
func (p *Pinger) SourceAddr() netip.Addr { return p.source }

// Options are the options with defaults filled in (the identifier included).
func (p *Pinger) Options() Options { return p.r.opts }

// Run sends the probes and returns when the count is done or ctx is; it may be called once.
// It closes the sockets when it returns.
func (p *Pinger) Run(ctx context.Context, emit func(oam.Result)) (oam.Summary, error) {
	if p.r.emit != nil {
		return oam.Summary{}, errors.New("ping: Run called twice")
	}
	p.r.emit = emit
	return p.r.run(ctx)
}

// Close releases the sockets of a Pinger that will not Run; after Run it does nothing.
func (p *Pinger) Close() error { return p.r.conn.Close() }

// Source returns the source address Probe would use for target: opts.Source, or what the
// kernel picks toward the first segment. The CLI prints it in its first line.
// The error wraps probes.ErrNoRoute when the kernel has no route to the first segment, even
// with an explicit source: nothing could be sent.
func Source(ctx context.Context, target oam.Target, opts Options) (netip.Addr, error) {
	src, err := probes.SourceFor(ctx, target.FirstHop(), opts.Interface)
	if err != nil {
		if len(target.Segments) > 0 {
			return netip.Addr{}, fmt.Errorf("first segment: %w", err)
		}
		return netip.Addr{}, fmt.Errorf("destination: %w", err)
	}
	if opts.Source.IsValid() {
		return opts.Source, nil
	}
	return src, nil
}

// slot states
const (
	slotFree uint8 = iota
	slotPending
	slotAnswered
	slotErrored
	slotLost
)

// slot is the record of one outstanding (or recently resolved) probe.
type slot struct {
	seq      int
	state    uint8
	key      uint32
	userSent time.Time
	kernSent time.Time
}

type run struct {
	target oam.Target
	// path is target.Path(), and sentSRH whether the probes carry an SRH: what errors' quotes
	// are located along.
	path    oam.SegmentList
	sent    oam.Sent
	opts    Options
	builder *probes.EchoBuilder
	conn    probes.PacketConn
	emit    func(oam.Result)
	slots   []slot
	keySeq  []int // TX timestamp key → sequence, ring of Window entries
	summary oam.Summary

	next      int // next sequence to send (first is 1)
	oldest    int // lowest sequence that may still be pending
	lastSend  time.Time
	onTxStamp func(key uint32, t time.Time)

	// The schedule: when the next probe is planned, and whether it waits for a slot of the
	// window to free.
	plan             time.Time
	waitingForWindow bool
	rng              *rand.Rand
	// err ends the run: a setup error found when the first probe left.
	err error
}

func newRun(target oam.Target, opts Options, b *probes.EchoBuilder, c probes.PacketConn, emit func(oam.Result)) *run {
	r := &run{
		target: target, opts: opts, builder: b, conn: c, emit: emit,
		path: target.Path(), sent: probes.Sends(target, opts.Encoding, opts.HMAC != nil),
		slots:  make([]slot, opts.Window),
		keySeq: make([]int, opts.Window),
		next:   1, oldest: 1,
	}
	r.onTxStamp = r.txStamp
	return r
}

func (r *run) run(ctx context.Context) (oam.Summary, error) {
	demux := probes.NewDemux(r.conn)
	loop := probes.NewEchoLoop(demux)
	loop.KeepQuotes = r.opts.Quotes
	defer func() {
		loop.Close()
		demux.Close() // closes the socket
	}()
	if _, err := loop.Add(r.opts.Identifier, r); err != nil {
		return r.summary, err
	}
	err := loop.Run(ctx, true)
	r.finish()
	if r.err != nil {
		return r.summary, r.err
	}
	return r.summary, err
}

// Wake implements probes.Session: expire what is overdue, send the probe that is due.
func (r *run) Wake(now time.Time) (time.Time, bool) {
	if r.err != nil {
		return time.Time{}, true
	}
	if r.plan.IsZero() {
		r.plan = now.Add(r.opts.Phase)
	}
	r.expire(now)
	r.advance()
	if r.waitingForWindow && r.slots[r.next%len(r.slots)].state != slotPending {
		r.waitingForWindow = false
	}
	if r.moreToSend() && !r.waitingForWindow && !now.Before(r.plan) {
		if r.slots[r.next%len(r.slots)].state == slotPending {
			r.waitingForWindow = true
		} else {
			planned := r.plan
			if err := r.send(); err != nil {
				r.err = err
				return time.Time{}, true
			}
			if r.opts.OnSend != nil {
				r.opts.OnSend(r.next-1, planned, r.lastSend)
			}
			r.planNext(now)
		}
	}
	return r.nextWake(), r.done()
}

// Input implements probes.Session: an answer to one of the run's probes.
func (r *run) Input(m *probes.Match, now time.Time) (time.Time, bool) {
	r.handle(*m)
	if r.waitingForWindow && r.slots[r.next%len(r.slots)].state != slotPending {
		r.waitingForWindow = false
		return now, r.done()
	}
	return r.nextWake(), r.done()
}

func (r *run) moreToSend() bool { return r.opts.Count == 0 || r.next <= r.opts.Count }

// done: every probe sent and resolved.
func (r *run) done() bool { return !r.moreToSend() && r.oldest >= r.next }

// planNext plans the probe after the one just sent: one interval after the last plan (moved by
// the jitter). A run that fell more than an interval behind skips the intervals it missed (no
// burst to catch up) and keeps its phase: the monitor's jobs, all late after a stall, must not
// all be planned for the same instant, or they stay in step, one wave of every probe at once.
func (r *run) planNext(now time.Time) {
	iv := r.interval()
	r.plan = r.plan.Add(iv)
	if r.opts.Jitter > 0 && iv > 0 {
		if r.rng == nil {
			r.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		}
		span := int64(float64(iv) * r.opts.Jitter)
		if span > 0 {
			r.plan = r.plan.Add(time.Duration(r.rng.Int64N(span) - span/2))
		}
	}
	if behind := now.Sub(r.plan); behind > iv {
		if iv > 0 {
			r.plan = r.plan.Add(behind / iv * iv)
		} else {
			r.plan = now
		}
	}
}

// nextWake is the earlier of the next planned send and the deadline of the oldest pending probe.
func (r *run) nextWake() time.Time {
	r.advance()
	var t time.Time
	if r.moreToSend() && !r.waitingForWindow {
		t = r.plan
	}
	if r.oldest < r.next {
		if d := r.deadline(&r.slots[r.oldest%len(r.slots)]); t.IsZero() || d.Before(t) {
			t = d
		}
	}
	return t
}

func (r *run) interval() time.Duration {
	if r.opts.Flood {
		return 0
	}
	return r.opts.Interval
}

func (r *run) finish() {
	if !r.summary.Start.IsZero() {
		r.summary.Elapsed = time.Since(r.summary.Start)
	}
}

// send builds and sends probe r.next.
func (r *run) send() error {
	seq := r.next
	if r.builder == nil {
		// No source yet (Options.Resolve): this probe is a send error until there is one.
		src, err := r.opts.Resolve()
		if err == nil {
			err = r.build(src)
		}
		if err != nil {
			r.sendFailed(seq, err)
			return nil
		}
	}
	pkt, err := r.builder.Build(uint16(seq))
	if err != nil {
		return fmt.Errorf("build probe %d: %w", seq, err)
	}
	if n := r.opts.FlowLabels; n > 1 {
		// The flow label is outside every checksum: rewrite it in place.
		fl := r.opts.FlowLabel + uint32(seq%n)
		binary.BigEndian.PutUint32(pkt[0:4], binary.BigEndian.Uint32(pkt[0:4])&^0xfffff|fl)
	}
	info, err := r.conn.Send(pkt, r.builder.FirstHop())
	setupErr := err != nil && errors.Is(err, probes.ErrNoRoute) && seq == 1 && r.opts.Resolve == nil
	if err != nil && !setupErr {
		// A send failure costs this probe only, as in iputils; it is reported as an error.
		r.sendFailed(seq, err)
		return nil
	}
	r.next++
	r.summary.Transmitted++
	if r.summary.Start.IsZero() {
		r.summary.Start = time.Now()
	}
	if setupErr {
		return err // nothing ever worked: a setup error, not a lost probe
	}
	r.slots[seq%len(r.slots)] = slot{seq: seq, state: slotPending, key: info.Key, userSent: info.UserTime}
	r.keySeq[int(info.Key)%len(r.keySeq)] = seq
	r.lastSend = info.UserTime
	_ = r.conn.ReadTxTimestamps(r.onTxStamp)
	return nil
}

// sendFailed accounts probe seq, which could not be sent, as an error.
func (r *run) sendFailed(seq int, err error) {
	r.next++
	r.summary.Transmitted++
	now := time.Now()
	if r.summary.Start.IsZero() {
		r.summary.Start = now
	}
	r.lastSend = now
	r.slots[seq%len(r.slots)] = slot{seq: seq, state: slotErrored}
	res := oam.Result{Seq: seq, Kind: oam.KindError, HopLimit: -1, At: oam.NoPosition, Error: err.Error(), Sent: now, SentClock: oam.ClockUser}
	r.summary.Add(res)
	r.emit(res)
}

// txStamp records a kernel TX timestamp if it plausibly belongs to its probe.
func (r *run) txStamp(key uint32, t time.Time) {
	seq := r.keySeq[int(key)%len(r.keySeq)]
	s := &r.slots[seq%len(r.slots)]
	if s.seq != seq || s.key != key || !s.kernSent.IsZero() {
		return
	}
	// The kernel stamps when the packet reaches the device, after our clock read.
	if d := t.Sub(s.userSent); d >= 0 && d < time.Second {
		s.kernSent = t
	}
}

// seqFor maps a 16-bit wire sequence to the most recent full sequence sent with it.
func (r *run) seqFor(wire uint16) (int, bool) {
	last := r.next - 1
	if last < 1 {
		return 0, false
	}
	back := int(uint16(last) - wire)
	seq := last - back
	if seq < 1 || back >= len(r.slots) {
		return 0, false
	}
	return seq, true
}

func (r *run) handle(ev probes.Match) {
	seq, ok := r.seqFor(ev.Seq)
	if !ok {
		return // older than the window, or never sent by this run
	}
	s := &r.slots[seq%len(r.slots)]
	if s.seq != seq || s.state == slotFree {
		return
	}
	if s.kernSent.IsZero() && r.conn != nil {
		// The TX timestamp is surely queued by now: the probe came back.
		_ = r.conn.ReadTxTimestamps(r.onTxStamp)
	}
	res := oam.Result{
		Seq: seq, From: ev.From, Bytes: ev.Bytes, HopLimit: ev.HopLimit,
		Sent: s.userSent, SentClock: oam.ClockUser, Received: ev.Time, ReceivedClock: oam.ClockUser,
		ICMPType: ev.Type, ICMPCode: ev.Code, At: oam.NoPosition,
	}
	if !s.kernSent.IsZero() {
		res.Sent, res.SentClock = s.kernSent, oam.ClockKernel
		res.SendDelay = s.kernSent.Sub(s.userSent)
	}
	if ev.Kernel {
		res.ReceivedClock = oam.ClockKernel
	}
	res.RTT = res.Received.Sub(res.Sent)
	if ev.Reply {
		res.Kind = oam.KindReply
		switch s.state {
		case slotAnswered:
			res.Duplicate = true
		case slotLost:
			res.Late = true
		default:
			s.state = slotAnswered
		}
	} else {
		res.Kind = oam.KindError
		res.Error = probes.DescribeError(ev.Type, ev.Code, ev.Info)
		res.At = oam.Locate(r.path, r.opts.Structure, r.sent, ev.Quoted())
		res.Quote = ev.Quote
		if s.state == slotPending {
			s.state = slotErrored
		}
	}
	r.summary.Add(res)
	r.emit(res)
	r.advance()
}

// advance moves oldest past resolved probes.
func (r *run) advance() {
	for r.oldest < r.next {
		s := &r.slots[r.oldest%len(r.slots)]
		if s.seq == r.oldest && s.state == slotPending {
			return
		}
		r.oldest++
	}
}

// deadline is when the pending probe in s is declared lost.
func (r *run) deadline(s *slot) time.Time {
	d := s.userSent.Add(r.opts.Timeout)
	if r.opts.Count > 0 && r.next > r.opts.Count && r.summary.Received > 0 {
		// After the last probe, iputils waits twice the largest RTT (at least one interval).
		linger := 2 * r.summary.RTT.Max
		if linger < r.opts.Interval {
			linger = r.opts.Interval
		}
		if l := r.lastSend.Add(linger); l.Before(d) {
			d = l
		}
	}
	return d
}

func (r *run) expire(now time.Time) {
	for r.oldest < r.next {
		s := &r.slots[r.oldest%len(r.slots)]
		if s.seq == r.oldest && s.state == slotPending {
			if now.Before(r.deadline(s)) {
				return
			}
			s.state = slotLost
			res := oam.Result{Seq: s.seq, Kind: oam.KindTimeout, HopLimit: -1, At: oam.NoPosition,
				Sent: s.userSent, SentClock: oam.ClockUser}
			r.summary.Add(res)
			r.emit(res)
		}
		r.oldest++
	}
}
