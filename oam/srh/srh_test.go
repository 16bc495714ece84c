package srh_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/srv6oam/srv6oam/oam/srh"
)

func TestMain(m *testing.M) {
	srh.Register()
	stop := removeLabsOnSignal()
	code := m.Run()
	stop()
	os.Exit(code)
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

var (
	segA = addr("2001:db8:5::a")
	segB = addr("2001:db8:5::b")
	segC = addr("2001:db8:5::c")
)

// wire builds an SRH by hand, independently of the codec: segments given in WIRE order.
func wire(nh, hdrExtLen, sl, le, flags uint8, tag uint16, wireSegs []netip.Addr, tlvs ...byte) []byte {
	b := []byte{nh, hdrExtLen, 4, sl, le, flags, 0, 0}
	binary.BigEndian.PutUint16(b[6:], tag)
	for _, s := range wireSegs {
		b = append(b, s.AsSlice()...)
	}
	return append(b, tlvs...)
}

func serialize(t testing.TB, fix bool, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: fix, ComputeChecksums: fix}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return slices.Clone(buf.Bytes())
}

func decode(t testing.TB, b []byte) *srh.SRH {
	t.Helper()
	var s srh.SRH
	if err := s.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		t.Fatalf("decode %x: %v", b, err)
	}
	return &s
}

// TestDecodeFields decodes hand-built headers and checks one field per case.
func TestDecodeFields(t *testing.T) {
	base := wire(58, 6, 2, 2, 0, 0, []netip.Addr{segC, segB, segA})
	tests := []struct {
		name  string
		data  []byte
		check func(*srh.SRH) bool
	}{
		{"next header", wire(41, 2, 0, 0, 0, 0, []netip.Addr{segA}), func(s *srh.SRH) bool { return s.NextHeader == layers.IPProtocolIPv6 }},
		{"hdr ext len", base, func(s *srh.SRH) bool { return s.HdrExtLen == 6 && len(s.Contents) == 56 }},
		{"segments left", wire(58, 6, 1, 2, 0, 0, []netip.Addr{segC, segB, segA}), func(s *srh.SRH) bool { return s.SegmentsLeft == 1 }},
		{"last entry", base, func(s *srh.SRH) bool { return s.LastEntry == 2 }},
		{"flag O", wire(58, 2, 0, 0, srh.FlagOAM, 0, []netip.Addr{segA}), func(s *srh.SRH) bool { return s.Flags == srh.FlagOAM }},
		{"flag H", wire(58, 2, 0, 0, srh.FlagHMAC, 0, []netip.Addr{segA}), func(s *srh.SRH) bool { return s.Flags == srh.FlagHMAC }},
		{"unknown flags kept", wire(58, 2, 0, 0, 0xc7, 0, []netip.Addr{segA}), func(s *srh.SRH) bool { return s.Flags == 0xc7 }},
		{"tag", wire(58, 2, 0, 0, 0, 0xbeef, []netip.Addr{segA}), func(s *srh.SRH) bool { return s.Tag == 0xbeef }},
		{"segments in travel order", base, func(s *srh.SRH) bool { return slices.Equal(s.Segments, []netip.Addr{segA, segB, segC}) }},
		{"active segment", base, func(s *srh.SRH) bool { a, ok := s.ActiveSegment(); return ok && a == segA }},
		{"final segment", base, func(s *srh.SRH) bool { f, ok := s.FinalSegment(); return ok && f == segC }},
		{"reduced", wire(58, 4, 2, 1, 0, 0, []netip.Addr{segC, segB}), func(s *srh.SRH) bool {
			_, ok := s.ActiveSegment()
			return s.Reduced() && !ok && slices.Equal(s.Segments, []netip.Addr{segB, segC})
		}},
		{"not reduced", base, func(s *srh.SRH) bool { return !s.Reduced() }},
		{"TLVs", wire(58, 4, 0, 0, 0, 0, []netip.Addr{segA}, 124, 2, 0xaa, 0xbb, 4, 2, 0, 0, 200, 6, 1, 2, 3, 4, 5, 6), func(s *srh.SRH) bool {
			return len(s.TLVs) == 3 && s.TLVs[0].Type == 124 && bytes.Equal(s.TLVs[0].Value, []byte{0xaa, 0xbb}) &&
				s.TLVs[1].Type == srh.TypePadN && len(s.TLVs[1].Value) == 2 &&
				s.TLVs[2].Type == 200 && bytes.Equal(s.TLVs[2].Value, []byte{1, 2, 3, 4, 5, 6})
		}},
		{"payload after header", append(wire(59, 2, 0, 0, 0, 0, []netip.Addr{segA}), 0xde, 0xad), func(s *srh.SRH) bool {
			return bytes.Equal(s.LayerPayload(), []byte{0xde, 0xad}) && s.NextLayerType() == gopacket.LayerTypePayload
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s := decode(t, tt.data); !tt.check(s) {
				t.Errorf("decoded %+v", s)
			}
		})
	}
}

// TestSerializeFields serializes one field at a time and checks the wire bytes, which the
// hand-built wire() encoder says they must be.
func TestSerializeFields(t *testing.T) {
	tests := []struct {
		name string
		srh  srh.SRH
		want []byte
	}{
		{"one segment", srh.SRH{NextHeader: 58, Segments: []netip.Addr{segA}}, wire(58, 2, 0, 0, 0, 0, []netip.Addr{segA})},
		{"next header IPv6", srh.SRH{NextHeader: 41, Segments: []netip.Addr{segA}}, wire(41, 2, 0, 0, 0, 0, []netip.Addr{segA})},
		{"wire order reversed", srh.SRH{NextHeader: 17, SegmentsLeft: 2, Segments: []netip.Addr{segA, segB, segC}},
			wire(17, 6, 2, 2, 0, 0, []netip.Addr{segC, segB, segA})},
		{"flags and tag", srh.SRH{NextHeader: 59, Flags: srh.FlagOAM | srh.FlagHMAC, Tag: 0x1234, Segments: []netip.Addr{segA}},
			wire(59, 2, 0, 0, 0x28, 0x1234, []netip.Addr{segA})},
		{"reduced", srh.SRH{NextHeader: 41, SegmentsLeft: 2, Segments: []netip.Addr{segB, segC}},
			wire(41, 4, 2, 1, 0, 0, []netip.Addr{segC, segB})},
		{"TLV padded with PadN", srh.SRH{NextHeader: 58, Segments: []netip.Addr{segA}, TLVs: []srh.TLV{{Type: 130, Value: []byte{1, 2, 3}}}},
			wire(58, 3, 0, 0, 0, 0, []netip.Addr{segA}, 130, 3, 1, 2, 3, 4, 1, 0)},
		{"7-byte TLV gets a 9-byte PadN, never Pad1", srh.SRH{NextHeader: 58, Segments: []netip.Addr{segA}, TLVs: []srh.TLV{{Type: 130, Value: []byte{1, 2, 3, 4, 5}}}},
			wire(58, 4, 0, 0, 0, 0, []netip.Addr{segA}, 130, 5, 1, 2, 3, 4, 5, 4, 7, 0, 0, 0, 0, 0, 0, 0)},
		{"padding goes before a trailing HMAC TLV", srh.SRH{NextHeader: 58, Flags: srh.FlagHMAC, Segments: []netip.Addr{segA},
			TLVs: []srh.TLV{{Type: 130, Value: []byte{9, 9}}, {Type: srh.TypeHMAC, Value: make([]byte, 38)}}},
			wire(58, 8, 0, 0, srh.FlagHMAC, 0, []netip.Addr{segA}, append([]byte{130, 2, 9, 9, 4, 2, 0, 0, 5, 38}, make([]byte, 38)...)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.srh
			got := serialize(t, true, &s)
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("serialized\n%x\nwant\n%x", got, tt.want)
			}
			if s.Len() != len(got) || int(s.HdrExtLen) != len(got)/8-1 || int(s.LastEntry) != len(s.Segments)-1 {
				t.Errorf("Len %d, HdrExtLen %d, LastEntry %d for %d bytes", s.Len(), s.HdrExtLen, s.LastEntry, len(got))
			}
		})
	}
}

// TestSerializeRaw checks that without FixLengths the length fields go out as given, which is
// how tests craft malformed headers for the kernel.
func TestSerializeRaw(t *testing.T) {
	s := srh.SRH{NextHeader: 58, HdrExtLen: 9, LastEntry: 7, SegmentsLeft: 3, Segments: []netip.Addr{segA}}
	got := serialize(t, false, &s)
	if want := wire(58, 9, 3, 7, 0, 0, []netip.Addr{segA}); !bytes.Equal(got, want) {
		t.Fatalf("got %x want %x", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	reg := srh.DefaultRegistry()
	probe := reg.ProbeTLV(srh.Probe{Flags: srh.ProbeReport, Session: 7, Sequence: 99, TxTimestamp: 1 << 60,
		ReportTo: addr("2001:db8:c0::1"), ReportPort: 4790, CaptureLen: 64})
	var segs []netip.Addr
	for i := range 16 {
		segs = append(segs, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}))
	}
	for n := 1; n <= len(segs); n++ {
		slots, err := reg.SlotsTLV(min(n, srh.MaxSlots))
		if err != nil {
			t.Fatal(err)
		}
		for _, tlvs := range [][]srh.TLV{nil, {probe}, {probe, slots}, {probe, slots, {Type: 77, Value: []byte("opaque")}}} {
			in := srh.SRH{NextHeader: 41, SegmentsLeft: uint8(n - 1), Flags: srh.FlagOAM, Tag: uint16(n), Segments: segs[:n], TLVs: tlvs}
			b1 := serialize(t, true, &in)
			out := decode(t, b1)
			if out.NextHeader != in.NextHeader || out.SegmentsLeft != in.SegmentsLeft || out.Flags != in.Flags ||
				out.Tag != in.Tag || !slices.Equal(out.Segments, in.Segments) {
				t.Fatalf("n=%d: decoded %+v, want %+v", n, out, in)
			}
			for i, tlv := range in.TLVs {
				if out.TLVs[i].Type != tlv.Type || !bytes.Equal(out.TLVs[i].Value, tlv.Value) {
					t.Fatalf("n=%d: TLV %d = %+v, want %+v", n, i, out.TLVs[i], tlv)
				}
			}
			if err := reg.Check(out); err != nil {
				t.Fatalf("n=%d: Check: %v", n, err)
			}
			// Decoded → serialized again is byte for byte the same, padding included.
			if b2 := serialize(t, true, out); !bytes.Equal(b1, b2) {
				t.Fatalf("n=%d: re-serialized\n%x\nwant\n%x", n, b2, b1)
			}
		}
	}
}

func TestMalformed(t *testing.T) {
	one := []netip.Addr{segA}
	tests := []struct {
		name, field string
		data        []byte
	}{
		{"empty", "Hdr Ext Len", nil},
		{"truncated fixed part", "Hdr Ext Len", []byte{58, 2, 4, 0, 0, 0, 0}},
		{"routing type 0", "Routing Type", []byte{58, 2, 0, 0, 0, 0, 0, 0, 15: 0, 23: 0}},
		{"routing type 3", "Routing Type", []byte{58, 2, 3, 0, 0, 0, 0, 0}},
		{"hdr ext len past the packet", "Hdr Ext Len", wire(58, 4, 0, 0, 0, 0, one)},
		{"hdr ext len 0", "Last Entry", wire(58, 0, 0, 0, 0, 0, nil)},
		{"last entry past hdr ext len", "Last Entry", wire(58, 2, 0, 1, 0, 0, one)},
		{"odd hdr ext len too small", "Last Entry", append(wire(58, 3, 0, 1, 0, 0, one), make([]byte, 8)...)},
		{"segments left past last entry + 1", "Segments Left", wire(58, 2, 2, 0, 0, 0, one)},
		{"segments left 255", "Segments Left", wire(58, 2, 255, 0, 0, 0, one)},
		{"one stray byte (Pad1)", "TLV", wire(58, 3, 0, 0, 0, 0, one, 4, 5, 0, 0, 0, 0, 0, 0)},
		{"TLV runs past the end", "TLV", wire(58, 3, 0, 0, 0, 0, one, 124, 7, 0, 0, 0, 0, 0, 0)},
		{"TLV after the last one too short", "TLV", wire(58, 3, 0, 0, 0, 0, one, 4, 3, 0, 0, 0, 124, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s srh.SRH
			err := s.DecodeFromBytes(tt.data, gopacket.NilDecodeFeedback)
			wantField(t, err, tt.field)
		})
	}
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var fe *srh.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v, want a *srh.FieldError for %q", err, field)
	}
	if fe.Field != field || fe.Reason == "" || !strings.Contains(err.Error(), field) {
		t.Fatalf("error %q names field %q, want %q", err, fe.Field, field)
	}
	t.Logf("%v", err)
}

func TestSerializeErrors(t *testing.T) {
	tests := []struct {
		name, field string
		srh         srh.SRH
	}{
		{"no segments", "Segment List", srh.SRH{}},
		{"IPv4 segment", "Segment List", srh.SRH{Segments: []netip.Addr{addr("192.0.2.1")}}},
		{"segments left too big", "Segments Left", srh.SRH{SegmentsLeft: 2, Segments: []netip.Addr{segA}}},
		{"TLV too long", "TLV", srh.SRH{Segments: []netip.Addr{segA}, TLVs: []srh.TLV{{Type: 1, Value: make([]byte, 256)}}}},
		{"HMAC not last", "TLV", srh.SRH{Segments: []netip.Addr{segA}, TLVs: []srh.TLV{{Type: srh.TypeHMAC, Value: make([]byte, 38)}, {Type: 124, Value: make([]byte, 38)}}}},
		{"header too long", "Hdr Ext Len", srh.SRH{Segments: make128()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.srh.SerializeTo(gopacket.NewSerializeBuffer(), gopacket.SerializeOptions{FixLengths: true})
			wantField(t, err, tt.field)
		})
	}
}

func make128() []netip.Addr {
	s := make([]netip.Addr, 128)
	for i := range s {
		s[i] = segA
	}
	return s
}

// TestNewPacket checks the registration: IPv6 → SRH → inner layer, for each next header the
// project sends, and that other routing types still decode generically.
func TestNewPacket(t *testing.T) {
	src := net.ParseIP("2001:db8:a::1")
	inner := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: src, DstIP: net.ParseIP("2001:db8:d::1")}
	echo := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
	tests := []struct {
		name  string
		nh    layers.IPProtocol
		upper []gopacket.SerializableLayer
		want  []gopacket.LayerType
	}{
		{"encap IPv6", layers.IPProtocolIPv6, []gopacket.SerializableLayer{inner, echo, &layers.ICMPv6Echo{}},
			[]gopacket.LayerType{layers.LayerTypeIPv6, srh.LayerTypeSRH, layers.LayerTypeIPv6, layers.LayerTypeICMPv6, layers.LayerTypeICMPv6Echo}},
		{"ICMPv6", layers.IPProtocolICMPv6, []gopacket.SerializableLayer{echo, &layers.ICMPv6Echo{}},
			[]gopacket.LayerType{layers.LayerTypeIPv6, srh.LayerTypeSRH, layers.LayerTypeICMPv6, layers.LayerTypeICMPv6Echo}},
		{"UDP", layers.IPProtocolUDP, []gopacket.SerializableLayer{&layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload("x")},
			[]gopacket.LayerType{layers.LayerTypeIPv6, srh.LayerTypeSRH, layers.LayerTypeUDP, gopacket.LayerTypePayload}},
		{"no next header", layers.IPProtocolNoNextHeader, nil,
			[]gopacket.LayerType{layers.LayerTypeIPv6, srh.LayerTypeSRH}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Routing, SrcIP: src, DstIP: segA.AsSlice()}
			s := &srh.SRH{NextHeader: tt.nh, SegmentsLeft: 1, Segments: []netip.Addr{segA, segB}}
			for _, l := range tt.upper {
				if c, ok := l.(interface {
					SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
				}); ok {
					var nl gopacket.NetworkLayer = inner
					if tt.nh != layers.IPProtocolIPv6 {
						nl = s.ChecksumLayer(ip)
					}
					if err := c.SetNetworkLayerForChecksum(nl); err != nil {
						t.Fatal(err)
					}
				}
			}
			data := serialize(t, true, append([]gopacket.SerializableLayer{ip, s}, tt.upper...)...)
			p := gopacket.NewPacket(data, layers.LayerTypeIPv6, gopacket.Default)
			if el := p.ErrorLayer(); el != nil {
				t.Fatalf("decode error: %v", el.Error())
			}
			var got []gopacket.LayerType
			for _, l := range p.Layers() {
				got = append(got, l.LayerType())
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("layers %v, want %v", got, tt.want)
			}
			d := p.Layer(srh.LayerTypeSRH).(*srh.SRH)
			if !slices.Equal(d.Segments, s.Segments) || d.NextHeader != tt.nh {
				t.Fatalf("decoded SRH %+v", d)
			}
		})
	}

	t.Run("routing type 0 stays generic", func(t *testing.T) {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Routing, SrcIP: src, DstIP: segA.AsSlice()}
		rh := &layers.IPv6Routing{RoutingType: 0, SourceRoutingIPs: []net.IP{segB.AsSlice()}}
		rh.NextHeader = layers.IPProtocolNoNextHeader
		data := serialize(t, true, ip, rh)
		p := gopacket.NewPacket(data, layers.LayerTypeIPv6, gopacket.Default)
		if p.ErrorLayer() != nil || p.Layer(layers.LayerTypeIPv6Routing) == nil || p.Layer(srh.LayerTypeSRH) != nil {
			t.Fatalf("layers %v, error %v", p.Layers(), p.ErrorLayer())
		}
	})

	t.Run("malformed SRH is an error layer naming the field", func(t *testing.T) {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Routing, SrcIP: src, DstIP: segA.AsSlice()}
		data := serialize(t, true, ip, gopacket.Payload(wire(59, 2, 5, 0, 0, 0, []netip.Addr{segA})))
		p := gopacket.NewPacket(data, layers.LayerTypeIPv6, gopacket.Default)
		el := p.ErrorLayer()
		if el == nil {
			t.Fatal("no error layer")
		}
		wantField(t, el.Error(), "Segments Left")
	})
}

// TestChecksumFinalSegment checks the ICMPv6 checksum of an insert-mode packet against a
// pseudo-header summed here by hand with the final segment as destination (RFC 8200 §8.1).
func TestChecksumFinalSegment(t *testing.T) {
	src := addr("2001:db8:a::1")
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Routing, SrcIP: src.AsSlice(), DstIP: segA.AsSlice()}
	s := &srh.SRH{NextHeader: layers.IPProtocolICMPv6, SegmentsLeft: 2, Segments: []netip.Addr{segA, segB, segC}}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
	if err := icmp.SetNetworkLayerForChecksum(s.ChecksumLayer(ip)); err != nil {
		t.Fatal(err)
	}
	data := serialize(t, true, ip, s, icmp, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 2}, gopacket.Payload("hello"))
	upper := data[40+s.Len():]
	if got, want := inetChecksum(src, segC, 58, upper), uint16(0); got != want {
		t.Fatalf("checksum over pseudo-header with the final segment is %#04x, want 0 (valid)", got)
	}
	if inetChecksum(src, segA, 58, upper) == 0 {
		t.Fatal("checksum also valid with the first segment: the test proves nothing")
	}
}

// inetChecksum returns the one's-complement sum over the IPv6 pseudo-header and data; 0 means
// the checksum inside data is right.
func inetChecksum(src, dst netip.Addr, proto uint8, data []byte) uint16 {
	var ph []byte
	ph = append(ph, src.AsSlice()...)
	ph = append(ph, dst.AsSlice()...)
	ph = binary.BigEndian.AppendUint32(ph, uint32(len(data)))
	ph = append(ph, 0, 0, 0, proto)
	ph = append(ph, data...)
	if len(ph)%2 == 1 {
		ph = append(ph, 0)
	}
	var sum uint32
	for i := 0; i < len(ph); i += 2 {
		sum += uint32(ph[i])<<8 | uint32(ph[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// TestDecodingLayerParser checks the parser path needs no Register: the SRH answers for
// LayerTypeIPv6Routing.
func TestDecodingLayerParser(t *testing.T) {
	p := newBenchPacket()
	buf := gopacket.NewSerializeBuffer()
	if err := p.serialize(buf); err != nil {
		t.Fatal(err)
	}
	var (
		ip6  layers.IPv6
		h    srh.SRH
		icmp layers.ICMPv6
		echo layers.ICMPv6Echo
		pl   gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeIPv6, &ip6, &h, &icmp, &echo, &pl)
	var decoded []gopacket.LayerType
	if err := parser.DecodeLayers(buf.Bytes(), &decoded); err != nil {
		t.Fatal(err)
	}
	want := []gopacket.LayerType{layers.LayerTypeIPv6, layers.LayerTypeIPv6Routing, layers.LayerTypeICMPv6, layers.LayerTypeICMPv6Echo, gopacket.LayerTypePayload}
	if !slices.Equal(decoded, want) {
		t.Fatalf("decoded %v, want %v", decoded, want)
	}
	if !slices.Equal(h.Segments, p.srh.Segments) || echo.SeqNumber != p.echo.SeqNumber || string(pl) != string(p.payload) {
		t.Fatalf("decoded %+v %+v", h, echo)
	}
	// A malformed SRH stops the parser with the field named.
	bad := slices.Clone(buf.Bytes())
	bad[40+3] = 9 // Segments Left 9 > Last Entry + 1
	wantField(t, parser.DecodeLayers(bad, &decoded), "Segments Left")
}
