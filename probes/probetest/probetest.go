// Package probetest is a scripted network for engine tests without root or a kernel, as
// mdlayher/netlink's nltest is for netlink: a Conn implements probes.PacketConn, decodes every
// probe an engine sends and asks a Network function what comes back (Echo Replies, ICMPv6
// errors quoting the probe with its SRH, nothing, duplicates, answers after a delay); a test may
// also Inject an answer at the moment it chooses (a late reply once the engine gave up).
package probetest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
)

// Probe is one packet an engine sent, decoded.
type Probe struct {
	// Packet is a copy of the whole IPv6 packet as sent.
	Packet   []byte
	Sent     time.Time
	Key      uint32 // its TX timestamp key
	FirstHop netip.Addr
	// The outer IPv6 header.
	Src, Dst  netip.Addr
	HopLimit  uint8
	FlowLabel uint32
	// HopByHop is the Hop-by-Hop Options header behind the outer header (an IOAM trace's),
	// nil without one.
	HopByHop []byte
	// SRH is the routing header, nil without one.
	SRH *srh.SRH
	// Encapsulated: the SRH carries an inner IPv6 packet (H.Encaps); FinalDst is where the
	// probe finally goes (the inner destination, the final segment, or Dst).
	Encapsulated bool
	FinalDst     netip.Addr
	// ID and Seq of the Echo Request; Echo is false when the packet holds none.
	Echo    bool
	ID, Seq uint16
	// EchoMessage is the ICMPv6 Echo Request (header and payload).
	EchoMessage []byte
}

// Answer is an ICMPv6 message that comes back for a probe.
type Answer struct {
	// ICMPv6 is the message, header first, as a raw ICMPv6 socket returns it.
	ICMPv6   []byte
	From     netip.Addr
	HopLimit int
	// Delay after the probe was sent (or after Inject) at which it arrives.
	Delay time.Duration
	// Copies is how many times it arrives (0 and 1: once).
	Copies int
	// RoutingHeader is the routing header it arrives with (a returning timestamped probe's
	// SRH, as IPV6_RECVRTHDR gives it); nil for none.
	RoutingHeader []byte
	// HopByHop is the Hop-by-Hop header it arrives with (IPV6_RECVHOPOPTS); nil for none.
	HopByHop []byte
}

// Network decides what comes back for each probe sent; it runs in the sender's goroutine.
type Network func(p *Probe) []Answer

// EchoReply is the Echo Reply of the probe's destination, from from.
func EchoReply(p *Probe, from netip.Addr, hopLimit int) Answer {
	m := append([]byte(nil), p.EchoMessage...)
	m[0], m[2], m[3] = probes.ICMPv6EchoReply, 0, 0 // the checksum is not checked by engines
	return Answer{ICMPv6: m, From: from, HopLimit: hopLimit}
}

// Error is an ICMPv6 error from from that quotes the probe as Linux does: as much of the
// invoking packet as fits in the minimum MTU (1280 − 40 − 8 bytes), SRH included.
func Error(p *Probe, from netip.Addr, typ, code uint8, info uint32) Answer {
	quote := p.Packet[:min(len(p.Packet), 1232)]
	m := make([]byte, 8+len(quote))
	m[0], m[1] = typ, code
	binary.BigEndian.PutUint32(m[4:], info)
	copy(m[8:], quote)
	return Answer{ICMPv6: m, From: from, HopLimit: 64}
}

// TimeExceeded is the Time Exceeded (hop limit) a router at from sends; quotedSL, when not
// negative, rewrites Segments Left in the quote to what the router had made of it (Linux
// advances the SRH before it finds the hop limit spent).
func TimeExceeded(p *Probe, from netip.Addr, quotedSL int) Answer {
	a := Error(p, from, probes.ICMPv6TimeExceeded, 0, 0)
	if p.SRH != nil && quotedSL >= 0 && len(a.ICMPv6) > 8+40+3 {
		a.ICMPv6[8+40+3] = uint8(quotedSL)
	}
	return a
}

// Conn is a scripted probes.PacketConn. It is safe for one sender and one receiver goroutine.
type Conn struct {
	network Network

	mu      sync.Mutex
	closed  bool
	queue   []pending
	wake    chan struct{}
	key     uint32
	tx      []txStamp
	sent    []*Probe
	sendErr error
	tried   int
}

type pending struct {
	at time.Time
	a  Answer
}

type txStamp struct {
	key uint32
	at  time.Time
}

var _ probes.PacketConn = (*Conn)(nil)

// New returns a Conn whose answers come from network (nil: nothing ever comes back).
func New(network Network) *Conn {
	return &Conn{network: network, wake: make(chan struct{}, 1)}
}

// FailSends makes every later Send fail with err (nil: succeed again).
func (c *Conn) FailSends(err error) {
	c.mu.Lock()
	c.sendErr = err
	c.mu.Unlock()
}

// Sent returns the probes sent so far.
func (c *Conn) Sent() []*Probe {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Probe(nil), c.sent...)
}

// Inject makes a arrive a.Delay from now, whatever was sent.
func (c *Conn) Inject(a Answer) {
	c.mu.Lock()
	c.enqueue(time.Now(), a)
	c.mu.Unlock()
	c.poke()
}

func (c *Conn) enqueue(base time.Time, a Answer) {
	for range max(a.Copies, 1) {
		c.queue = append(c.queue, pending{at: base.Add(a.Delay), a: a})
	}
}

func (c *Conn) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Send decodes pkt, records it and queues what the Network answers.
func (c *Conn) Send(pkt []byte, firstHop netip.Addr) (probes.SendInfo, error) {
	now := time.Now()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return probes.SendInfo{}, net.ErrClosed
	}
	if err := c.sendErr; err != nil {
		c.mu.Unlock()
		return probes.SendInfo{}, err
	}
	p, err := Decode(pkt)
	if err != nil {
		c.mu.Unlock()
		return probes.SendInfo{}, fmt.Errorf("probetest: the engine sent a packet that does not decode: %w", err)
	}
	p.Sent, p.Key, p.FirstHop = now, c.key, firstHop
	c.key++
	c.sent = append(c.sent, p)
	c.tx = append(c.tx, txStamp{key: p.Key, at: now.Add(2 * time.Microsecond)})
	c.mu.Unlock()
	var answers []Answer
	if c.network != nil {
		answers = c.network(p)
	}
	c.mu.Lock()
	for _, a := range answers {
		c.enqueue(now, a)
	}
	c.mu.Unlock()
	c.poke()
	return probes.SendInfo{Key: p.Key, UserTime: now}, nil
}

// Receive returns the next answer that is due, in order of arrival time.
func (c *Conn) Receive(deadline time.Time, r *probes.Received) error {
	for {
		got, wait, err := c.take(r, false)
		if err != nil || got {
			return err
		}
		if !deadline.IsZero() {
			if d := time.Until(deadline); d <= 0 {
				return fmt.Errorf("probetest: receive: %w", os.ErrDeadlineExceeded)
			} else if d < wait {
				wait = d
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-c.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// TryReceive returns the next answer that is due, if one is, without waiting (as
// probes.Conn.TryReceive); Tried counts the answers it returned.
func (c *Conn) TryReceive(r *probes.Received) (bool, error) {
	got, _, err := c.take(r, true)
	return got, err
}

// Tried is the number of answers TryReceive returned.
func (c *Conn) Tried() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tried
}

// take hands r the earliest answer that is due, or says how long until one is.
func (c *Conn) take(r *probes.Received, try bool) (bool, time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false, 0, net.ErrClosed
	}
	now := time.Now()
	next := -1
	for i := range c.queue {
		if next < 0 || c.queue[i].at.Before(c.queue[next].at) {
			next = i
		}
	}
	if next < 0 {
		return false, time.Hour, nil
	}
	if p := c.queue[next]; !p.at.After(now) {
		c.queue = append(c.queue[:next], c.queue[next+1:]...)
		*r = probes.Received{ICMPv6: p.a.ICMPv6, From: p.a.From, HopLimit: p.a.HopLimit, Time: now, TimeFromKernel: true,
			RoutingHeader: p.a.RoutingHeader, HopByHop: p.a.HopByHop}
		if try {
			c.tried++
		}
		return true, 0, nil
	}
	return false, c.queue[next].at.Sub(now), nil
}

// ReadTxTimestamps hands fn a TX timestamp (send time + 2 µs) for every probe sent since the
// last call.
func (c *Conn) ReadTxTimestamps(fn func(key uint32, t time.Time)) error {
	c.mu.Lock()
	tx := c.tx
	c.tx = nil
	c.mu.Unlock()
	for _, s := range tx {
		fn(s.key, s.at)
	}
	return nil
}

// Close makes Receive and Send fail with net.ErrClosed; closing again does nothing.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.poke()
	return nil
}

// Decode reads what an engine's probe says: outer header, Hop-by-Hop header, SRH, inner header,
// Echo Request.
func Decode(pkt []byte) (*Probe, error) {
	if len(pkt) < 40 || pkt[0]>>4 != 6 {
		return nil, errors.New("not an IPv6 packet")
	}
	// Everything the Probe holds points into its own copy: engines reuse their send buffers,
	// and an answer delivered later must carry this probe's bytes, not the next one's.
	pkt = append([]byte(nil), pkt...)
	p := &Probe{Packet: pkt}
	p.FlowLabel = binary.BigEndian.Uint32(pkt[0:4]) & 0xfffff
	p.HopLimit = pkt[7]
	p.Src = netip.AddrFrom16([16]byte(pkt[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(pkt[24:40]))
	p.FinalDst = p.Dst
	next, b := pkt[6], pkt[40:]
	if next == 0 {
		if len(b) < 8 || len(b) < 8*(int(b[1])+1) {
			return nil, errors.New("hop-by-hop header truncated")
		}
		l := 8 * (int(b[1]) + 1)
		p.HopByHop = b[:l]
		next, b = b[0], b[l:]
	}
	if next == 43 {
		var h srh.SRH
		if err := h.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
			return nil, fmt.Errorf("routing header: %w", err)
		}
		h.Segments = append([]netip.Addr(nil), h.Segments...)
		p.SRH = &h
		if f, ok := h.FinalSegment(); ok {
			p.FinalDst = f
		}
		next, b = uint8(h.NextHeader), b[len(h.Contents):]
	}
	if next == 41 {
		if len(b) < 40 {
			return nil, errors.New("inner IPv6 header truncated")
		}
		p.Encapsulated = true
		p.FinalDst = netip.AddrFrom16([16]byte(b[24:40]))
		next, b = b[6], b[40:]
	}
	if next == 58 && len(b) >= 8 && b[0] == probes.ICMPv6EchoRequest {
		p.Echo = true
		p.ID = binary.BigEndian.Uint16(b[4:])
		p.Seq = binary.BigEndian.Uint16(b[6:])
		p.EchoMessage = append([]byte(nil), b...)
	}
	return p, nil
}

// Reports is a scripted collector socket: the datagrams Deliver is given are read, in order, by
// Read (an io.ReadCloser, as a delay.Mux reads agents' reports).
type Reports struct {
	mu     sync.Mutex
	queue  [][]byte
	closed bool
	wake   chan struct{}
}

// NewReports returns an empty Reports.
func NewReports() *Reports { return &Reports{wake: make(chan struct{}, 1)} }

// Deliver makes datagram arrive after delay.
func (r *Reports) Deliver(datagram []byte, delay time.Duration) {
	d := append([]byte(nil), datagram...)
	time.AfterFunc(delay, func() {
		r.mu.Lock()
		r.queue = append(r.queue, d)
		r.mu.Unlock()
		select {
		case r.wake <- struct{}{}:
		default:
		}
	})
}

// Read returns the next datagram, waiting for one; net.ErrClosed once closed.
func (r *Reports) Read(b []byte) (int, error) {
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return 0, net.ErrClosed
		}
		if len(r.queue) > 0 {
			d := r.queue[0]
			r.queue = r.queue[1:]
			r.mu.Unlock()
			return copy(b, d), nil
		}
		r.mu.Unlock()
		<-r.wake
	}
}

// Close ends every Read.
func (r *Reports) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return nil
}
