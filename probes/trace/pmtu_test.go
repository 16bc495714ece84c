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

// Path MTU discovery on a scripted path h1 → r1 → p1 → h2 whose link after p1 carries 1400
// bytes: p1 answers larger probes with Packet Too Big (mtu 1400), or, as a blackhole, drops
// them silently. Either way the path MTU is 1400; the Packet Too Big names p1 at hop 2 and its
// MTU, the blackhole is found after hop 2 with 1401 bytes the smallest size that vanishes.
func TestPathMTUOnScriptedPath(t *testing.T) {
	src, dst := netip.MustParseAddr("fc00:0:1::1"), netip.MustParseAddr("fc00:0:4::1")
	r1, p1 := netip.MustParseAddr("fd00:0:0:1::2"), netip.MustParseAddr("fd00:0:0:2::2")
	// The NEAR rule is off (WaitNear -1): a try is silent only after the whole Wait, not 50 ms
	// after the scripted microsecond round trips, which a loaded machine could overshoot.
	for _, blackhole := range []bool{false, true} {
		network := func(p *probetest.Probe) []probetest.Answer {
			switch {
			case p.HopLimit == 1:
				return []probetest.Answer{probetest.TimeExceeded(p, r1, -1)}
			case p.HopLimit == 2: // expires at p1, before the small link
				return []probetest.Answer{probetest.TimeExceeded(p, p1, -1)}
			case len(p.Packet) > 1400 && blackhole:
				return nil
			case len(p.Packet) > 1400:
				return []probetest.Answer{probetest.Error(p, p1, probes.ICMPv6PacketTooBig, 0, 1400)}
			}
			return []probetest.Answer{probetest.EchoReply(p, dst, 62)}
		}
		rep, err := trace.PathMTUOn(context.Background(), func() probes.PacketConn { return probetest.New(network) }, 1500,
			oam.Target{Destination: dst}, trace.PMTUOptions{Options: trace.Options{Source: src, Wait: 500 * time.Millisecond, WaitNear: -1}})
		if err != nil {
			t.Fatalf("blackhole %v: %v", blackhole, err)
		}
		if rep.Start != 1500 || rep.PathMTU != 1400 || len(rep.Hops) != 1 {
			t.Fatalf("blackhole %v: start %d, path MTU %d, hops %+v", blackhole, rep.Start, rep.PathMTU, rep.Hops)
		}
		h := rep.Hops[0]
		switch {
		case !blackhole && (h.Blackhole || h.From != p1 || h.TTL != 2 || h.MTU != 1400 || h.Size != 1500):
			t.Errorf("Packet Too Big: %+v, want p1 at hop 2 saying 1400 to a probe of 1500", h)
		case blackhole && (!h.Blackhole || h.After != 2 || h.MTU != 1400 || h.Size != 1401):
			t.Errorf("blackhole: %+v, want 1401 bytes lost after hop 2, 1400 crossing", h)
		}
		if n := len(rep.Segments); n != 1 || rep.Segments[0].Crossed != 1400 {
			t.Errorf("blackhole %v: segments %+v", blackhole, rep.Segments)
		}
	}
}
