package probes

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/srv6oam/srv6oam/oam"
)

func testTarget() oam.Target {
	return oam.Target{
		Segments:    oam.SegmentList{netip.MustParseAddr("fc00:0:2::e"), netip.MustParseAddr("fc00:0:3::e1")},
		Destination: netip.MustParseAddr("fc00:0:4::1"),
	}
}

// errorAbout wraps pkt, as a node would have forwarded it, in an ICMPv6 error.
func errorAbout(typ, code uint8, info uint32, pkt []byte) []byte {
	b := make([]byte, 8, 8+len(pkt))
	b[0], b[1] = typ, code
	binary.BigEndian.PutUint32(b[4:], info)
	return append(b, pkt...)
}

// advance turns a freshly built probe into what it looks like after n segment endpoints
// processed it: Segments Left decremented, destination the next segment.
func advance(t *testing.T, pkt []byte, path oam.SegmentList, n int) []byte {
	t.Helper()
	p := append([]byte(nil), pkt...)
	if p[6] != 43 {
		t.Fatal("no SRH")
	}
	p[40+3] -= uint8(n)
	next := path[n].As16()
	copy(p[24:40], next[:])
	return p
}

func TestParseQuotedProbe(t *testing.T) {
	for _, enc := range []Encoding{Encap, Insert} {
		b, err := NewEchoBuilder(EchoConfig{Target: testTarget(), Source: netip.MustParseAddr("fc00:0:1::1"),
			Encoding: enc, ID: 0x1234, PayloadSize: 56, HopLimit: 64})
		if err != nil {
			t.Fatal(err)
		}
		pkt, err := b.Build(7)
		if err != nil {
			t.Fatal(err)
		}
		path := testTarget().Path()
		for hop := 0; hop < len(path); hop++ {
			quoted := advance(t, pkt, path, hop)
			var m ICMPv6Message
			if err := ParseICMPv6(errorAbout(ICMPv6DestUnreachable, 0, 0, quoted), &m); err != nil {
				t.Fatal(err)
			}
			q := m.Quote
			if !m.IsError() || !q.HasSRH || !q.HasEcho || q.ID != 0x1234 || q.Seq != 7 {
				t.Fatalf("%v hop %d: quote %+v", enc, hop, q)
			}
			if q.Encapsulated != (enc == Encap) || q.FinalDst != testTarget().Destination {
				t.Errorf("%v: encapsulated %v final %v", enc, q.Encapsulated, q.FinalDst)
			}
			i, sid, ok := q.ActiveSegment()
			if !ok || i != hop || sid != path[hop] {
				t.Errorf("%v hop %d: active segment %d %v %v, want %d %v", enc, hop, i, sid, ok, hop, path[hop])
			}
		}
		// A quote cut inside the SRH still parses; it just cannot be matched.
		for _, cut := range []int{0, 8, 39, 40, 47, 60, 100} {
			var m ICMPv6Message
			if err := ParseICMPv6(errorAbout(ICMPv6TimeExceeded, 0, 0, pkt[:cut]), &m); err != nil {
				t.Fatalf("cut %d: %v", cut, err)
			}
			if m.Quote.HasEcho || m.Quote.HasSRH != (cut >= 40+8+3*16) {
				t.Errorf("cut %d: quote %+v claims more than it holds", cut, m.Quote)
			}
		}
	}
}

func TestParseEchoReply(t *testing.T) {
	var m ICMPv6Message
	if err := ParseICMPv6([]byte{129, 0, 0, 0, 0xab, 0xcd, 0x00, 0x05, 1, 2, 3}, &m); err != nil {
		t.Fatal(err)
	}
	if m.IsError() || m.ID != 0xabcd || m.Seq != 5 || len(m.Body) != 3 {
		t.Errorf("%+v", m)
	}
	if err := ParseICMPv6([]byte{129, 0, 0}, &m); err == nil {
		t.Error("3-byte message accepted")
	}
}

func TestDescribeError(t *testing.T) {
	for _, c := range []struct {
		typ, code uint8
		info      uint32
		want      string
	}{
		{1, 0, 0, "Destination unreachable: No route"},
		{1, 1, 0, "Destination unreachable: Administratively prohibited"},
		{1, 3, 0, "Destination unreachable: Address unreachable"},
		{1, 4, 0, "Destination unreachable: Port unreachable"},
		{1, 9, 0, "Destination unreachable: Unknown code 9"},
		{2, 0, 1280, "Packet too big: mtu=1280"},
		{3, 0, 0, "Time exceeded: Hop limit"},
		{3, 1, 0, "Time exceeded: Defragmentation failure"},
		{4, 0, 42, "Parameter problem: Wrong header field at 42"},
		{4, 1, 6, "Parameter problem: Unknown header at 6"},
		{4, 4, 40, "Parameter problem: SR Upper-layer Header Error at 40"},
		{99, 0, 0, "Bad ICMP type: 99"},
	} {
		if got := DescribeError(c.typ, c.code, c.info); got != c.want {
			t.Errorf("DescribeError(%d, %d, %d) = %q, want %q", c.typ, c.code, c.info, got, c.want)
		}
	}
}

// FuzzParseICMPv6 feeds arbitrary bytes to the receive-side parser, errors with quoted packets
// above all: it must never panic, and what it claims must lie within the input.
func FuzzParseICMPv6(f *testing.F) {
	for _, enc := range []Encoding{Encap, Insert} {
		b, err := NewEchoBuilder(EchoConfig{Target: testTarget(), Source: netip.MustParseAddr("fc00:0:1::1"),
			Encoding: enc, ID: 1, PayloadSize: 8, HopLimit: 64})
		if err != nil {
			f.Fatal(err)
		}
		pkt, _ := b.Build(1)
		f.Add(errorAbout(ICMPv6DestUnreachable, 0, 0, pkt))
		f.Add(errorAbout(ICMPv6ParamProblem, 4, 40, pkt))
		f.Add(errorAbout(ICMPv6TimeExceeded, 0, 0, pkt[:60]))
	}
	f.Add([]byte{129, 0, 0, 0, 0, 1, 0, 1})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0x60, 0, 0, 0, 0, 8, 44, 64})
	var m ICMPv6Message
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := ParseICMPv6(b, &m); err != nil {
			return
		}
		if len(m.Body) > len(b) {
			t.Fatalf("body longer than the message")
		}
		if m.Quote.HasSRH {
			if i, _, ok := m.Quote.ActiveSegment(); ok && (i < 0 || i >= len(m.Quote.SRH.Segments)) {
				t.Fatalf("active segment %d out of %d", i, len(m.Quote.SRH.Segments))
			}
		}
	})
}
