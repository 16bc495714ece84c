package srh_test

import (
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/srv6oam/srv6oam/oam/srh"
)

// Craft an OAM probe (IPv6 + SRH with Probe and Timestamp Slots TLVs + ICMPv6 echo), then decode
// it with a DecodingLayerParser and read the TLVs back.
func Example() {
	src := netip.MustParseAddr("2001:db8:a::1")
	segments := []netip.Addr{ // travel order: first segment first
		netip.MustParseAddr("2001:db8:5::1"),
		netip.MustParseAddr("2001:db8:5::2"),
		netip.MustParseAddr("2001:db8:d::1"),
	}
	reg := srh.DefaultRegistry()
	slots, err := reg.SlotsTLV(len(segments))
	if err != nil {
		panic(err)
	}
	h := &srh.SRH{
		NextHeader:   layers.IPProtocolICMPv6,
		SegmentsLeft: uint8(len(segments) - 1),
		Flags:        srh.FlagOAM,
		Segments:     segments,
		TLVs:         []srh.TLV{reg.ProbeTLV(srh.Probe{Session: 7, Sequence: 1, TxTimestamp: 1_700_000_000_000_000_000}), slots},
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Routing,
		SrcIP: src.AsSlice(), DstIP: segments[0].AsSlice()}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
	// The pseudo-header destination is the final segment, not the IPv6 destination.
	if err := icmp.SetNetworkLayerForChecksum(h.ChecksumLayer(ip)); err != nil {
		panic(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ip, h, icmp, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1}); err != nil {
		panic(err)
	}
	fmt.Printf("%d bytes, SRH %d bytes\n", len(buf.Bytes()), h.Len())

	// Decode: an *srh.SRH in the parser answers for next header 43, no registration needed.
	var (
		ip6     layers.IPv6
		decoded srh.SRH
		icmp6   layers.ICMPv6
		echo    layers.ICMPv6Echo
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeIPv6, &ip6, &decoded, &icmp6, &echo)
	var types []gopacket.LayerType
	if err := parser.DecodeLayers(buf.Bytes(), &types); err != nil {
		panic(err)
	}
	active, _ := decoded.ActiveSegment()
	fmt.Println("segments:", decoded.Segments, "active:", active)
	probe, err := reg.Probe(&decoded)
	if err != nil {
		panic(err)
	}
	fmt.Printf("probe: session %d sequence %d\n", probe.Session, probe.Sequence)
	ts, err := reg.Slots(&decoded)
	if err != nil {
		panic(err)
	}
	slot, _ := ts.Slot(2) // wire index 2 = Segment List[2] = the first segment
	fmt.Printf("%d slots, slot 2 written: %v\n", ts.Len(), slot.Written())
	// Output:
	// 200 bytes, SRH 152 bytes
	// segments: [2001:db8:5::1 2001:db8:5::2 2001:db8:d::1] active: 2001:db8:5::1
	// probe: session 7 sequence 1
	// 3 slots, slot 2 written: false
}

// Sign an SRH so that a Linux node with seg6_require_hmac=1 and `ip sr hmac set 7 sha256`
// accepts it. The HMAC TLV goes last: Linux reads it from the last 40 bytes of the SRH.
func ExampleSRH_Sign() {
	h := &srh.SRH{
		NextHeader: layers.IPProtocolICMPv6,
		Segments:   []netip.Addr{netip.MustParseAddr("2001:db8:5::1")},
	}
	key := srh.HMACKey{ID: 7, Algorithm: srh.HMACSHA256, Secret: []byte("secret")}
	src := netip.MustParseAddr("2001:db8:a::1")
	if err := h.Sign(src, key); err != nil {
		panic(err)
	}
	fmt.Printf("flags %#02x, last TLV type %d, verifies: %v\n", h.Flags, h.TLVs[len(h.TLVs)-1].Type, h.VerifyHMAC(src, key) == nil)
	// Output: flags 0x08, last TLV type 5, verifies: true
}

// With gopacket.NewPacket, call Register once at start-up.
func ExampleRegister() {
	srh.Register()
	data := []byte{
		0x60, 0, 0, 0, 0, 24, 43, 64, // IPv6: payload 24, next header 43
		0x20, 0x01, 0x0d, 0xb8, 0, 0xa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // source
		0x20, 0x01, 0x0d, 0xb8, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // destination
		59, 2, 4, 0, 0, 0x20, 0, 0, // SRH: No Next Header, Hdr Ext Len 2, type 4, SL 0, LE 0, O-flag
		0x20, 0x01, 0x0d, 0xb8, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // Segment List[0]
	}
	p := gopacket.NewPacket(data, layers.LayerTypeIPv6, gopacket.Default)
	if h, ok := p.Layer(srh.LayerTypeSRH).(*srh.SRH); ok {
		fmt.Println(h.Segments, h.Flags&srh.FlagOAM != 0)
	}
	// Output: [2001:db8:5::1] true
}

// A malformed header names the field and the rule.
func ExampleFieldError() {
	var h srh.SRH
	err := h.DecodeFromBytes([]byte{58, 2, 4, 3, 0, 0, 0, 0, 15: 0, 23: 0}, gopacket.NilDecodeFeedback)
	fmt.Println(err)
	// Output: srh: Segments Left: 3 exceeds Last Entry + 1 = 1
}
