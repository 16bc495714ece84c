package srh_test

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/oam/tsharktest"
)

// tsharkFields are the SRH fields tshark's IPv6 dissector reports, in the order asked.
var tsharkFields = []string{
	"ipv6.routing.nxt", "ipv6.routing.len", "ipv6.routing.type", "ipv6.routing.segleft",
	"ipv6.routing.srh.last_entry", "ipv6.routing.srh.flags", "ipv6.routing.srh.tag",
	"ipv6.routing.srh.addr", "icmpv6.checksum.status", "udp.checksum.status",
}

// TestTsharkWitness serializes packets with this package, lets tshark's SRv6 dissector decode
// them, and compares every SRH field tshark reports with ours. tshark also checks the ICMPv6
// and UDP checksums over the SRH's final segment (1 = good). Under CI=true a missing tshark
// fails the test.
func TestTsharkWitness(t *testing.T) {
	tsharktest.Require(t)
	reg := srh.DefaultRegistry()
	src := netip.MustParseAddr("2001:db8:a::1")
	segs := func(n int) []netip.Addr {
		s := make([]netip.Addr, n)
		for i := range s {
			s[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x5, 14: byte(i >> 8), 15: byte(i + 1)})
		}
		return s
	}
	slots, _ := reg.SlotsTLV(3)
	probe := reg.ProbeTLV(srh.Probe{Flags: srh.ProbeReport, Session: 1, Sequence: 2, TxTimestamp: 3, ReportTo: src, ReportPort: 9999})
	signed := &srh.SRH{NextHeader: layers.IPProtocolICMPv6, SegmentsLeft: 2, Flags: srh.FlagOAM, Tag: 7, Segments: segs(3), TLVs: []srh.TLV{probe, slots}}
	if err := signed.Sign(src, srh.HMACKey{ID: 1, Algorithm: srh.HMACSHA256, Secret: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		srh  *srh.SRH
	}{
		{"one segment ICMPv6", &srh.SRH{NextHeader: layers.IPProtocolICMPv6, Segments: segs(1)}},
		{"insert ICMPv6 probe", &srh.SRH{NextHeader: layers.IPProtocolICMPv6, SegmentsLeft: 3, Flags: srh.FlagOAM, Tag: 0xabcd,
			Segments: segs(4), TLVs: []srh.TLV{probe}}},
		{"signed probe with slots", signed},
		{"UDP with odd TLV and PadN", &srh.SRH{NextHeader: layers.IPProtocolUDP, SegmentsLeft: 1, Segments: segs(2),
			TLVs: []srh.TLV{{Type: 200, Value: []byte{1, 2, 3}}}}},
		{"encap", &srh.SRH{NextHeader: layers.IPProtocolIPv6, SegmentsLeft: 7, Flags: 0xff, Tag: 0xffff, Segments: segs(8)}},
		{"reduced", &srh.SRH{NextHeader: layers.IPProtocolIPv6, SegmentsLeft: 2, Segments: segs(2)}},
		{"many segments", &srh.SRH{NextHeader: layers.IPProtocolNoNextHeader, SegmentsLeft: 20, Segments: segs(64)}},
	}

	var wire [][]byte
	for _, c := range cases {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv6}
		dst := c.srh.Segments[0]
		if a, ok := c.srh.ActiveSegment(); ok {
			dst = a
		}
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Routing, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		ls := []gopacket.SerializableLayer{eth, ip, c.srh}
		switch c.srh.NextHeader {
		case layers.IPProtocolICMPv6:
			icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
			if err := icmp.SetNetworkLayerForChecksum(c.srh.ChecksumLayer(ip)); err != nil {
				t.Fatal(err)
			}
			ls = append(ls, icmp, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1}, gopacket.Payload("witness"))
		case layers.IPProtocolUDP:
			udp := &layers.UDP{SrcPort: 4000, DstPort: 5000}
			if err := udp.SetNetworkLayerForChecksum(c.srh.ChecksumLayer(ip)); err != nil {
				t.Fatal(err)
			}
			ls = append(ls, udp, gopacket.Payload("witness"))
		case layers.IPProtocolIPv6:
			inner := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolNoNextHeader, SrcIP: src.AsSlice(), DstIP: src.AsSlice()}
			ls = append(ls, inner)
		}
		wire = append(wire, serialize(t, true, ls...))
	}
	var pkts []tsharktest.Packet
	for _, data := range wire {
		pkts = append(pkts, tsharktest.Packet{Data: data})
	}
	rows, err := tsharktest.Fields(t.TempDir(), pkts, layers.LinkTypeEthernet, "", []string{"-o", "udp.check_checksum:TRUE"}, tsharkFields...)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(cases) {
		t.Fatalf("tshark decoded %d packets of %d: %v", len(rows), len(cases), rows)
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := rows[i]
			// What our decoder says about the same bytes.
			p := gopacket.NewPacket(wire[i], layers.LayerTypeEthernet, gopacket.Default)
			s, ok := p.Layer(srh.LayerTypeSRH).(*srh.SRH)
			if !ok {
				t.Fatalf("our decode: %v", p.ErrorLayer())
			}
			var wireOrder []string
			for j := len(s.Segments) - 1; j >= 0; j-- {
				wireOrder = append(wireOrder, s.Segments[j].String())
			}
			want := map[string]string{
				"ipv6.routing.nxt":            strconv.Itoa(int(s.NextHeader)),
				"ipv6.routing.len":            strconv.Itoa(int(s.HdrExtLen)),
				"ipv6.routing.type":           "4",
				"ipv6.routing.segleft":        strconv.Itoa(int(s.SegmentsLeft)),
				"ipv6.routing.srh.last_entry": strconv.Itoa(int(s.LastEntry)),
				"ipv6.routing.srh.flags":      fmt.Sprintf("0x%02x", s.Flags),
				"ipv6.routing.srh.tag":        fmt.Sprintf("%04x", s.Tag),
				"ipv6.routing.srh.addr":       strings.Join(wireOrder, ","),
			}
			switch s.NextHeader {
			case layers.IPProtocolICMPv6:
				want["icmpv6.checksum.status"] = "1"
			case layers.IPProtocolUDP:
				want["udp.checksum.status"] = "1"
			}
			for _, field := range tsharkFields {
				if w, ok := want[field]; ok && got[field] != w {
					t.Errorf("%s: tshark %q, ours %q", field, got[field], w)
				}
			}
			t.Logf("tshark: %v", got)
		})
	}
}
