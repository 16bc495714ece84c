package oam

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func sampleReport() Report {
	return Report{
		NodeID: 0x01020304,
		Clock:  ClockState{Synchronised: true, State: 0, EstErrorMicros: 12, MaxErrorMicros: 345},
		Records: []ReportRecord{
			{SID: netip.MustParseAddr("fc00:2::100"), Session: 7, Sequence: 1, TimestampNs: 1_700_000_000_123, SenderTxNs: 1_700_000_000_000, IngressIfindex: 3, SegmentsLeft: 1, SlotWritten: true},
			{SID: netip.MustParseAddr("fc00:3::100"), Session: 7, Sequence: 2, TimestampNs: 9, SenderTxNs: 8, IngressIfindex: 4, SegmentsLeft: 0, Capture: []byte{0x60, 0, 0, 0, 1, 2}},
		},
	}
}

func TestReportRoundTrip(t *testing.T) {
	in := sampleReport()
	b, err := in.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := ReportHeaderSize + 2*ReportRecordSize + 6; len(b) != want {
		t.Fatalf("encoded %d bytes, want %d", len(b), want)
	}
	var out Report
	if err := out.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if out.NodeID != in.NodeID || out.Clock != in.Clock || len(out.Records) != len(in.Records) {
		t.Fatalf("decoded %+v, want %+v", out, in)
	}
	for i := range in.Records {
		a, b := in.Records[i], out.Records[i]
		if !bytes.Equal(a.Capture, b.Capture) {
			t.Errorf("record %d capture %x, want %x", i, b.Capture, a.Capture)
		}
		a.Capture, b.Capture = nil, nil
		if !reflect.DeepEqual(a, b) {
			t.Errorf("record %d = %+v, want %+v", i, b, a)
		}
	}
}

// TestReportGolden pins the byte layout documented in docs/wire-format.md.
func TestReportGolden(t *testing.T) {
	r := Report{NodeID: 2, Clock: ClockState{Synchronised: false, State: 5, EstErrorMicros: 1, MaxErrorMicros: 16000000},
		Records: []ReportRecord{{SID: netip.MustParseAddr("fc00::1"), Session: 0xaabbccdd, Sequence: 9, TimestampNs: 0x0102030405060708, SenderTxNs: 0x1112131415161718, IngressIfindex: 5, SegmentsLeft: 2, SlotWritten: true}}}
	b, err := r.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		'S', '6', 'A', 'R', 1, 0x00, 5, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0x00, 0xf4, 0x24, 0x00, 0, 1, 0, 0,
		0xfc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		0xaa, 0xbb, 0xcc, 0xdd, 0, 0, 0, 9,
		1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
		0, 0, 0, 5, 2, 0x80, 0, 0,
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding\n got %x\nwant %x", b, want)
	}
}

func TestReportDecodeErrorsNameField(t *testing.T) {
	good, err := func() ([]byte, error) { r := sampleReport(); return r.AppendBinary(nil) }()
	if err != nil {
		t.Fatal(err)
	}
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, tc := range []struct {
		name, field string
		data        []byte
	}{
		{"short", "length", good[:10]},
		{"magic", "magic", mut(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"version", "version", mut(func(b []byte) []byte { b[4] = 2; return b })},
		{"clock flags", "clock flags", mut(func(b []byte) []byte { b[5] = 0x01; return b })},
		{"clock state", "clock state", mut(func(b []byte) []byte { b[6] = 6; return b })},
		{"zero count", "count", mut(func(b []byte) []byte { b[21] = 0; return b })},
		{"count too big", "count", mut(func(b []byte) []byte { b[21] = 3; return b })},
		{"record flags", "flags", mut(func(b []byte) []byte { b[ReportHeaderSize+45] = 1; return b })},
		{"capture len", "capture", mut(func(b []byte) []byte { return b[:len(b)-1] })},
		{"capture len over 255", "capture len", mut(func(b []byte) []byte { b[ReportHeaderSize+ReportRecordSize+46] = 1; return b })},
		{"trailing", "length", mut(func(b []byte) []byte { return append(b, 0) })},
	} {
		var r Report
		err := r.UnmarshalBinary(tc.data)
		var re *ReportError
		if !errors.As(err, &re) {
			t.Errorf("%s: error %v, want *ReportError", tc.name, err)
			continue
		}
		if re.Field != tc.field || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: error %q names field %q, want %q", tc.name, err, re.Field, tc.field)
		}
	}
}

func TestReportEncodeRejects(t *testing.T) {
	for name, r := range map[string]Report{
		"ipv4 sid":     {Records: []ReportRecord{{SID: netip.MustParseAddr("192.0.2.1")}}},
		"long capture": {Records: []ReportRecord{{SID: netip.IPv6Loopback(), Capture: make([]byte, 256)}}},
		"too many":     {Records: make([]ReportRecord, 30)},
	} {
		if name == "too many" {
			for i := range r.Records {
				r.Records[i].SID = netip.IPv6Loopback()
			}
		}
		if _, err := r.AppendBinary(nil); err == nil {
			t.Errorf("%s: encoded, want an error", name)
		}
	}
}

func TestReportBuilderBatchesUntilFull(t *testing.T) {
	var b ReportBuilder
	b.Reset(1, ClockState{})
	rec := ReportRecord{SID: netip.IPv6Loopback()}
	for b.Add(&rec) {
	}
	if want := (MaxReportSize - ReportHeaderSize) / ReportRecordSize; b.Count() != want {
		t.Fatalf("batched %d records, want %d", b.Count(), want)
	}
	var r Report
	if err := r.UnmarshalBinary(b.Bytes()); err != nil || len(r.Records) != b.Count() {
		t.Fatalf("decode full batch: %v (%d records)", err, len(r.Records))
	}
}

func FuzzReportDecode(f *testing.F) {
	r := sampleReport()
	good, _ := r.AppendBinary(nil)
	f.Add(good)
	nh := nextHopsReport()
	withHops, _ := nh.AppendBinary(nil)
	f.Add(withHops)
	f.Add(good[:ReportHeaderSize])
	f.Add([]byte("S6AR"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Report
		if err := r.UnmarshalBinary(data); err != nil {
			return
		}
		// What decodes re-encodes to the same bytes, reserved fields aside.
		again, err := r.AppendBinary(nil)
		if err != nil {
			t.Fatalf("re-encode decoded report: %v", err)
		}
		var r2 Report
		if err := r2.UnmarshalBinary(again); err != nil {
			t.Fatalf("decode re-encoded report: %v", err)
		}
		if len(r2.Records) != len(r.Records) || r2.NodeID != r.NodeID || r2.Clock != r.Clock {
			t.Fatalf("round trip changed the report: %+v vs %+v", r2, r)
		}
		for i := range r.Records {
			if !reflect.DeepEqual(r.Records[i].NextHops, r2.Records[i].NextHops) {
				t.Fatalf("record %d: next hops %+v re-decoded as %+v", i, r.Records[i].NextHops, r2.Records[i].NextHops)
			}
		}
	})
}

func BenchmarkReportEncode(b *testing.B) {
	r := sampleReport()
	var bld ReportBuilder
	b.ReportAllocs()
	for b.Loop() {
		bld.Reset(r.NodeID, r.Clock)
		for i := range r.Records {
			bld.Add(&r.Records[i])
		}
	}
}

func BenchmarkReportDecode(b *testing.B) {
	r := sampleReport()
	data, _ := r.AppendBinary(nil)
	var out Report
	out.Records = make([]ReportRecord, 0, 8)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := out.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}

// nextHopsReport has a record with two equal-cost next hops, one without a route and one plain.
func nextHopsReport() Report {
	r := sampleReport()
	r.Records[0].NextHops = &NextHops{
		Destination: netip.MustParseAddr("fc00:0:5::b0"), Status: NextHopsOK,
		Prefix: netip.MustParsePrefix("fc00:0:5::/48"), Table: 254,
		Hops: []NextHop{
			{Gateway: netip.MustParseAddr("fd00:0:0:2::2"), Ifindex: 3, Ifname: "to-r2", Weight: 1},
			{Gateway: netip.MustParseAddr("fd00:0:0:3::2"), Ifindex: 4, Ifname: "to-r3", Weight: 2, LinkDown: true},
		},
	}
	r.Records = append(r.Records, ReportRecord{SID: netip.MustParseAddr("fc00:4::100"), Session: 7, Sequence: 3,
		NextHops: &NextHops{Destination: netip.MustParseAddr("fc00:9::1"), Status: NextHopsNoRoute, OutputLookup: true}})
	return r
}

func TestReportNextHopsRoundTrip(t *testing.T) {
	in := nextHopsReport()
	b, err := in.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := ReportHeaderSize + 3*ReportRecordSize + 6 + 2*NextHopsHeaderSize + 2*NextHopSize
	if len(b) != want {
		t.Fatalf("encoded %d bytes, want %d", len(b), want)
	}
	var out Report
	if err := out.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	for i := range in.Records {
		a, b := in.Records[i], out.Records[i]
		if !bytes.Equal(a.Capture, b.Capture) {
			t.Errorf("record %d capture %x, want %x", i, b.Capture, a.Capture)
		}
		a.Capture, b.Capture = nil, nil
		if !reflect.DeepEqual(a, b) {
			t.Errorf("record %d = %+v (next hops %+v), want %+v (%+v)", i, b, b.NextHops, a, a.NextHops)
		}
	}
}

// TestReportNextHopsGolden pins the next-hop block of docs/wire-format.md.
func TestReportNextHopsGolden(t *testing.T) {
	r := Report{NodeID: 2, Records: []ReportRecord{{SID: netip.MustParseAddr("fc00::1"), Session: 1, Sequence: 2,
		NextHops: &NextHops{Destination: netip.MustParseAddr("fc00::2"), Status: NextHopsOK, Prefix: netip.MustParsePrefix("fc00::/64"), Table: 254,
			Hops: []NextHop{{Gateway: netip.MustParseAddr("fe80::1"), Ifindex: 7, Ifname: "eth1", Weight: 1, OnLink: true}}}}}}
	b, err := r.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := b[ReportHeaderSize:]
	if rec[45] != 0x40 {
		t.Errorf("record flags %#02x, want N (0x40)", rec[45])
	}
	want := []byte{
		0xfc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, // destination
		0xfc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // prefix
		64, 0, 0, 1, 0, 0, 0, 254, // prefix len, status, flags, count, table
		0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // gateway
		0, 0, 0, 7, 0, 1, 0x20, 0, // ifindex, weight, flags (O), reserved
		'e', 't', 'h', '1', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	}
	if got := rec[ReportRecordSize:]; !bytes.Equal(got, want) {
		t.Fatalf("next-hop block\n got %x\nwant %x", got, want)
	}
}

func TestReportNextHopsDecodeErrors(t *testing.T) {
	in := nextHopsReport()
	good, err := in.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	blk := ReportHeaderSize + ReportRecordSize // record 0 has no capture: its block follows
	hop0 := blk + NextHopsHeaderSize
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, tc := range []struct {
		name, field string
		data        []byte
	}{
		{"status", "next hops status", mut(func(b []byte) []byte { b[blk+33] = 9; return b })},
		{"block flags", "next hops flags", mut(func(b []byte) []byte { b[blk+34] = 1; return b })},
		{"count over max", "next hops count", mut(func(b []byte) []byte { b[blk+35] = MaxNextHops + 1; return b })},
		{"count zero with ok", "next hops count", mut(func(b []byte) []byte { b[blk+35] = 0; return b })},
		{"prefix len", "next hops prefix len", mut(func(b []byte) []byte { b[blk+32] = 129; return b })},
		{"prefix host bits", "next hops prefix", mut(func(b []byte) []byte { b[blk+31] = 1; return b })},
		{"prefix without route", "next hops prefix", mut(func(b []byte) []byte {
			b[blk+33] = uint8(NextHopsNoRoute)
			return b
		})},
		{"count past the end", "next hops", func() []byte {
			one := Report{Records: in.Records[:1]}
			b, _ := one.AppendBinary(nil)
			return b[:len(b)-10]
		}()},
		{"hop flags", "next hop flags", mut(func(b []byte) []byte { b[hop0+22] = 1; return b })},
		{"hop reserved", "next hop flags", mut(func(b []byte) []byte { b[hop0+23] = 1; return b })},
		{"ifindex", "next hop ifindex", mut(func(b []byte) []byte { b[hop0+19] = 0; return b })},
		{"weight", "next hop weight", mut(func(b []byte) []byte { b[hop0+21] = 0; return b })},
		{"weight over 256", "next hop weight", mut(func(b []byte) []byte { b[hop0+20] = 2; return b })},
		{"empty ifname", "next hop ifname", mut(func(b []byte) []byte { b[hop0+24] = 0; return b })},
		{"ifname after NUL", "next hop ifname", mut(func(b []byte) []byte { b[hop0+39] = 'x'; return b })},
		{"long ifname", "next hop ifname", mut(func(b []byte) []byte { copy(b[hop0+24:], "0123456789abcdef"); return b })},
		{"record flag without block", "next hops", mut(func(b []byte) []byte {
			b[ReportHeaderSize+ReportRecordSize+NextHopsHeaderSize+2*NextHopSize+ReportRecordSize+6+45] = 0x40
			return b[:len(b)-NextHopsHeaderSize]
		})},
	} {
		var r Report
		err := r.UnmarshalBinary(tc.data)
		var re *ReportError
		if !errors.As(err, &re) {
			t.Errorf("%s: error %v, want *ReportError", tc.name, err)
			continue
		}
		if re.Field != tc.field || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: error %q names field %q, want %q", tc.name, err, re.Field, tc.field)
		}
	}
}

func TestReportNextHopsEncodeRejects(t *testing.T) {
	dst := netip.MustParseAddr("fc00::2")
	ok := func(n NextHops) *NextHops {
		n.Destination, n.Status, n.Prefix = dst, NextHopsOK, netip.MustParsePrefix("fc00::/64")
		return &n
	}
	hop := NextHop{Gateway: netip.IPv6Unspecified(), Ifindex: 1, Ifname: "eth0", Weight: 1}
	for name, nh := range map[string]*NextHops{
		"ok without hops":            ok(NextHops{}),
		"too many":                   ok(NextHops{Hops: make([]NextHop, MaxNextHops+1)}),
		"weight 0":                   ok(NextHops{Hops: []NextHop{{Gateway: netip.IPv6Unspecified(), Ifindex: 1, Ifname: "eth0"}}}),
		"no ifname":                  ok(NextHops{Hops: []NextHop{{Gateway: netip.IPv6Unspecified(), Ifindex: 1, Weight: 1}}}),
		"ipv4 gateway":               ok(NextHops{Hops: []NextHop{{Gateway: netip.MustParseAddr("192.0.2.1"), Ifindex: 1, Ifname: "eth0", Weight: 1}}}),
		"unmasked prefix":            {Destination: dst, Prefix: netip.MustParsePrefix("fc00::1/64"), Hops: []NextHop{hop}},
		"no-route with hops":         {Destination: dst, Status: NextHopsNoRoute, Hops: []NextHop{hop}},
		"unknown status":             {Destination: dst, Status: 6},
		"invalid destination":        {Status: NextHopsNoRoute},
		"limited with output lookup": {Destination: dst, Status: NextHopsLimited, OutputLookup: true},
	} {
		r := Report{Records: []ReportRecord{{SID: netip.IPv6Loopback(), NextHops: nh}}}
		if _, err := r.AppendBinary(nil); err == nil {
			t.Errorf("%s: encoded, want an error", name)
		}
	}
}

func TestReportBuilderFitsRecordWithNextHops(t *testing.T) {
	var b ReportBuilder
	b.Reset(1, ClockState{})
	hops := make([]NextHop, MaxNextHops)
	for i := range hops {
		hops[i] = NextHop{Gateway: netip.IPv6LinkLocalAllNodes(), Ifindex: uint32(i + 1), Ifname: "eth0", Weight: 1}
	}
	rec := ReportRecord{SID: netip.IPv6Loopback(), Capture: make([]byte, 255), NextHops: &NextHops{
		Destination: netip.IPv6Loopback(), Status: NextHopsOK, Prefix: netip.MustParsePrefix("::/0"), Hops: hops}}
	n := 0
	for b.FitsRecord(&rec) {
		if !b.Add(&rec) {
			t.Fatal("FitsRecord said yes, Add said no")
		}
		n++
	}
	if n != 1 || b.Add(&rec) {
		t.Fatalf("%d full records in a datagram, want 1 (%d bytes each)", n, ReportRecordSize+255+NextHopsHeaderSize+MaxNextHops*NextHopSize)
	}
	var r Report
	if err := r.UnmarshalBinary(b.Bytes()); err != nil || len(r.Records[0].NextHops.Hops) != MaxNextHops {
		t.Fatalf("decode: %v", err)
	}
}
