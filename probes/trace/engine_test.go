package trace_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/probetest"
	"github.com/srv6oam/srv6oam/probes/trace"
)

// The trace engine on a scripted network (probes/probetest): h1 → r1 (SID fc00:0:2::e) → r2 →
// h2, as a kernel would answer it: hop limit 1 expires at r1, which first processes its SID
// (Linux advances the SRH, then finds the hop limit spent, so it quotes Segments Left 0); hop
// limit 2 expires at r2 (quote SL 0); from 3 on the destination replies. r2 answers only its
// second and third probes, as a router whose ICMPv6 error budget is spent.
func TestEngineOnScriptedPath(t *testing.T) {
	src, sid, dst := netip.MustParseAddr("fc00:0:1::1"), netip.MustParseAddr("fc00:0:2::e"), netip.MustParseAddr("fc00:0:4::1")
	r1, r2 := netip.MustParseAddr("fd00:0:0:1::2"), netip.MustParseAddr("fd00:0:0:2::2")
	r2seen := 0
	conn := probetest.New(func(p *probetest.Probe) []probetest.Answer {
		switch p.HopLimit {
		case 1:
			return []probetest.Answer{probetest.TimeExceeded(p, r1, 0)}
		case 2:
			if r2seen++; r2seen == 1 {
				return nil // rate-limited
			}
			return []probetest.Answer{probetest.TimeExceeded(p, r2, 0)}
		}
		return []probetest.Answer{probetest.EchoReply(p, dst, 62)}
	})
	target := oam.Target{Segments: oam.SegmentList{sid}, Destination: dst}
	tr, err := trace.NewOn(conn, target, trace.Options{Source: src, MaxHops: 8, Wait: time.Second, NoRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	var emitted []trace.Probe
	tr.Emit(func(p trace.Probe) { emitted = append(emitted, p) })
	rep, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Reached || len(rep.Hops) != 3 {
		t.Fatalf("reached %v, %d hops: %+v", rep.Reached, len(rep.Hops), rep.Hops)
	}
	h1, h2, h3 := rep.Hops[0], rep.Hops[1], rep.Hops[2]
	if rs := h1.Responders(); len(rs) != 1 || rs[0] != r1 || !h1.SID || h1.SIDAddr != sid || h1.SLBefore != 1 || h1.SLAfter != 0 || h1.Segment != 0 {
		t.Errorf("hop 1: %+v", h1)
	}
	answered := 0
	for _, p := range h2.Probes {
		if p.Answered {
			answered++
		}
	}
	if rs := h2.Responders(); len(rs) != 1 || rs[0] != r2 || answered != 2 || h2.SID || h2.Segment != 1 {
		t.Errorf("hop 2: %d of %d probes answered, %+v", answered, len(h2.Probes), h2)
	}
	if !h3.Destination || h3.Segment != 1 {
		t.Errorf("hop 3: %+v", h3)
	}
	// Every probe sent reached emit once, answered or not, with the hop limit it was sent with.
	if len(emitted) != rep.Probes || rep.Probes != len(conn.Sent()) {
		t.Errorf("%d probes emitted, report says %d sent, the network saw %d", len(emitted), rep.Probes, len(conn.Sent()))
	}
	lost := 0
	for _, p := range emitted {
		if !p.Answered {
			lost++
			if p.HopLimit != 2 && p.HopLimit <= 3 {
				t.Errorf("probe with hop limit %d given up: %+v", p.HopLimit, p)
			}
		}
	}
	if lost == 0 {
		t.Error("the rate-limited probe was not emitted as given up")
	}
}

// ECMP discovery on a scripted single path whose routers spend their ICMPv6 budget: each
// answers the first two probes it sees at its hop, then only a probe asked again (as Linux's
// rate limit answers once it refilled). MDA must ask the silent flows again rather than add new
// flows that would only find the budget spent: one branch, every hop answering as many flows as
// the stopping rule needs, and far fewer probes than flows added until MaxFlows. Without the
// retry (NoRetry) the discovery adds flows to the limit and still finds one branch.
func TestECMPWaitsForRateLimitedHops(t *testing.T) {
	src, dst := netip.MustParseAddr("fc00:0:1::1"), netip.MustParseAddr("fc00:0:4::1")
	routers := []netip.Addr{netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")}
	run := func(noRetry bool) (*trace.Report, int) {
		type key struct {
			hop  uint8
			flow uint32
		}
		seen := map[key]int{}
		budget := map[uint8]int{1: 2, 2: 2}
		conn := probetest.New(func(p *probetest.Probe) []probetest.Answer {
			if int(p.HopLimit) > len(routers) {
				return []probetest.Answer{probetest.EchoReply(p, dst, 62)}
			}
			k := key{p.HopLimit, p.FlowLabel}
			seen[k]++
			if budget[p.HopLimit] > 0 || seen[k] > 1 {
				budget[p.HopLimit]--
				return []probetest.Answer{probetest.TimeExceeded(p, routers[p.HopLimit-1], 0)}
			}
			return nil
		})
		tr, err := trace.NewOn(conn, oam.Target{Destination: dst}, trace.Options{Source: src, MaxHops: 8, Wait: 200 * time.Millisecond,
			ECMP: true, NoRetry: noRetry, RetryDelay: time.Millisecond, MaxFlows: 64})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := tr.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return rep, len(conn.Sent())
	}
	rep, sent := run(false)
	need := trace.StoppingPoint(1, trace.Confidence)
	if len(rep.Branches) != 1 || !rep.Reached {
		t.Fatalf("%d branches, reached %v", len(rep.Branches), rep.Reached)
	}
	for i, h := range rep.Branches[0].Hops[:2] {
		answered := 0
		for _, p := range h.Probes {
			if p.Answered {
				answered++
			}
		}
		if answered < need {
			t.Errorf("hop %d: %d flows answered, the stopping rule needs %d", i+1, answered, need)
		}
	}
	if rep.Flows > need || sent > 3*need*3 {
		t.Errorf("with the retry: %d flows, %d probes; want at most %d flows and %d probes", rep.Flows, sent, need, 3*need*3)
	}
	rep, sent = run(true)
	if len(rep.Branches) != 1 || rep.Flows != 64 {
		t.Errorf("without the retry: %d branches, %d flows (%d probes); want one branch after all 64 flows", len(rep.Branches), rep.Flows, sent)
	}
}

// The retry only where the pattern says a router is rate-limiting: a hop silent between routers
// that answer every probe is filtering (no retry: its probes are sent once); when every router
// is silent (budgets spent by an earlier run) the silent hops are asked again, and so is a hop
// that answered some of its probes.
func TestRetryOnlyRateLimitedHops(t *testing.T) {
	src, dst := netip.MustParseAddr("fc00:0:1::1"), netip.MustParseAddr("fc00:0:4::1")
	r1, r2 := netip.MustParseAddr("fd00:0:0:1::2"), netip.MustParseAddr("fd00:0:0:2::2")
	for _, c := range []struct {
		name string
		// answer says whether the router at hop h answers its n-th probe (from 1).
		answer  func(h, n int) bool
		retried int // probes of hop 1 and 2 sent again
	}{
		{"filtered hop", func(h, n int) bool { return h == 1 }, 0},
		{"every router silent", func(h, n int) bool { return n > 3 }, 6},
		{"partly answering hop", func(h, n int) bool { return h == 1 || n == 1 }, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			seen := map[int]int{}
			conn := probetest.New(func(p *probetest.Probe) []probetest.Answer {
				h := int(p.HopLimit)
				if h >= 3 {
					return []probetest.Answer{probetest.EchoReply(p, dst, 62)}
				}
				seen[h]++
				if !c.answer(h, seen[h]) {
					return nil
				}
				return []probetest.Answer{probetest.TimeExceeded(p, []netip.Addr{r1, r2}[h-1], -1)}
			})
			tr, err := trace.NewOn(conn, oam.Target{Destination: dst},
				trace.Options{Source: src, MaxHops: 5, Wait: 300 * time.Millisecond, RetryDelay: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := tr.Run(context.Background())
			if err != nil || !rep.Reached {
				t.Fatalf("reached %v, %v", rep != nil && rep.Reached, err)
			}
			if got := seen[1] + seen[2] - 6; got != c.retried {
				t.Errorf("hops 1 and 2 got %d and %d probes: %d retried, want %d", seen[1], seen[2], got, c.retried)
			}
		})
	}
}
