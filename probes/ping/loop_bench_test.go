package ping_test

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/ping"
)

// echoConn is a PacketConn that answers every probe with its Echo Reply and allocates nothing:
// the benchmark measures the engine, not a fake network.
type echoConn struct {
	mu     sync.Mutex
	cond   *sync.Cond
	queue  [][2]uint16 // id, seq
	closed bool
	buf    [64]byte
}

func newEchoConn() *echoConn {
	c := &echoConn{queue: make([][2]uint16, 0, 1<<16)}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *echoConn) Send(pkt []byte, _ netip.Addr) (probes.SendInfo, error) {
	// IPv6 header, then the Echo Request (no SRH: a plain target).
	id, seq := binary.BigEndian.Uint16(pkt[44:]), binary.BigEndian.Uint16(pkt[46:])
	c.mu.Lock()
	c.queue = append(c.queue, [2]uint16{id, seq})
	c.mu.Unlock()
	c.cond.Signal()
	return probes.SendInfo{UserTime: time.Now()}, nil
}

func (c *echoConn) Receive(_ time.Time, r *probes.Received) error {
	c.mu.Lock()
	for len(c.queue) == 0 && !c.closed {
		c.cond.Wait()
	}
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	q := c.queue[0]
	c.queue = c.queue[1:]
	if len(c.queue) == 0 {
		c.queue = c.queue[:0:cap(c.queue)]
	}
	c.mu.Unlock()
	b := c.buf[:8] // the sessions send no data (NoPayload): the reply has none either
	b[0], b[1] = probes.ICMPv6EchoReply, 0
	binary.BigEndian.PutUint16(b[4:], q[0])
	binary.BigEndian.PutUint16(b[6:], q[1])
	*r = probes.Received{ICMPv6: b, From: dst, HopLimit: 64, Time: time.Now(), TimeFromKernel: true}
	return nil
}

func (c *echoConn) ReadTxTimestamps(func(uint32, time.Time)) error { return nil }

func (c *echoConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cond.Broadcast()
	return nil
}

// BenchmarkLoopSessions: 100 ping sessions on one Loop (the shape of srv6-monitor's echo jobs),
// flood-sending; one op is one probe sent, answered and accounted.
func BenchmarkLoopSessions(b *testing.B) {
	const runs = 100
	conn := newEchoConn()
	demux := probes.NewDemux(conn)
	defer demux.Close()
	loop := probes.NewEchoLoop(demux)
	defer loop.Close()
	per := b.N/runs + 1
	for i := range runs {
		sess, opts, err := ping.NewSession(conn, oam.Target{Destination: dst}, ping.Options{Source: src, Identifier: uint16(2000 + i),
			Count: per, Flood: true, Timeout: time.Minute, NoPayload: true, NoTxTimestamps: true}, func(oam.Result) {})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := loop.Add(opts.Identifier, sess); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	if err := loop.Run(context.Background(), true); err != nil {
		b.Fatal(err)
	}
}
