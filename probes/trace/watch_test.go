package trace_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/probetest"
	"github.com/srv6oam/srv6oam/probes/trace"
)

// A Watch on a scripted path h1 → r1 (SID) → r2 → h2 where r2 drops every other probe: after 6
// rounds each hop has 6 probes sent, r1 and the destination all answered, r2 half; the
// statistics are those of the scripted round trips, the SID is marked, and every round ended
// at the destination.
func TestWatchAccumulatesRounds(t *testing.T) {
	src, sid, dst := netip.MustParseAddr("fc00:0:1::1"), netip.MustParseAddr("fc00:0:2::e"), netip.MustParseAddr("fc00:0:4::1")
	r1, r2 := netip.MustParseAddr("fd00:0:0:1::2"), netip.MustParseAddr("fd00:0:0:2::2")
	r2seen := 0
	network := func(p *probetest.Probe) []probetest.Answer {
		switch p.HopLimit {
		case 1:
			a := probetest.TimeExceeded(p, r1, 0)
			a.Delay = time.Millisecond
			return []probetest.Answer{a}
		case 2:
			if r2seen++; r2seen%2 == 0 {
				return nil
			}
			a := probetest.TimeExceeded(p, r2, 0)
			a.Delay = 2 * time.Millisecond
			return []probetest.Answer{a}
		}
		a := probetest.EchoReply(p, dst, 62)
		a.Delay = 3 * time.Millisecond
		return []probetest.Answer{a}
	}
	w, err := trace.NewWatchOn(func() probes.PacketConn { return probetest.New(network) },
		oam.Target{Segments: oam.SegmentList{sid}, Destination: dst},
		trace.WatchOptions{Options: trace.Options{Source: src, MaxHops: 8, Wait: 200 * time.Millisecond}, Interval: time.Millisecond, Count: 6, History: 8})
	if err != nil {
		t.Fatal(err)
	}
	rounds := 0
	if err := w.Run(context.Background(), func(s trace.WatchState) { rounds = s.Rounds }); err != nil {
		t.Fatal(err)
	}
	s := w.State()
	if rounds != 6 || s.Rounds != 6 || len(s.Paths) != 1 {
		t.Fatalf("%d rounds seen, state %d rounds, %d paths", rounds, s.Rounds, len(s.Paths))
	}
	p := s.Paths[0]
	if p.End != trace.EndReached || p.Rounds != 6 || len(p.Hops) != 3 {
		t.Fatalf("path: end %s, %d rounds, %d hops", p.End, p.Rounds, len(p.Hops))
	}
	want := []struct {
		host     netip.Addr
		received int
	}{{r1, 6}, {r2, 3}, {dst, 6}}
	for i, w := range want {
		h := p.Hops[i]
		if h.TTL != i+1 || h.Sent != 6 || h.Received != w.received || len(h.Hosts) != 1 || h.Hosts[0] != w.host {
			t.Errorf("hop %d: ttl %d, %d/%d answered by %v; want 6 sent, %d answered by %v", i+1, h.TTL, h.Received, h.Sent, h.Hosts, w.received, w.host)
		}
		// Best, worst and average are those of the round trips the hop kept (all 6: History 8).
		var lo, hi, sum time.Duration
		n := 0
		for _, d := range h.Recent {
			if d == trace.Lost {
				continue
			}
			if n == 0 || d < lo {
				lo = d
			}
			hi = max(hi, d)
			sum += d
			n++
		}
		if len(h.Recent) != 6 || n != w.received || h.Best != lo || h.Worst != hi || (h.Avg()-sum/time.Duration(n)).Abs() > time.Microsecond || h.Best <= 0 {
			t.Errorf("hop %d: best %v avg %v worst %v, from %d recent %v", i+1, h.Best, h.Avg(), h.Worst, len(h.Recent), h.Recent)
		}
	}
	if got := p.Hops[1].Loss(); got != 50 {
		t.Errorf("r2 loss %v%%, want 50", got)
	}
	if lost := p.Hops[1].Recent; (lost[0] == trace.Lost) == (lost[1] == trace.Lost) {
		t.Errorf("r2's recent round trips %v: want every other one lost", lost)
	}
	if !p.Hops[0].SID || p.Hops[0].SIDAddr != sid || !p.Hops[2].Destination || p.Hops[2].Segment != 1 {
		t.Errorf("hop 1 SID %v %v, hop 3 destination %v segment %d", p.Hops[0].SID, p.Hops[0].SIDAddr, p.Hops[2].Destination, p.Hops[2].Segment)
	}

	w.Reset()
	if s := w.State(); s.Rounds != 0 || len(s.Paths) != 1 || len(s.Paths[0].Hops) != 0 {
		t.Errorf("after Reset: %d rounds, %d paths, %d hops", s.Rounds, len(s.Paths), len(s.Paths[0].Hops))
	}
}

// A destination that never answers: every round probes to the maximum and ends max_hops; a
// path that ends with Destination Unreachable ends unreachable.
func TestWatchEnds(t *testing.T) {
	src, dst := netip.MustParseAddr("fc00:0:1::1"), netip.MustParseAddr("fc00:0:4::1")
	r1 := netip.MustParseAddr("fd00:0:0:1::2")
	for _, c := range []struct {
		name   string
		answer func(p *probetest.Probe) []probetest.Answer
		end    trace.End
		hops   int
	}{
		{"silent", func(p *probetest.Probe) []probetest.Answer {
			if p.HopLimit == 1 {
				return []probetest.Answer{probetest.TimeExceeded(p, r1, -1)}
			}
			return nil
		}, trace.EndMaxHops, 4},
		{"unreachable", func(p *probetest.Probe) []probetest.Answer {
			if p.HopLimit == 1 {
				return []probetest.Answer{probetest.TimeExceeded(p, r1, -1)}
			}
			return []probetest.Answer{probetest.Error(p, r1, probes.ICMPv6DestUnreachable, 0, 0)}
		}, trace.EndUnreachable, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, err := trace.NewWatchOn(func() probes.PacketConn { return probetest.New(c.answer) },
				oam.Target{Destination: dst},
				trace.WatchOptions{Options: trace.Options{Source: src, MaxHops: 4, Wait: 50 * time.Millisecond}, Interval: time.Millisecond, Count: 2, History: 1})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Run(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			p := w.State().Paths[0]
			if p.End != c.end || len(p.Hops) != c.hops || p.Hops[0].Received != 2 || len(p.Hops[0].Recent) != 1 {
				t.Errorf("end %s, %d hops, hop 1 %d answered, %d recent; want %s, %d hops, 2 answered, 1 recent (History 1)",
					p.End, len(p.Hops), p.Hops[0].Received, len(p.Hops[0].Recent), c.end, c.hops)
			}
		})
	}
}

// Run stops when ctx ends, Pause holds the rounds back.
func TestWatchPauseAndCancel(t *testing.T) {
	src, dst := netip.MustParseAddr("fc00:0:1::1"), netip.MustParseAddr("fc00:0:4::1")
	w, err := trace.NewWatchOn(func() probes.PacketConn {
		return probetest.New(func(p *probetest.Probe) []probetest.Answer {
			return []probetest.Answer{probetest.EchoReply(p, dst, 64)}
		})
	}, oam.Target{Destination: dst}, trace.WatchOptions{Options: trace.Options{Source: src, MaxHops: 2}, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	paused := make(chan int, 1)
	done := make(chan error, 1)
	go func() {
		done <- w.Run(ctx, func(s trace.WatchState) {
			if s.Rounds == 3 {
				w.Pause(true)
				paused <- s.Rounds
			}
		})
	}()
	<-paused
	time.Sleep(50 * time.Millisecond) // rounds would be 1 ms apart
	if s := w.State(); s.Rounds != 3 || !s.Paused {
		t.Errorf("paused after round 3: %d rounds, paused %v", s.Rounds, s.Paused)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Run: %v, want context.Canceled", err)
	}
}
