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
	locate(path, hops)
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

// locate sets the At of every answered error as the engine does, from a quote whose SRH has the
// hop's QuotedSL and whose destination is the segment it names.
func locate(path oam.SegmentList, hops []Hop) {
	for i := range hops {
		for j := range hops[i].Probes {
			p := &hops[i].Probes[j]
			p.At = oam.NoPosition
			if p.Answered && p.Kind == oam.KindError && p.QuotedSL >= 0 {
				p.At = oam.Locate(path, oam.SIDStructure{}, oam.Sent{SRH: true}, oam.Quoted{Dst: path[len(path)-1-p.QuotedSL], HasSRH: true, SegmentsLeft: p.QuotedSL})
			}
		}
	}
}

// A container of uSIDs (H.Encaps.Red of one SID, no SRH): each node that consumes a C-SID is a
// SID hop of its own, named by the C-SID it consumed; PSP: the hop where the SRH disappears.
func TestAttributeCompressedAndPopped(t *testing.T) {
	a := netip.MustParseAddr
	container := a("fcbb:0:400:300:200:d46::")
	path := oam.SegmentList{container}
	errAt := func(ttl int, from, dst string) Hop {
		at := oam.Locate(path, oam.USID, oam.Sent{}, oam.Quoted{Dst: a(dst)})
		return Hop{TTL: ttl, Probes: []Probe{{Answered: true, From: a(from), Kind: oam.KindError, QuotedSL: -1, At: at}}}
	}
	hops := []Hop{
		errAt(1, "fc00:0:1::1", "fcbb:0:400:300:200:d46::"), // rt1, the headend's first hop
		errAt(2, "fc00:0:4::1", "fcbb:0:300:200:d46::"),     // rt4 consumed 0400
		errAt(3, "fc00:0:3::1", "fcbb:0:200:d46::"),         // rt3 consumed 0300
	}
	attributeSegments(path, hops)
	if hops[0].SID || hops[0].Segment != 0 {
		t.Errorf("hop 1: %+v, want no SID, segment 1", hops[0])
	}
	for i, want := range []uint64{0x400, 0x300} {
		h := hops[i+1]
		if !h.SID || h.SIDAddr != container || h.CSID != i || h.CSIDValue != want || h.Structure != oam.USID {
			t.Errorf("hop %d: SID %v %v C-SID %d %x, want the container's C-SID %d (%x)", i+2, h.SID, h.SIDAddr, h.CSID, h.CSIDValue, i, want)
		}
	}

	// H.Insert through End, End PSP (SL 2: plain End), End PSP (SL 1: pops) to cafe::2.
	path = oam.SegmentList{a("fcff:3::e"), a("fcff:4::ef1"), a("fcff:2::ef1"), a("cafe::2")}
	quote := func(ttl int, dst string, srh bool, sl int) Hop {
		at := oam.Locate(path, oam.SIDStructure{}, oam.Sent{SRH: true}, oam.Quoted{Dst: a(dst), HasSRH: srh, SegmentsLeft: sl})
		return Hop{TTL: ttl, Probes: []Probe{{Answered: true, From: a("fd00::1"), Kind: oam.KindError, QuotedSL: sl, At: at}}}
	}
	hops = []Hop{
		quote(1, "fcff:3::e", true, 3),
		quote(2, "fcff:4::ef1", true, 2),
		quote(3, "fcff:2::ef1", true, 1),
		quote(4, "cafe::2", false, -1),
	}
	attributeSegments(path, hops)
	for i, want := range []string{"", "fcff:3::e", "fcff:4::ef1", "fcff:2::ef1"} {
		h := hops[i]
		if h.SID != (want != "") || (h.SID && h.SIDAddr != a(want)) {
			t.Errorf("hop %d: SID %v %v, want %q", i+1, h.SID, h.SIDAddr, want)
		}
		if h.Popped != (i == 3) {
			t.Errorf("hop %d: popped %v", i+1, h.Popped)
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
