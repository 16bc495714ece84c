package ioam

import (
	"bytes"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestHopByHopLayer: a probe serialized with the layer in gopacket's stack carries the option
// 4n-aligned behind the IPv6 header, and a DecodingLayerParser reads the trace back.
func TestHopByHopLayer(t *testing.T) {
	tr, err := NewTrace(123, Bits(BitHopLimitNodeID, BitInterfaces, BitTimestampSeconds, BitTimestampFraction), 5)
	if err != nil {
		t.Fatal(err)
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6HopByHop,
		SrcIP: net.ParseIP("fc00:0:1::1"), DstIP: net.ParseIP("fc00:0:4::1")}
	hbh := &HopByHop{NextHeader: layers.IPProtocolICMPv6, HasTrace: true, Trace: tr}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	echo := &layers.ICMPv6Echo{Identifier: 7, SeqNumber: 9}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, hbh, icmp, echo); err != nil {
		t.Fatal(err)
	}
	pkt := buf.Bytes()
	size := HopByHopLen(&tr)
	if size%8 != 0 || pkt[6] != 0 || pkt[40] != 58 || int(pkt[41]+1)*8 != size || (40+4)%4 != 0 || pkt[44] != OptionType {
		t.Fatalf("header % x", pkt[:48])
	}
	if got := int(pkt[4])<<8 | int(pkt[5]); got != len(pkt)-40 {
		t.Errorf("payload length %d, want %d", got, len(pkt)-40)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = hbh.SerializeTo(buf, gopacket.SerializeOptions{}) }); allocs != 0 {
		t.Errorf("serializing allocates %v times", allocs)
	}

	// A parser that starts at the header.
	var (
		dhbh  HopByHop
		dicmp layers.ICMPv6
	)
	p := gopacket.NewDecodingLayerParser(LayerTypeHopByHop, &dhbh, &dicmp)
	p.IgnoreUnsupported = true
	var got []gopacket.LayerType
	if err := p.DecodeLayers(pkt[40:], &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != LayerTypeHopByHop || !dhbh.HasTrace || dhbh.NextHeader != layers.IPProtocolICMPv6 || len(dhbh.Payload) != 8 {
		t.Fatalf("decoded %v, %+v", got, dhbh)
	}
	if dhbh.Trace.Namespace != 123 || dhbh.Trace.Remaining != 20 || !bytes.Equal(dhbh.Trace.Data, tr.Data) {
		t.Errorf("trace %+v", dhbh.Trace)
	}

	// gopacket's IPv6 layer decodes the Hop-by-Hop header itself; FromIPv6 reads the trace in it.
	pk := gopacket.NewPacket(pkt, layers.LayerTypeIPv6, gopacket.Default)
	ip6, _ := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if ip6 == nil {
		t.Fatal(pk.ErrorLayer())
	}
	again, ok, err := FromIPv6(ip6)
	if err != nil || !ok || !bytes.Equal(again.Data, tr.Data) {
		t.Fatalf("FromIPv6: %v %v %+v", ok, err, again)
	}
}

func TestFindTrace(t *testing.T) {
	tr, _ := NewTrace(9, Bits(BitHopLimitNodeID), 2)
	opt, _ := tr.AppendBinary(nil)
	// A router alert and padding in front of the trace, Pad1 after.
	h := append([]byte{59, 0, 5, 2, 0, 0, 0}, opt...)
	for len(h)%8 != 0 {
		h = append(h, 0)
	}
	h[1] = byte(len(h)/8 - 1)
	got, ok, err := FindTrace(h)
	if err != nil || !ok || got.Namespace != 9 {
		t.Fatalf("%v %v %+v", ok, err, got)
	}
	if _, ok, err := FindTrace([]byte{59, 0, 1, 4, 0, 0, 0, 0}); ok || err != nil {
		t.Errorf("padding only: %v %v", ok, err)
	}
	for _, bad := range [][]byte{
		{59, 0, 5, 9, 0, 0, 0, 0},          // option runs past the header
		{59, 1, 1, 4, 0, 0, 0, 0},          // header longer than the bytes
		{59, 0, OptionType, 4, 0, 0, 0, 0}, // trace too short for its header
	} {
		if _, _, err := FindTrace(bad); err == nil {
			t.Errorf("% x: no error", bad)
		}
	}
}

func TestParseType(t *testing.T) {
	for in, want := range map[string]Type{
		"hop_limit_node_id,interfaces,timestamp_seconds,timestamp_fraction": Bits(0, 1, 2, 3),
		"0, 2,3":                             Bits(0, 2, 3),
		"0xf00000":                           Bits(0, 1, 2, 3),
		"queue_depth,hop_limit_node_id_wide": Bits(6, 8),
	} {
		if got, err := ParseType(in); err != nil || got != want {
			t.Errorf("%q: %#06x %v, want %#06x", in, uint32(got), err, uint32(want))
		}
	}
	for _, bad := range []string{"", "22", "foo", "0x1000000", "0xzz"} {
		if _, err := ParseType(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if got := Bits(0, 6).Names(); len(got) != 2 || got[1] != "queue_depth" {
		t.Errorf("%v", got)
	}
}

func FuzzHopByHop(f *testing.F) {
	tr, _ := NewTrace(7, Bits(0, 1, 2, 3), 3)
	fill(&tr, 1, 2, 3, 4)
	h, _ := AppendHopByHop(nil, 58, &tr)
	f.Add(h)
	f.Add([]byte{59, 0, 5, 2, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var l HopByHop
		if err := l.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil || !l.HasTrace {
			return
		}
		if _, err := l.Trace.Record(); err != nil {
			return
		}
		// A trace that decodes serializes, and reads back the same.
		buf := gopacket.NewSerializeBuffer()
		if err := l.SerializeTo(buf, gopacket.SerializeOptions{}); err != nil {
			return // e.g. a trace whose re-encoding would not fit: AppendBinary says so
		}
		var back HopByHop
		if err := back.DecodeFromBytes(buf.Bytes(), gopacket.NilDecodeFeedback); err != nil || !back.HasTrace {
			t.Fatalf("re-decode: %v", err)
		}
		if back.Trace.Namespace != l.Trace.Namespace || back.Trace.Remaining != l.Trace.Remaining || !bytes.Equal(back.Trace.Data, l.Trace.Data) {
			t.Fatalf("round trip: %+v, want %+v", back.Trace, l.Trace)
		}
	})
}
