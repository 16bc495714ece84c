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
