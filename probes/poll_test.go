package probes

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// pollConn is a PacketConn whose messages only TryReceive hands out: its Receive waits until
// Close, so a Demux's reader goroutine never takes one and what a test sees came by Poll.
type pollConn struct {
	mu     sync.Mutex
	queue  [][]byte
	closed chan struct{}
	once   sync.Once
}

func newPollConn() *pollConn { return &pollConn{closed: make(chan struct{})} }

func (c *pollConn) add(msgs ...[]byte) {
	c.mu.Lock()
	c.queue = append(c.queue, msgs...)
	c.mu.Unlock()
}

func (c *pollConn) Send([]byte, netip.Addr) (SendInfo, error) { return SendInfo{}, nil }
func (c *pollConn) Receive(time.Time, *Received) error {
	<-c.closed
	return net.ErrClosed
}
func (c *pollConn) ReadTxTimestamps(func(uint32, time.Time)) error { return nil }
func (c *pollConn) Close() error                                   { c.once.Do(func() { close(c.closed) }); return nil }
func (c *pollConn) TryReceive(r *Received) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		return false, nil
	}
	*r = Received{ICMPv6: c.queue[0], From: netip.MustParseAddr("fc00::9"), Time: time.Now(), HopLimit: 64}
	c.queue = c.queue[1:]
	return true, nil
}

// echoReply is the reply to one of this process's probes (its data opens with the cookie).
func echoReply(id, seq uint16) []byte {
	b := make([]byte, 16)
	b[0] = ICMPv6EchoReply
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], echoCookie[:])
	return b
}

// TestDemuxPoll: Poll takes at most max messages; each goes to direct when direct takes it, to
// the handler registered for its identifier when not, and is counted unmatched when nobody
// has it, foreign when it answers another process's probe; what is not about an echo probe is
// taken and dropped.
func TestDemuxPoll(t *testing.T) {
	c := newPollConn()
	d := NewDemux(c)
	defer d.Close()
	var viaHandler []uint16
	if _, err := d.Register(2, func(m *Match) { viaHandler = append(viaHandler, m.Seq) }); err != nil {
		t.Fatal(err)
	}
	other := make([]byte, 8)
	other[0] = 135 // a Neighbor Solicitation
	// Another process's reply under identifier 2 (its data is not this process's cookie): taken
	// and dropped, counted foreign, neither direct's nor the handler's.
	foreign := echoReply(2, 21)
	foreign[8] ^= 0xff
	c.add(echoReply(1, 10), echoReply(2, 20), echoReply(3, 30), other, foreign, echoReply(1, 11), echoReply(1, 12))
	var direct []uint16
	take := func(m *Match) bool {
		if m.ID != 1 {
			return false
		}
		direct = append(direct, m.Seq)
		return true
	}
	n, err := d.Poll(6, take)
	if err != nil || n != 6 {
		t.Fatalf("Poll(6) = %d, %v; want 6 messages", n, err)
	}
	if len(direct) != 2 || direct[0] != 10 || direct[1] != 11 || len(viaHandler) != 1 || viaHandler[0] != 20 || d.Unmatched() != 1 || d.Foreign() != 1 {
		t.Fatalf("direct %v, handler %v, unmatched %d, foreign %d; want [10 11], [20], 1, 1", direct, viaHandler, d.Unmatched(), d.Foreign())
	}
	if n, err := d.Poll(5, take); err != nil || n != 1 || len(direct) != 3 {
		t.Fatalf("second Poll = %d, %v, direct %v; want the one left", n, err, direct)
	}
	if n, err := d.Poll(5, take); err != nil || n != 0 {
		t.Fatalf("Poll of an empty socket = %d, %v", n, err)
	}
}

// seqs is a Session that records the sequence numbers of its inputs and is done at want.
type seqs struct {
	mu   sync.Mutex
	got  []uint16
	want int
}

func (s *seqs) Wake(time.Time) (time.Time, bool) { return time.Time{}, false }
func (s *seqs) Input(m *Match, _ time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, m.Seq)
	return time.Time{}, len(s.got) >= s.want
}

// TestEchoLoopTakeAnswers: with TakeAnswers, an EchoLoop reads its answers itself between
// rounds (the Demux's reader here never gets one), routes each to the session of its
// identifier, and forgets a session once it left (its later answers go to nobody).
func TestEchoLoopTakeAnswers(t *testing.T) {
	c := newPollConn()
	d := NewDemux(c)
	defer d.Close()
	l := NewEchoLoop(d)
	defer l.Close()
	l.TakeAnswers()
	s := &seqs{want: 3}
	if _, err := l.Add(7, s); err != nil {
		t.Fatal(err)
	}
	c.add(echoReply(7, 1), echoReply(7, 2), echoReply(8, 1), echoReply(7, 3))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := l.Run(ctx, true); err != nil || ctx.Err() != nil {
		t.Fatalf("Run: %v (ctx %v)", err, ctx.Err())
	}
	if len(s.got) != 3 || s.got[0] != 1 || s.got[2] != 3 || d.Unmatched() != 1 {
		t.Fatalf("session got %v, unmatched %d; want [1 2 3], 1", s.got, d.Unmatched())
	}
	// The session is done: its identifier is free, and the loop's table forgot it.
	l.idMu.RLock()
	_, still := l.byID[7]
	l.idMu.RUnlock()
	if still {
		t.Error("identifier 7 still routed after its session ended")
	}
}

// manyDue is a Session due at once, counting its wakes in a shared counter.
type manyDue struct{ woken *int }

func (m *manyDue) Wake(time.Time) (time.Time, bool) { *m.woken++; return time.Time{}, true }
func (m *manyDue) Input(*int, time.Time) (time.Time, bool) {
	return time.Time{}, true
}

// TestLoopRoundsBounded: with more sessions due at once than one round wakes (maxWakes), the
// Loop looks at its inputs (poll) between rounds.
func TestLoopRoundsBounded(t *testing.T) {
	l := NewLoop[int]()
	defer l.Close()
	woken := 0
	var rounds []int // sessions woken before each poll
	l.poll = func() { rounds = append(rounds, woken) }
	const n = 3*maxWakes + 5
	for range n {
		if _, err := l.Add(&manyDue{woken: &woken}, nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := l.Run(ctx, true); err != nil || ctx.Err() != nil {
		t.Fatalf("Run: %v (ctx %v)", err, ctx.Err())
	}
	if woken != n {
		t.Fatalf("%d sessions woken, want %d", woken, n)
	}
	prev := 0
	for _, w := range rounds {
		if w-prev > maxWakes {
			t.Fatalf("%d sessions woken between two polls, want at most %d (polls after %v)", w-prev, maxWakes, rounds)
		}
		prev = w
	}
	if n-prev > maxWakes {
		t.Fatalf("%d sessions woken after the last poll, want at most %d", n-prev, maxWakes)
	}
	if len(rounds) < 4 {
		t.Errorf("%d polls for %d sessions due at once, want at least 4", len(rounds), n)
	}
}
