package trace

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/srv6oam/srv6oam/oam"
)

// TestStoppingPoints checks n_k at 95% against the table of the MDA papers (Augustin et al.,
// "Multipath tracing with Paris traceroute", and Veitch et al., INFOCOM 2009).
func TestStoppingPoints(t *testing.T) {
	want := []int{6, 11, 16, 21, 27, 33, 38, 44, 51, 57, 63, 70, 76, 83, 90}
	for k, n := range want {
		if got := StoppingPoint(k+1, 0.95); got != n {
			t.Errorf("n_%d = %d, want %d", k+1, got, n)
		}
	}
	if StoppingPoint(0, 0.95) != 0 {
		t.Error("n_0 must be 0: a hop without answers asks for nothing")
	}
}

func TestAttributeSegments(t *testing.T) {
	path := oam.SegmentList{netip.MustParseAddr("fc00:2::e"), netip.MustParseAddr("fc00:4::e"), netip.MustParseAddr("fc00:6::1")}
	hops := []Hop{
		hop(1, "fd00::1", 2, false), // plain router on segment 1
		hop(2, "fd00::2", 1, false), // SID fc00:2::e: SL 2→1
		hop(3, "", -1, false),       // lost
		hop(4, "fd00::4", 0, false), // SID fc00:4::e: SL 1→0
		hop(5, "fc00:6::1", -1, true),
	}
	attributeSegments(path, hops)
	type want struct {
		seg      int
		sid      string
		from, to int
	}
	wants := []want{{0, "", 0, 0}, {0, "fc00:2::e", 2, 1}, {-1, "", 0, 0}, {1, "fc00:4::e", 1, 0}, {2, "", 0, 0}}
	for i, w := range wants {
		h := hops[i]
		if h.Segment != w.seg || h.SID != (w.sid != "") {
			t.Errorf("hop %d: segment %d SID %v, want %d %v", i+1, h.Segment, h.SID, w.seg, w.sid != "")
			continue
		}
		if h.SID && (h.SIDAddr.String() != w.sid || h.SLBefore != w.from || h.SLAfter != w.to) {
			t.Errorf("hop %d: SID %s SL %d→%d, want %s %d→%d", i+1, h.SIDAddr, h.SLBefore, h.SLAfter, w.sid, w.from, w.to)
		}
	}
}

func TestSetHopLimitAndFlow(t *testing.T) {
	pkt := make([]byte, 40)
	pkt[0], pkt[1] = 0x6a, 0xbf // version 6, traffic class 0xab, flow label high nibble 0xf
	setHopLimitAndFlow(pkt, 7, 0x12345)
	if pkt[7] != 7 || pkt[0] != 0x6a || pkt[1] != 0xb1 || pkt[2] != 0x23 || pkt[3] != 0x45 {
		t.Errorf("header % x", pkt[:8])
	}
}

func TestOptionsErrorsNameTheField(t *testing.T) {
	for _, c := range []struct {
		o   Options
		msg string
	}{
		{Options{FirstHop: 5, MaxHops: 3}, "first hop 5"},
		{Options{MaxHops: 300}, "max hops 300"},
		{Options{Queries: 11}, "queries per hop 11"},
		{Options{FlowLabel: 1 << 20}, "flow label"},
		{Options{MaxFlows: 2}, "max flows 2"},
	} {
		if _, err := c.o.withDefaults(); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.msg)
		}
	}
}

func hop(ttl int, from string, quotedSL int, dest bool) Hop {
	p := Probe{Answered: from != "", QuotedSL: quotedSL, Kind: oam.KindError}
	if dest {
		p.Kind = oam.KindReply
	}
	if from != "" {
		p.From = netip.MustParseAddr(from)
	} else {
		p.Kind = oam.KindTimeout
	}
	return Hop{TTL: ttl, Probes: []Probe{p}, Destination: dest}
}
