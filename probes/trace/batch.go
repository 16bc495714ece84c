package trace

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/probes"
)

// probeSpec is one probe to send: which packet template, with which outer hop limit and flow
// label.
type probeSpec struct {
	template int
	hopLimit uint8
	flow     uint32
	query    int
}

// outcome is what became of one probe.
type outcome struct {
	spec     probeSpec
	seq      uint16
	sent     time.Time
	sentKey  uint32
	sentOK   bool
	sentKern bool
	answered bool
	kind     oam.ResultKind
	from     netip.Addr
	received time.Time
	recvKern bool
	icmpType uint8
	icmpCode uint8
	info     uint32
	// quotedSL is the Segments Left of the SRH quoted in an error, -1 without one; at is where
	// along the template's path the quote says the probe was (oam.Locate).
	quotedSL int
	at       oam.Position
	// quoteHopLimit is the outer hop limit in the quote (normally 0 or 1 for Time Exceeded).
	quoteHopLimit uint8
	// quote is a copy of the quoted packet (Options.Quotes).
	quote []byte
	// ioam is the IOAM trace the quote carried, ioamErr why one could not be read.
	ioam    *ioam.Record
	ioamErr error
}

// RTT is the round-trip time of an answered probe, from the kernel's TX timestamp when there was
// one, to the kernel's receive timestamp.
func (o *outcome) rtt() time.Duration {
	if !o.answered {
		return 0
	}
	return o.received.Sub(o.sent)
}

// template is a prepared probe packet and where to send it.
type template struct {
	builder  *probes.EchoBuilder
	firstHop netip.Addr
	// final is the address an Echo Reply comes from when the probe reaches its end.
	final netip.Addr
	// path is the segment list the probe carries and sentSRH whether it carries it in an SRH:
	// what quotes are located along; structure reads its containers.
	path      oam.SegmentList
	sent      oam.Sent
	structure oam.SIDStructure
}

// engine owns the sockets of one run: the Demux that reads them and the Loop every batch runs on.
type engine struct {
	conn      probes.PacketConn
	demux     *probes.Demux
	loop      *probes.EchoLoop
	id        uint16
	templates []template
	nextSeq   uint16
	closeOnce sync.Once
	// sendGap spaces consecutive probes (Options.SendInterval).
	sendGap time.Duration
	// sentProbes counts every probe sent in the run.
	sentProbes int
	// txKeys maps a TX timestamp key back to the outcome that is waiting for it.
	txKeys map[uint32]*outcome
	// emit, when set, gets every probe as it is answered or given up (trace.Run).
	emit func(Probe)
}

func newEngine(conn probes.PacketConn, id uint16, templates []template, gap time.Duration) *engine {
	e := &engine{conn: conn, id: id, templates: templates, sendGap: gap, txKeys: map[uint32]*outcome{}}
	e.demux = probes.NewDemux(conn)
	e.loop = probes.NewEchoLoop(e.demux)
	return e
}

// close closes the sockets and waits for the Demux's goroutine.
func (e *engine) close() error {
	e.closeOnce.Do(e.loop.Close)
	return e.demux.Close()
}

// batch sends specs and collects their outcomes. It returns when every probe that matters
// (needed, nil: every probe) has an answer or has been given up, or when ctx is done. A probe
// is given up wait after it was sent, or sooner as traceroute's -w MAX,HERE,NEAR does (here and
// near; see Options.WaitHere). needed prepares, from the outcomes so far, the rule that says
// whether a probe matters. The batch is one session on the engine's Loop.
func (e *engine) batch(ctx context.Context, specs []probeSpec, w waits,
	needed func(out []outcome) func(i int) bool, onAnswer func(out []outcome, i int)) ([]outcome, error) {
	b := &batch{e: e, out: make([]outcome, len(specs)), bySeq: make(map[uint16]int, len(specs)), w: w,
		needed: needed, onAnswer: onAnswer, rtt: make(map[hopKey]time.Duration, len(w.known))}
	for k, d := range w.known {
		b.rtt[k] = d
	}
	for i, s := range specs {
		b.out[i] = outcome{spec: s, seq: e.nextSeq, quotedSL: -1, at: oam.NoPosition}
		b.bySeq[e.nextSeq] = i
		e.nextSeq++
	}
	h, err := e.loop.Add(e.id, b)
	if err != nil {
		return nil, err
	}
	err = e.loop.Run(ctx, true)
	h.Remove()
	switch {
	case b.err != nil:
		e.stamp()
		return b.out, b.err
	case b.buildErr != nil:
		return nil, b.buildErr
	}
	e.finish(b.out)
	if err == nil && !b.finished && ctx.Err() == nil {
		err = errors.New("receive socket closed")
	}
	return b.out, err
}

// waits is how long a batch waits for a probe: at most max, and, once answers say how long a
// hop takes, here times the round trip of an answer from the probe's own hop, or near times
// that of an answer from a farther hop (0: that rule off).
type waits struct {
	max        time.Duration
	here, near float64
	// known are round trips answered before this batch (a retry's first batch): the rules
	// read them as they read the batch's own.
	known map[hopKey]time.Duration
}

// knownRTTs are the longest round trips answered per hop among outcomes.
func knownRTTs(out []outcome) map[hopKey]time.Duration {
	m := map[hopKey]time.Duration{}
	for i := range out {
		if o := &out[i]; o.answered {
			k := hopKey{o.spec.template, o.spec.hopLimit}
			m[k] = max(m[k], o.rtt())
		}
	}
	return m
}

// hopKey is one hop of one template: where round trips are kept for the wait rules.
type hopKey struct {
	template int
	hop      uint8
}

// batch is one batch of probes as a probes.Session: Wake sends the probes (spaced by the
// engine's sendGap) and gives up the overdue ones; Input takes the answers.
type batch struct {
	e        *engine
	out      []outcome
	bySeq    map[uint16]int
	next     int // the next probe to send
	lastSend time.Time
	w        waits
	needed   func(out []outcome) func(i int) bool
	onAnswer func(out []outcome, i int)
	// rtt is the longest round trip answered per hop, for the wait rules.
	rtt map[hopKey]time.Duration
	// err is a send error, buildErr a probe that could not be built; finished: the batch
	// ended by its own rule (every probe that matters answered or given up).
	err, buildErr error
	finished      bool
}

// Wake implements probes.Session.
func (b *batch) Wake(now time.Time) (time.Time, bool) {
	e := b.e
	for b.next < len(b.out) {
		if b.next > 0 && e.sendGap > 0 && now.Before(b.lastSend.Add(e.sendGap)) {
			return b.lastSend.Add(e.sendGap), false
		}
		o := &b.out[b.next]
		t := &e.templates[o.spec.template]
		pkt, err := t.builder.Build(o.seq)
		if err != nil {
			b.buildErr = err
			return time.Time{}, true
		}
		setHopLimitAndFlow(pkt, o.spec.hopLimit, o.spec.flow)
		info, err := e.conn.Send(pkt, t.firstHop)
		if err != nil {
			b.err = err
			return time.Time{}, true
		}
		b.next++
		e.sentProbes++
		o.sent, o.sentKey, o.sentOK = info.UserTime, info.Key, true
		if o.sent.IsZero() {
			o.sent = now
		}
		e.txKeys[info.Key] = o
		b.lastSend = now
		if e.sendGap > 0 {
			now = time.Now()
		}
	}
	return b.check(now)
}

// Input implements probes.Session: an answer to one of the batch's probes.
func (b *batch) Input(m *probes.Match, now time.Time) (time.Time, bool) {
	i, ok := b.bySeq[m.Seq]
	if ok && !b.out[i].answered && b.out[i].sentOK { // else: a duplicate
		o := &b.out[i]
		o.answered, o.from, o.received, o.recvKern = true, m.From, m.Time, m.Kernel
		o.kind = oam.KindError
		if m.Reply {
			o.kind = oam.KindReply
		}
		o.icmpType, o.icmpCode, o.info, o.quotedSL, o.quoteHopLimit = m.Type, m.Code, m.Info, m.QuotedSL, m.QuoteHopLimit
		o.ioam, o.ioamErr = m.IOAM, m.IOAMErr
		if !m.Reply {
			o.quote = m.Quote // the EchoLoop's copy (KeepQuotes), nil otherwise
		}
		t := &b.e.templates[o.spec.template]
		if !m.Reply {
			o.at = oam.Locate(t.path, t.structure, t.sent, m.Quoted())
		}
		k := hopKey{o.spec.template, o.spec.hopLimit}
		b.rtt[k] = max(b.rtt[k], o.rtt())
		if b.onAnswer != nil {
			b.onAnswer(b.out, i)
		}
		if b.e.emit != nil {
			b.e.readTx() // the probe came back: its TX timestamp is surely queued
			b.e.emit(probeOf(o))
		}
	}
	if b.next < len(b.out) {
		return b.lastSend.Add(b.e.sendGap), false // still sending
	}
	// Answers come in bursts: look again shortly, once, rather than at every answer.
	return now.Add(time.Millisecond), false
}

// check ends the batch when every probe that matters is answered or overdue, and otherwise
// says when the next one falls due.
func (b *batch) check(now time.Time) (time.Time, bool) {
	if b.next < len(b.out) {
		return b.lastSend.Add(b.e.sendGap), false
	}
	needed := func(int) bool { return true }
	if b.needed != nil {
		needed = b.needed(b.out)
	}
	// Per template, the longest round trip answered at or beyond each hop: what the near rule
	// reads for the hops before it.
	farther := map[hopKey]time.Duration{}
	if b.w.near > 0 {
		for k, d := range b.rtt {
			for h := 0; h < int(k.hop); h++ {
				f := hopKey{k.template, uint8(h)}
				farther[f] = max(farther[f], d)
			}
		}
	}
	var next time.Time
	for i := range b.out {
		o := &b.out[i]
		if !o.sentOK || o.answered || !needed(i) {
			continue
		}
		due := b.due(o, farther)
		if !now.Before(due) {
			continue
		}
		if next.IsZero() || due.Before(next) {
			next = due
		}
	}
	if next.IsZero() {
		b.finished = true
		return time.Time{}, true
	}
	return next, false
}

// due is when probe o is given up.
func (b *batch) due(o *outcome, farther map[hopKey]time.Duration) time.Time {
	d := o.sent.Add(b.w.max)
	k := hopKey{o.spec.template, o.spec.hopLimit}
	if rtt, ok := b.rtt[k]; ok && b.w.here > 0 {
		d = minTime(d, o.sent.Add(time.Duration(b.w.here*float64(rtt))))
	}
	if rtt, ok := farther[k]; ok && b.w.near > 0 {
		d = minTime(d, o.sent.Add(time.Duration(b.w.near*float64(rtt))))
	}
	return d
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// finish ends a batch: the kernel's TX timestamps in place of the user clock's, and every probe
// sent but not answered handed to emit as given up.
func (e *engine) finish(out []outcome) {
	e.stamp()
	if e.emit == nil {
		return
	}
	for i := range out {
		if out[i].sentOK && !out[i].answered {
			e.emit(probeOf(&out[i]))
		}
	}
}

// stamp replaces user-space send times by the kernel's TX timestamps where they came, and
// forgets the keys of those that never will.
func (e *engine) stamp() {
	e.readTx()
	clear(e.txKeys)
}

// readTx takes the TX timestamps waiting.
func (e *engine) readTx() {
	_ = e.conn.ReadTxTimestamps(func(key uint32, t time.Time) {
		if o, ok := e.txKeys[key]; ok {
			o.sent, o.sentKern = t, true
			delete(e.txKeys, key)
		}
	})
}

// probeOf is what a trace reports of one probe.
func probeOf(o *outcome) Probe {
	p := Probe{HopLimit: int(o.spec.hopLimit), Segment: o.spec.template, Flow: o.spec.flow, Answered: o.answered, Kind: oam.KindTimeout,
		QuotedSL: o.quotedSL, At: o.at}
	if o.answered {
		p.From, p.RTT, p.Kind, p.ICMPType, p.ICMPCode = o.from, o.rtt(), o.kind, o.icmpType, o.icmpCode
		p.Sent, p.IOAM, p.Quote = o.sent, o.ioam, o.quote
		if o.ioamErr != nil {
			p.IOAMErr = o.ioamErr.Error()
		}
		if o.kind == oam.KindError && o.icmpType != probes.ICMPv6TimeExceeded {
			p.Error = probes.DescribeError(o.icmpType, o.icmpCode, o.info)
		}
		if o.kind == oam.KindError && o.icmpType == probes.ICMPv6PacketTooBig {
			p.MTU = int(o.info)
		}
	}
	return p
}

// setHopLimitAndFlow patches the outer IPv6 header of a built probe: hop limit (byte 7) and
// flow label (low 20 bits of the first word). Neither is covered by the ICMPv6 checksum, so the
// packet stays valid. The inner header of an encapsulated probe keeps the builder's hop limit:
// the decapsulating destination delivers it locally and never decrements it.
func setHopLimitAndFlow(pkt []byte, hopLimit uint8, flow uint32) {
	pkt[7] = hopLimit
	pkt[1] = pkt[1]&0xf0 | byte(flow>>16)&0x0f
	pkt[2] = byte(flow >> 8)
	pkt[3] = byte(flow)
}
