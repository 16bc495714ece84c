package probes

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
)

// Match is one ICMPv6 message about an echo probe: the Echo Reply to it, or an ICMPv6 error
// that quotes it. It is a copy: nothing in it points into receive buffers.
type Match struct {
	// ID and Seq are the probe's echo identifier and sequence.
	ID, Seq uint16
	// foreign: the echo data is not this process's (OwnEchoData); never handed to a handler.
	foreign bool
	// Reply is set for an Echo Reply; otherwise the message is an ICMPv6 error about the probe.
	Reply bool
	From  netip.Addr
	// HopLimit of the received packet, -1 when unknown.
	HopLimit int
	// Time is when the message arrived: the kernel's receive timestamp when Kernel is set.
	Time   time.Time
	Kernel bool
	// Type, Code and Info (MTU, pointer) of the message; Bytes its size, header included.
	Type, Code uint8
	Info       uint32
	Bytes      int
	// For an error: the quoted packet's outer destination and Segments Left of its SRH (-1
	// without one; QuotedSRH says whether it had one), and its outer hop limit. Engines find
	// the active segment from them and their own segment list (oam.Locate).
	QuotedDst     netip.Addr
	QuotedSRH     bool
	QuotedSL      int
	QuotedEncap   bool // the quote holds an inner IPv6 header
	QuoteHopLimit uint8
	// IOAM is the IOAM Pre-allocated Trace the quoted probe carried in its Hop-by-Hop header,
	// as far as it was filled when the error was raised (nil without one); IOAMErr says why a
	// trace that was there could not be read.
	IOAM    *ioam.Record
	IOAMErr error
	// Quote is the quoted packet itself (an error's invoking packet, as much as the error
	// holds), from its outer IPv6 header. It aliases the Demux's receive buffer while a handler
	// runs; an EchoLoop hands its sessions a copy (KeepQuotes) or nil.
	Quote []byte
}

// Quoted is the part of m that oam.Locate reads.
func (m *Match) Quoted() oam.Quoted {
	return oam.Quoted{Dst: m.QuotedDst, HasSRH: m.QuotedSRH, SegmentsLeft: m.QuotedSL, Encapsulated: m.QuotedEncap}
}

// Demux is srv6oam's one ICMPv6 demultiplexer: it reads a PacketConn and hands each message
// about an echo probe to the handler registered for the probe's echo identifier; what belongs
// to nobody (another process's pings, errors about other traffic) is counted and dropped.
// Ping, trace and the monitor's echo jobs each register an identifier; a Demux may be one
// run's own or shared by thousands of jobs.
//
// Handlers run on the Demux's goroutine, one message at a time: they must return quickly (copy
// what they need, hand it to their own goroutine); one that blocks holds up every other.
type Demux struct {
	conn      PacketConn
	mu        sync.RWMutex
	handlers  map[uint16]func(*Match)
	unmatched atomic.Uint64
	foreign   atomic.Uint64
	done      chan struct{}
	err       error // why the reader stopped; set before done is closed
	closing   atomic.Bool
	closeOnce sync.Once
	poll      *pollState // Poll's, made at its first call
}

// NewDemux starts reading conn; Close stops it and closes conn.
func NewDemux(conn PacketConn) *Demux {
	d := &Demux{conn: conn, handlers: map[uint16]func(*Match){}, done: make(chan struct{})}
	go d.read()
	return d
}

// ErrIdentifierTaken is returned by Register for an identifier already registered.
var ErrIdentifierTaken = errors.New("echo identifier already registered")

// Register routes the messages of echo identifier id to h until the returned function is
// called.
func (d *Demux) Register(id uint16, h func(*Match)) (unregister func(), err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.handlers[id]; ok {
		return nil, fmt.Errorf("identifier %d: %w", id, ErrIdentifierTaken)
	}
	d.handlers[id] = h
	return func() {
		d.mu.Lock()
		delete(d.handlers, id)
		d.mu.Unlock()
	}, nil
}

// Unmatched counts messages about echo probes of no registered identifier.
func (d *Demux) Unmatched() uint64 { return d.unmatched.Load() }

// Foreign counts messages under a registered identifier about another process's echo probes
// (OwnEchoData): two processes on the host chose one identifier. They are dropped.
func (d *Demux) Foreign() uint64 { return d.foreign.Load() }

// Done is closed when the reader stopped: after Close, or when the PacketConn failed (Err).
func (d *Demux) Done() <-chan struct{} { return d.done }

// Err is why the reader stopped on its own, nil while it runs and after Close.
func (d *Demux) Err() error {
	select {
	case <-d.done:
		return d.err
	default:
		return nil
	}
}

// Close closes the PacketConn and waits for the reader to stop.
func (d *Demux) Close() error {
	var err error
	d.closeOnce.Do(func() {
		d.closing.Store(true)
		err = d.conn.Close()
	})
	<-d.done
	return err
}

func (d *Demux) read() {
	defer close(d.done)
	var (
		rx  Received
		msg ICMPv6Message
		m   Match
	)
	for {
		if err := d.conn.Receive(time.Time{}, &rx); err != nil {
			if d.closing.Load() || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			d.err = fmt.Errorf("receive ICMPv6: %w", err)
			return
		}
		if classify(&rx, &msg, &m) {
			d.dispatch(&m)
		}
	}
}

// TryReceiver is a PacketConn that can also be read without waiting, from another goroutine
// than its Receive's (Conn.TryReceive).
type TryReceiver interface {
	TryReceive(r *Received) (bool, error)
}

// Poll takes up to max messages waiting in the socket now, without blocking, on the caller's
// goroutine, beside the reader's: each message about an echo probe goes to direct, or, when
// direct declines it (it returns false: not one of its identifiers), to the handler registered
// for it, as the reader would. It returns how many messages it took; 0 when the PacketConn
// cannot be read that way. One goroutine at a time may Poll.
func (d *Demux) Poll(max int, direct func(*Match) bool) (int, error) {
	tr, ok := d.conn.(TryReceiver)
	if !ok {
		return 0, nil
	}
	if d.poll == nil {
		d.poll = &pollState{}
	}
	p := d.poll
	n := 0
	for n < max {
		got, err := tr.TryReceive(&p.rx)
		if err != nil || !got {
			return n, err
		}
		n++
		if !classify(&p.rx, &p.msg, &p.m) || (!p.m.foreign && direct(&p.m)) {
			continue
		}
		d.dispatch(&p.m)
	}
	return n, nil
}

// pollState is Poll's reused decoding state.
type pollState struct {
	rx  Received
	msg ICMPv6Message
	m   Match
}

// dispatch hands m to the handler of its identifier, or counts it unmatched (no handler) or
// foreign (another process's probe under the handler's identifier).
func (d *Demux) dispatch(m *Match) {
	d.mu.RLock()
	h := d.handlers[m.ID]
	d.mu.RUnlock()
	switch {
	case h == nil:
		d.unmatched.Add(1)
	case m.foreign:
		d.foreign.Add(1)
	default:
		h(m)
	}
}

// classify decodes one received ICMPv6 message into m when it is about an echo probe (an Echo
// Reply, or an error whose quote reaches the Echo Request), marking it foreign when the probe
// is not this process's, and reports whether it is.
func classify(rx *Received, msg *ICMPv6Message, m *Match) bool {
	if ParseICMPv6(rx.ICMPv6, msg) != nil {
		return false
	}
	*m = Match{From: rx.From, HopLimit: rx.HopLimit, Time: rx.Time, Kernel: rx.TimeFromKernel,
		Type: msg.Type, Code: msg.Code, Info: msg.Info, Bytes: len(rx.ICMPv6), QuotedSL: -1}
	switch {
	case msg.Type == ICMPv6EchoReply:
		m.Reply, m.ID, m.Seq, m.foreign = true, msg.ID, msg.Seq, !OwnEchoData(msg.Body)
	case msg.IsError() && msg.Quote.HasEcho:
		q := &msg.Quote
		m.foreign = !OwnEchoData(q.EchoData)
		m.ID, m.Seq, m.QuoteHopLimit, m.QuotedDst, m.QuotedEncap = q.ID, q.Seq, q.HopLimit, q.Dst, q.Encapsulated
		m.Quote = msg.Body
		if q.HasSRH {
			m.QuotedSRH, m.QuotedSL = true, int(q.SRH.SegmentsLeft)
		}
		if q.HopByHop != nil {
			m.IOAM, m.IOAMErr = QuotedIOAM(q.HopByHop)
		}
	default:
		return false
	}
	return true
}

// QuotedIOAM reads the IOAM trace of a Hop-by-Hop header: nil, nil when it holds none.
func QuotedIOAM(hbh []byte) (*ioam.Record, error) {
	tr, ok, err := ioam.FindTrace(hbh)
	if err != nil || !ok {
		return nil, err
	}
	rec, err := tr.Record()
	if err != nil {
		return nil, err
	}
	return &rec, nil
}
