package trace

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/srv6oam/srv6oam/oam"
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
	// quotedSL is the Segments Left of the SRH quoted in an error, -1 without one.
	quotedSL int
	// quoteHopLimit is the outer hop limit in the quote (normally 0 or 1 for Time Exceeded).
	quoteHopLimit uint8
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
}

// response is a received ICMPv6 message that belongs to this run, copied out of the Conn's
// buffers by the receiver goroutine.
type response struct {
	seq           uint16
	kind          oam.ResultKind
	from          netip.Addr
	at            time.Time
	kernel        bool
	icmpType      uint8
	icmpCode      uint8
	info          uint32
	quotedSL      int
	quoteHopLimit uint8
}

// engine owns the sockets of one run and the Demux that reads them.
type engine struct {
	conn      probes.PacketConn
	demux     *probes.Demux
	id        uint16
	templates []template
	nextSeq   uint16
	responses chan response
	quit      chan struct{}
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
	e := &engine{conn: conn, id: id, templates: templates, responses: make(chan response, 1024),
		quit: make(chan struct{}), sendGap: gap, txKeys: map[uint32]*outcome{}}
	e.demux = probes.NewDemux(conn)
	// The run's own Demux: the identifier is free. The handler waits for room (a trace
	// never drops an answer) until the engine closes.
	_, _ = e.demux.Register(id, func(m *probes.Match) {
		r := response{seq: m.Seq, from: m.From, at: m.Time, kernel: m.Kernel, icmpType: m.Type,
			icmpCode: m.Code, info: m.Info, quotedSL: m.QuotedSL, quoteHopLimit: m.QuoteHopLimit, kind: oam.KindError}
		if m.Reply {
			r.kind = oam.KindReply
		}
		select {
		case e.responses <- r:
		case <-e.quit:
		}
	})
	return e
}

// close closes the sockets and waits for the Demux's goroutine.
func (e *engine) close() error {
	e.closeOnce.Do(func() { close(e.quit) })
	return e.demux.Close()
}

// batch sends specs and collects their outcomes. It returns when every probe for which needed
// returns true has an answer, when wait has passed since the last probe was sent, or when ctx
// is done. needed is called with the outcomes so far; nil means every probe.
func (e *engine) batch(ctx context.Context, specs []probeSpec, wait time.Duration,
	needed func(out []outcome, i int) bool, onAnswer func(out []outcome, i int)) ([]outcome, error) {
	out := make([]outcome, len(specs))
	bySeq := make(map[uint16]int, len(specs))
	for i, s := range specs {
		out[i] = outcome{spec: s, seq: e.nextSeq, quotedSL: -1}
		bySeq[e.nextSeq] = i
		e.nextSeq++
	}
	handle := func(r response) {
		i, ok := bySeq[r.seq]
		if !ok || out[i].answered || !out[i].sentOK {
			return // a late answer to an earlier batch, or a duplicate
		}
		o := &out[i]
		o.answered, o.kind, o.from, o.received, o.recvKern = true, r.kind, r.from, r.at, r.kernel
		o.icmpType, o.icmpCode, o.info, o.quotedSL, o.quoteHopLimit = r.icmpType, r.icmpCode, r.info, r.quotedSL, r.quoteHopLimit
		if onAnswer != nil {
			onAnswer(out, i)
		}
		if e.emit != nil {
			e.readTx() // the probe came back: its TX timestamp is surely queued
			e.emit(probeOf(o))
		}
	}
	var sendErr error
	for i := range out {
		if ctx.Err() != nil {
			break
		}
		if i > 0 && e.sendGap > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(e.sendGap):
			}
		}
		o := &out[i]
		t := &e.templates[o.spec.template]
		pkt, err := t.builder.Build(o.seq)
		if err != nil {
			return nil, err
		}
		setHopLimitAndFlow(pkt, o.spec.hopLimit, o.spec.flow)
		info, err := e.conn.Send(pkt, t.firstHop)
		if err != nil {
			sendErr = err
			break
		}
		e.sentProbes++
		o.sent, o.sentKey, o.sentOK = info.UserTime, info.Key, true
		e.txKeys[info.Key] = o
		// Keep the socket drained while a long batch is being sent.
		for drained := false; !drained; {
			select {
			case r := <-e.responses:
				handle(r)
			default:
				drained = true
			}
		}
	}
	if sendErr != nil {
		e.stamp()
		return out, sendErr
	}
	complete := func() bool {
		for i := range out {
			if out[i].sentOK && !out[i].answered && (needed == nil || needed(out, i)) {
				return false
			}
		}
		return true
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for !complete() {
		select {
		case <-ctx.Done():
			e.finish(out)
			return out, nil
		case <-deadline.C:
			e.finish(out)
			return out, nil
		case r := <-e.responses:
			handle(r)
		case <-e.demux.Done():
			e.finish(out)
			if err := e.demux.Err(); err != nil {
				return out, err
			}
			return out, errors.New("receive socket closed")
		}
	}
	e.finish(out)
	return out, nil
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
	p := Probe{HopLimit: int(o.spec.hopLimit), Segment: o.spec.template, Flow: o.spec.flow, Answered: o.answered, Kind: oam.KindTimeout, QuotedSL: o.quotedSL}
	if o.answered {
		p.From, p.RTT, p.Kind, p.ICMPType, p.ICMPCode = o.from, o.rtt(), o.kind, o.icmpType, o.icmpCode
		if o.kind == oam.KindError && o.icmpType != probes.ICMPv6TimeExceeded {
			p.Error = probes.DescribeError(o.icmpType, o.icmpCode, o.info)
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
