package delay

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/srh"
)

var (
	src  = netip.MustParseAddr("fc00:0:1::1")
	path = oam.SegmentList{netip.MustParseAddr("fc00:0:2::b0"), netip.MustParseAddr("fc00:0:3::b0"), src}
)

func TestProbeBuilder(t *testing.T) {
	reg := srh.DefaultRegistry()
	b, err := NewProbeBuilder(ProbeConfig{Path: path, Source: src, Registry: reg, ID: 0x77, PayloadSize: 16, HopLimit: 64,
		Probe: srh.Probe{Flags: srh.ProbeReport, Session: 0xabcd, ReportTo: src, ReportPort: 4790}})
	if err != nil {
		t.Fatal(err)
	}
	pkt, err := b.Build(0x10002, 123456789)
	if err != nil {
		t.Fatal(err)
	}
	var (
		ip   layers.IPv6
		h    srh.SRH
		icmp layers.ICMPv6
		echo layers.ICMPv6Echo
		pl   gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeIPv6, &ip, &h, &icmp, &echo, &pl)
	var decoded []gopacket.LayerType
	if err := parser.DecodeLayers(pkt, &decoded); err != nil {
		t.Fatalf("decode: %v (%v)", err, decoded)
	}
	if got := netip.AddrFrom16([16]byte(ip.DstIP)); got != path[0] {
		t.Errorf("destination %v, want the first segment %v", got, path[0])
	}
	if h.SegmentsLeft != 2 || len(h.Segments) != 3 || h.Segments[2] != src || h.Flags&srh.FlagOAM == 0 {
		t.Errorf("SRH %+v", h)
	}
	p, err := reg.Probe(&h)
	if err != nil {
		t.Fatal(err)
	}
	if p.Session != 0xabcd || p.Sequence != 0x10002 || p.TxTimestamp != 123456789 || p.ReportTo != src || p.ReportPort != 4790 || p.Flags != srh.ProbeReport {
		t.Errorf("probe TLV %+v", p)
	}
	slots, err := reg.Slots(&h)
	if err != nil {
		t.Fatal(err)
	}
	if slots.Len() != 3 {
		t.Errorf("%d slots, want one per segment", slots.Len())
	}
	if h.TLVs[0].Type != reg.ProbeType || h.TLVs[1].Type != reg.SlotsType {
		t.Error("the Probe TLV must come first and the slots right after it (docs/wire-format.md)")
	}
	if echo.Identifier != 0x77 || echo.SeqNumber != 2 {
		t.Errorf("echo id %#x seq %d", echo.Identifier, echo.SeqNumber)
	}
	// The checksum covers the final segment (the source itself): recompute it.
	var icmp2 layers.ICMPv6
	_ = icmp2.SetNetworkLayerForChecksum(&layers.IPv6{SrcIP: ip.SrcIP, DstIP: src.AsSlice(), NextHeader: layers.IPProtocolICMPv6})
	buf := gopacket.NewSerializeBuffer()
	icmp2.TypeCode = icmp.TypeCode
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, &icmp2, &echo, &pl); err != nil {
		t.Fatal(err)
	}
	if icmp2.Checksum != icmp.Checksum {
		t.Errorf("checksum %#x, want %#x (over the final segment)", icmp.Checksum, icmp2.Checksum)
	}
	if n := testing.AllocsPerRun(100, func() { b.Build(5, 6) }); n != 0 {
		t.Errorf("Build allocates %.0f times per probe", n)
	}
}

func TestProbeBuilderErrors(t *testing.T) {
	reg := srh.DefaultRegistry()
	long := make(oam.SegmentList, 16)
	for i := range long {
		long[i] = src
	}
	for _, tc := range []struct {
		cfg  ProbeConfig
		want string
	}{
		{ProbeConfig{Path: path[:1], Source: src, Registry: reg}, "path"},
		{ProbeConfig{Path: long, Source: src, Registry: reg}, "at most 15"},
		{ProbeConfig{Path: path, Registry: reg}, "source"},
		{ProbeConfig{Path: path, Source: src, Registry: reg, PayloadSize: 5000}, "payload size"},
		{ProbeConfig{Path: path, Source: src, Registry: reg, FlowLabel: 1 << 20}, "flow label"},
	} {
		if _, err := NewProbeBuilder(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one naming %q", err, tc.want)
		}
	}
}

func TestSeqFor(t *testing.T) {
	for _, tc := range []struct {
		last uint32
		wire uint16
		want uint32
		ok   bool
	}{
		{10, 10, 10, true},
		{10, 7, 7, true},
		{0x10005, 0xfffe, 0xfffe, true},
		{0x10005, 5, 0x10005, true},
		{10, 11, 0, false},  // not sent yet
		{5000, 1, 0, false}, // older than the window
		{0, 0, 0, false},
	} {
		got, ok := seqFor(tc.last, tc.wire, 1024)
		if got != tc.want || ok != tc.ok {
			t.Errorf("seqFor(%d, %d) = %d %v, want %d %v", tc.last, tc.wire, got, ok, tc.want, tc.ok)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Count: -1}, "count"},
		{Options{Interval: -time.Second}, "interval"},
		{Options{Timeout: -time.Second}, "timeout"},
		{Options{Linger: -time.Second}, "linger"},
		{Options{HopLimit: 300}, "hop limit"},
		{Options{DetectMultiplier: 256}, "detect multiplier"},
		{Options{UpMultiplier: -1}, "up multiplier"},
	} {
		if _, err := tc.opts.withDefaults(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %q", tc.opts, err, tc.want)
		}
	}
	o, err := Options{}.withDefaults()
	if err != nil || o.Interval != time.Second || o.Timeout != 2*time.Second || o.Session == 0 || o.Identifier == 0 ||
		o.Registry.ProbeType != srh.DefaultTypeProbe {
		t.Errorf("defaults %+v, %v", o, err)
	}
	if _, err := New(t.Context(), oam.Target{Segments: path[:1], Destination: path[1], Decap: true}, Options{}); err == nil || !strings.Contains(err.Error(), "decap") {
		t.Errorf("decap: %v", err)
	}
}
