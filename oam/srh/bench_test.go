package srh_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/srv6oam/srv6oam/oam/srh"
)

// benchPacket is the packet of the benchmark: IPv6 + SRH with 8 segments and a 32-byte
// TLV (experimental type 125 with a 30-byte value) + ICMPv6 echo request with a small payload, SRH in insert
// mode so the ICMPv6 checksum uses the final segment.
type benchPacket struct {
	ip      layers.IPv6
	srh     srh.SRH
	icmp    layers.ICMPv6
	echo    layers.ICMPv6Echo
	payload gopacket.Payload
	list    []gopacket.SerializableLayer
}

func newBenchPacket() *benchPacket {
	p := &benchPacket{}
	segs := make([]netip.Addr, 8)
	for i := range segs {
		segs[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 5, 15: byte(i + 1)})
	}
	p.ip = layers.IPv6{
		Version:    6,
		HopLimit:   64,
		NextHeader: layers.IPProtocolIPv6Routing,
		SrcIP:      net.ParseIP("2001:db8:a::1").To16(),
		DstIP:      net.IP(segs[0].AsSlice()),
	}
	p.srh = srh.SRH{
		NextHeader:   layers.IPProtocolICMPv6,
		SegmentsLeft: 7,
		Flags:        srh.FlagOAM,
		Segments:     segs,
		TLVs:         []srh.TLV{{Type: 125, Value: make([]byte, 30)}}, // 32 bytes with type and length
	}
	p.icmp = layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
	p.echo = layers.ICMPv6Echo{Identifier: 0x1234, SeqNumber: 1}
	p.payload = gopacket.Payload("srv6oam benchmark payload 32 B!!")
	p.list = []gopacket.SerializableLayer{&p.ip, &p.srh, &p.icmp, &p.echo, &p.payload}
	return p
}

func (p *benchPacket) serialize(buf gopacket.SerializeBuffer) error {
	if err := p.icmp.SetNetworkLayerForChecksum(p.srh.ChecksumLayer(&p.ip)); err != nil {
		return err
	}
	return gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, p.list...)
}

func BenchmarkSerialize(b *testing.B) {
	p := newBenchPacket()
	buf := gopacket.NewSerializeBuffer()
	b.ReportAllocs()
	for b.Loop() {
		p.echo.SeqNumber++
		if err := p.serialize(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf.Bytes())))
}

func BenchmarkDecode(b *testing.B) {
	p := newBenchPacket()
	buf := gopacket.NewSerializeBuffer()
	if err := p.serialize(buf); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	var (
		ip6     layers.IPv6
		h       srh.SRH
		icmp    layers.ICMPv6
		echo    layers.ICMPv6Echo
		payload gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeIPv6, &ip6, &h, &icmp, &echo, &payload)
	decoded := make([]gopacket.LayerType, 0, 8)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := parser.DecodeLayers(data, &decoded); err != nil {
			b.Fatal(err)
		}
	}
	if len(decoded) != 5 || len(h.Segments) != 8 {
		b.Fatalf("decoded %v, %d segments", decoded, len(h.Segments))
	}
}

// BenchmarkSign is the HMAC (SHA-256) over 8 segments. The HMAC covers neither Segments Left,
// the tag nor the TLVs, so a prober signs once per segment list, not once per probe.
func BenchmarkSign(b *testing.B) {
	p := newBenchPacket()
	key := srh.HMACKey{ID: 1, Algorithm: srh.HMACSHA256, Secret: []byte("benchmark-secret")}
	src := netip.AddrFrom16([16]byte(p.ip.SrcIP))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.srh.Sign(src, key); err != nil {
			b.Fatal(err)
		}
	}
}
