package delay

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
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

func testPoints() []collect.Point {
	pts := collect.PathPoints(oam.SegmentList{path[0], path[1], netip.MustParseAddr("fc00:0:4::b0"), src}, true)
	for i, n := range []string{"A", "B", "C"} {
		pts[i+1].Name = n
	}
	return pts
}

func TestFormat(t *testing.T) {
	pts := testPoints()
	d := func(us int64) collect.SegmentResult {
		return collect.SegmentResult{State: oam.DelayMeasured, Delay: time.Duration(us) * time.Microsecond, Bound: 2 * time.Microsecond, Raw: time.Duration(us) * time.Microsecond, HaveRaw: true}
	}
	r := Result{ProbeResult: collect.ProbeResult{Sequence: 4, Status: collect.StatusComplete, RTT: 412 * time.Microsecond, LostOn: -1,
		Segments: []collect.SegmentResult{d(61), d(102), d(97), d(71)}}}
	var b bytes.Buffer
	if err := FormatResult(&b, r, pts, false); err != nil {
		t.Fatal(err)
	}
	want := "seq=4 rtt=0.412 ms   src→A 0.061   A→B 0.102   B→C 0.097   C→src 0.071 ms (one-way, ±0.002)\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}

	// Unsynchronised and negative segments never print a number.
	r.Segments[1] = collect.SegmentResult{State: oam.DelayNegative, Raw: -30 * time.Microsecond, HaveRaw: true}
	r.Segments[2] = collect.SegmentResult{State: oam.DelayUnsynchronised, Raw: 5 * time.Second, HaveRaw: true}
	b.Reset()
	FormatResult(&b, r, pts, false)
	if s := b.String(); !strings.Contains(s, "A→B neg!") || !strings.Contains(s, "B→C unsync") || strings.Contains(s, "-0.030") || strings.Contains(s, "5000") {
		t.Errorf("got %q", s)
	}

	lost := Result{ProbeResult: collect.ProbeResult{Sequence: 5, Status: collect.StatusLost, LastSeen: 2, LostOn: 2,
		Segments: []collect.SegmentResult{d(61), d(102), {State: oam.DelayLost}, {State: oam.DelayNotReached}}},
		Transitions: []collect.Transition{{Segment: 2, From: "B", To: "C", Old: collect.LiveUp, New: collect.LiveDown, Sequence: 5}}}
	b.Reset()
	FormatResult(&b, lost, pts, true)
	want = "seq=5 lost on B→C (last seen by B)   src→A 0.061   A→B 0.102   B→C LOST   C→src - ms (one-way, shared clock)\n" +
		"segment B→C is down (seq=5, was up)\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
}

// TestSummaryAndJSON runs a collector over a few synthetic probes and checks the summary text
// and the JSON document.
func TestSummaryAndJSON(t *testing.T) {
	pts := testPoints()
	var results []Result
	c, err := collect.New(collect.Config{Session: 9, Points: pts, SharedClock: true, UpMultiplier: 1,
		OnResult: func(r *collect.ProbeResult) {
			cp := Result{ProbeResult: *r}
			cp.Segments = append([]collect.SegmentResult(nil), r.Segments...)
			results = append(results, cp)
		}})
	if err != nil {
		t.Fatal(err)
	}
	const ms = int64(time.Millisecond)
	for seq := uint32(1); seq <= 3; seq++ {
		tx := int64(seq) * 100 * ms
		c.ObserveTx(seq, tx, tx)
		for v := 0; v < 3; v++ {
			if seq == 3 && v == 2 {
				break // lost between B and C
			}
			c.ObserveRecord(uint32(v+2), oam.ClockState{}, &oam.ReportRecord{SID: pts[v+1].SID, Session: 9, Sequence: seq,
				TimestampNs: uint64(tx + int64(v+1)*ms), SenderTxNs: uint64(tx), SegmentsLeft: uint8(pts[v+1].WireIndex - 1)}, tx)
		}
		if seq != 3 {
			c.ObserveReceive(seq, tx+5*ms, tx)
		}
	}
	c.Flush(time.Hour.Nanoseconds())
	s := Summary{Summary: c.Summary(), Transmitted: 3, SharedClock: true}
	var b bytes.Buffer
	if err := FormatSummary(&b, s, pts, "C"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"3 probes transmitted, 2 returned, 33.3% loss",
		"rtt min/avg/max/mdev = 5.000/5.000/5.000/0.000 ms",
		"src→A    1.000/1.000/1.000/0.000",
		"B→C      1.000/1.000/1.000/0.000",
		"33.3% (1/3)",
		"C→src    2.000/2.000/2.000/0.000",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	js, err := json.Marshal(NewJSONResult(results[2], pts))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":3,"status":"lost","tx_tai_ns":300000000,"lost_on":2,"last_seen":"B","segments":[` +
		`{"from":"src","to":"A","state":"measured","delay_ms":1,"bound_ms":0},` +
		`{"from":"A","to":"B","state":"measured","delay_ms":1,"bound_ms":0},` +
		`{"from":"B","to":"C","state":"lost"},{"from":"C","to":"src","state":"not-reached"}]}`
	if string(js) != want {
		t.Errorf("JSON\n got %s\nwant %s", js, want)
	}
	js, err = json.Marshal(NewJSONSummary(s))
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	segs := back["segments"].([]any)
	bc := segs[2].(map[string]any)
	if bc["lost"].(float64) != 1 || bc["reached"].(float64) != 3 || bc["liveness"] != "up" {
		t.Errorf("B→C summary %v", bc)
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
