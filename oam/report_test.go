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
