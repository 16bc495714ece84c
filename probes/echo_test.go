package probes

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/oam/srh"
)

// icmpChecksumOK verifies an ICMPv6 checksum against the pseudo-header src/dst (RFC 8200 §8.1).
func icmpChecksumOK(src, dst netip.Addr, icmp []byte) bool {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	var l [8]byte
	binary.BigEndian.PutUint32(l[:4], uint32(len(icmp)))
	l[7] = 58
	add(l[:])
	add(icmp)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum) == 0xffff
}

func TestEchoBuilderLayout(t *testing.T) {
	src := netip.MustParseAddr("fc00:0:1::1")
	tg := testTarget()
	for _, c := range []struct {
		name   string
		enc    Encoding
		target oam.Target
	}{
		{"encap", Encap, tg},
		{"insert", Insert, tg},
		{"plain", Encap, oam.Target{Destination: tg.Destination}},
	} {
		b, err := NewEchoBuilder(EchoConfig{Target: c.target, Source: src, Encoding: c.enc, ID: 9, PayloadSize: 56,
			HopLimit: 17, TrafficClass: 0xb8, FlowLabel: 0xabcde, OAM: len(c.target.Segments) > 0})
		if err != nil {
			t.Fatal(err)
		}
		p, err := b.Build(3)
		if err != nil {
			t.Fatal(err)
		}
		if tc := p[0]<<4 | p[1]>>4; tc != 0xb8 || binary.BigEndian.Uint32(p[0:4])&0xfffff != 0xabcde || p[7] != 17 {
			t.Errorf("%s: traffic class %#x, flow label %#x, hop limit %d", c.name, tc, binary.BigEndian.Uint32(p[0:4])&0xfffff, p[7])
		}
		if int(binary.BigEndian.Uint16(p[4:])) != len(p)-40 {
			t.Errorf("%s: payload length %d, packet %d", c.name, binary.BigEndian.Uint16(p[4:]), len(p))
		}
		if got := netip.AddrFrom16([16]byte(p[24:40])); got != c.target.FirstHop() || got != b.FirstHop() {
			t.Errorf("%s: destination %v, want the first hop %v", c.name, got, c.target.FirstHop())
		}
		var m ICMPv6Message
		if err := ParseICMPv6(errorAbout(1, 0, 0, p), &m); err != nil || !m.Quote.HasEcho || m.Quote.Seq != 3 {
			t.Fatalf("%s: does not parse back: %v %+v", c.name, err, m.Quote)
		}
		icmp := p[len(p)-64:]
		if !icmpChecksumOK(src, c.target.Destination, icmp) {
			t.Errorf("%s: ICMPv6 checksum not computed over the final destination %v", c.name, c.target.Destination)
		}
		if len(c.target.Segments) > 0 && m.Quote.SRH.Flags&srh.FlagOAM == 0 {
			t.Errorf("%s: O-flag not set", c.name)
		}
	}
}

func TestEchoBuilderRejects(t *testing.T) {
	src := netip.MustParseAddr("fc00:0:1::1")
	for _, c := range []EchoConfig{
		{Target: oam.Target{Destination: netip.MustParseAddr("10.0.0.1")}, Source: src},
		{Target: testTarget(), Source: netip.Addr{}},
		{Target: testTarget(), Source: src, PayloadSize: -1},
		{Target: testTarget(), Source: src, FlowLabel: 1 << 20},
		{Target: oam.Target{Destination: testTarget().Destination}, Source: src, OAM: true},
		{Target: oam.Target{Segments: testTarget().Segments, Destination: testTarget().Destination, Decap: true}, Source: src, Encoding: Insert},
	} {
		if _, err := NewEchoBuilder(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// BenchmarkBuild crafts encap probes with an SRH of three segments: 0 allocations per probe.
func BenchmarkBuild(b *testing.B) {
	for _, enc := range []Encoding{Encap, Insert} {
		b.Run(enc.String(), func(b *testing.B) {
			eb, err := NewEchoBuilder(EchoConfig{Target: testTarget(), Source: netip.MustParseAddr("fc00:0:1::1"),
				Encoding: enc, ID: 1, PayloadSize: 56, HopLimit: 64})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			seq := uint16(0)
			for b.Loop() {
				seq++
				if _, err := eb.Build(seq); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestEchoBuilderIOAM: in every encoding the IOAM trace rides in a Hop-by-Hop header right
// behind the outer IPv6 header, its option 4n-aligned, the rest of the probe as without it;
// an error quoting the probe hands the trace to the Demux's Match.
func TestEchoBuilderIOAM(t *testing.T) {
	src := netip.MustParseAddr("fc00:0:1::1")
	tg := testTarget()
	one := oam.Target{Destination: tg.Destination, Segments: tg.Segments[:1], Decap: true}
	for _, c := range []struct {
		name   string
		enc    Encoding
		target oam.Target
		next   uint8
	}{
		{"encap", Encap, tg, protoRouting},
		{"insert", Insert, tg, protoRouting},
		{"encap.red one SID", EncapRed, one, protoIPv6},
		{"plain", Encap, oam.Target{Destination: tg.Destination}, protoICMPv6},
	} {
		tr, err := ioam.NewTrace(123, ioam.Bits(ioam.BitHopLimitNodeID, ioam.BitTimestampSeconds, ioam.BitTimestampFraction), 4)
		if err != nil {
			t.Fatal(err)
		}
		cfg := EchoConfig{Target: c.target, Source: src, Encoding: c.enc, ID: 9, PayloadSize: 56, HopLimit: 17}
		plain, err := NewEchoBuilder(cfg)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := plain.Build(3)
		want = append([]byte(nil), want...)
		cfg.IOAM = &tr
		b, err := NewEchoBuilder(cfg)
		if err != nil {
			t.Fatal(err)
		}
		p, err := b.Build(3)
		if err != nil {
			t.Fatal(err)
		}
		h := ioam.HopByHopLen(&tr)
		if p[6] != protoHopByHop || p[40] != c.next || int(p[41]+1)*8 != h || p[44] != ioam.OptionType {
			t.Fatalf("%s: header % x", c.name, p[:48])
		}
		if int(binary.BigEndian.Uint16(p[4:])) != len(p)-40 || len(p) != len(want)+h {
			t.Errorf("%s: payload length %d, packet %d, without IOAM %d", c.name, binary.BigEndian.Uint16(p[4:]), len(p), len(want))
		}
		if string(p[40+h:]) != string(want[40:]) || string(p[8:40]) != string(want[8:40]) {
			t.Errorf("%s: the rest of the probe differs from the probe without IOAM", c.name)
		}
		var m ICMPv6Message
		if err := ParseICMPv6(errorAbout(3, 0, 0, p), &m); err != nil || !m.Quote.HasEcho || m.Quote.Seq != 3 || len(m.Quote.HopByHop) != h {
			t.Fatalf("%s: does not parse back: %v %+v", c.name, err, m.Quote)
		}
		rec, err := QuotedIOAM(m.Quote.HopByHop)
		if err != nil || rec == nil || rec.Namespace != 123 || rec.Free != 4 || len(rec.Entries) != 0 {
			t.Errorf("%s: quoted trace %+v %v", c.name, rec, err)
		}
		if allocs := testing.AllocsPerRun(50, func() { _, _ = b.Build(4) }); allocs != 0 {
			t.Errorf("%s: Build allocates %v times", c.name, allocs)
		}
	}
}

// TestEchoBuilderPatchEqualsSerialize: Build patches a template; for every sequence number, in
// every encoding, with and without segments and an IOAM trace, its probe is byte for byte what
// gopacket serializes from the layers (the checksum as gopacket computes it, including the
// sums where one's complement has two zeros), and a caller writing into a probe does not change
// the next one.
func TestEchoBuilderPatchEqualsSerialize(t *testing.T) {
	src := netip.MustParseAddr("fc00:0:1::1")
	tg := testTarget()
	tr, err := ioam.NewTrace(123, ioam.Bits(ioam.BitHopLimitNodeID, ioam.BitTimestampSeconds, ioam.BitTimestampFraction), 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  EchoConfig
	}{
		{"plain", EchoConfig{Target: oam.Target{Destination: tg.Destination}}},
		{"encap", EchoConfig{Target: tg, Encoding: Encap}},
		{"insert", EchoConfig{Target: tg, Encoding: Insert, PayloadSize: 1}},
		{"encap.red-one", EchoConfig{Target: oam.Target{Destination: tg.Destination, Segments: tg.Segments[:1], Decap: true}, Encoding: EncapRed}},
		{"insert.red", EchoConfig{Target: tg, Encoding: InsertRed, PayloadSize: 200}},
		{"encap-ioam", EchoConfig{Target: tg, Encoding: Encap, IOAM: &tr}},
		{"plain-ioam", EchoConfig{Target: oam.Target{Destination: tg.Destination}, IOAM: &tr}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.Source, cfg.ID, cfg.HopLimit, cfg.FlowLabel = src, 0xbeef, 64, 0x12345
			if cfg.PayloadSize == 0 {
				cfg.PayloadSize = 56
			}
			eb, err := NewEchoBuilder(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for seq := range 1 << 16 {
				got, err := eb.Build(uint16(seq))
				if err != nil {
					t.Fatal(err)
				}
				eb.echo.SeqNumber = uint16(seq)
				if err := gopacket.SerializeLayers(eb.buf, eb.opts, eb.list...); err != nil {
					t.Fatal(err)
				}
				if want := eb.buf.Bytes(); !bytes.Equal(got, want) {
					t.Fatalf("seq %d:\n got %x\nwant %x", seq, got, want)
				}
				got[0] ^= 0xff // a caller's change, which the next probe must not carry
			}
		})
	}
}

// TestEchoCookie: a probe's data opens with the process's cookie (then iputils' pattern), and
// its reply, or an error quoting it, is this process's (OwnEchoData); data changed in its first
// 8 bytes is not. A probe with less data than the cookie is matched by identifier alone, also
// when a router pads the quote (RFC 4884: to 128 bytes, extensions after it) past the packet's
// end.
func TestEchoCookie(t *testing.T) {
	src, dst := netip.MustParseAddr("fc00:0:1::1"), netip.MustParseAddr("fc00:0:4::1")
	build := func(size int) []byte {
		b, err := NewEchoBuilder(EchoConfig{Target: oam.Target{Destination: dst, Segments: []netip.Addr{netip.MustParseAddr("fc00:0:2::e")}},
			Source: src, ID: 7, PayloadSize: size, HopLimit: 64})
		if err != nil {
			t.Fatal(err)
		}
		p, err := b.Build(1)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := build(56)
	data := p[len(p)-56:]
	if !bytes.Equal(data[:8], echoCookie[:]) || data[8] != 8 || data[55] != 55 {
		t.Fatalf("probe data % x: want the cookie, then 8, 9, ...", data[:12])
	}
	if !OwnEchoData(data) {
		t.Error("the probe's own data is not its own")
	}
	other := bytes.Clone(data)
	other[3] ^= 1
	if OwnEchoData(other) {
		t.Error("data with another cookie taken for this process's")
	}
	var m ICMPv6Message
	if err := ParseICMPv6(errorAbout(ICMPv6TimeExceeded, 0, 0, p), &m); err != nil || !OwnEchoData(m.Quote.EchoData) || len(m.Quote.EchoData) != 56 {
		t.Errorf("quote of the probe: %v, echo data % x", err, m.Quote.EchoData)
	}

	small := build(0)
	padded := append(bytes.Clone(small), make([]byte, 128-len(small)%128)...)
	padded = append(padded, 0x20, 0, 0, 0) // an RFC 4884 extension header after the padding
	if err := ParseICMPv6(errorAbout(ICMPv6TimeExceeded, 0, 0, padded), &m); err != nil || !m.Quote.HasEcho || len(m.Quote.EchoData) != 0 || !OwnEchoData(m.Quote.EchoData) {
		t.Errorf("padded quote of a probe without data: %v, echo data % x (want none)", err, m.Quote.EchoData)
	}
}
