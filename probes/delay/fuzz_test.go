package delay

import (
	"strings"
	"testing"

	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/oam/srh"
)

// FuzzParseReturn feeds parseReturn what the kernel hands over as the IPV6_RTHDR control
// message of a returning probe: any bytes. It must not panic, and what it accepts must hold a
// Probe TLV and a well-formed slots TLV.
func FuzzParseReturn(f *testing.F) {
	reg := srh.DefaultRegistry()
	b, err := NewProbeBuilder(ProbeConfig{Path: path, Source: src, Registry: reg, HopLimit: 64,
		Probe: srh.Probe{Flags: srh.ProbeReport, Session: 7, ReportTo: src, ReportPort: 9}})
	if err != nil {
		f.Fatal(err)
	}
	pkt, err := b.Build(3, 4)
	if err != nil {
		f.Fatal(err)
	}
	rthdr := pkt[40 : 40+8*(int(pkt[41])+1)]
	f.Add(append([]byte(nil), rthdr...))
	f.Add(rthdr[:8])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, slots, err := parseReturn(reg, data)
		if err != nil {
			return
		}
		if p.Version != srh.ProbeVersion {
			t.Fatalf("accepted probe version %d", p.Version)
		}
		if _, err := srh.ParseSlots(slots); err != nil {
			t.Fatalf("accepted bad slots: %v", err)
		}
	})
}

func TestParseReturn(t *testing.T) {
	reg := srh.DefaultRegistry()
	b, _ := NewProbeBuilder(ProbeConfig{Path: path, Source: src, Registry: reg, HopLimit: 64,
		Probe: srh.Probe{Session: 7, ReportTo: src, ReportPort: 9}})
	pkt, _ := b.Build(3, 4)
	rthdr := append([]byte(nil), pkt[40:40+8*(int(pkt[41])+1)]...)
	p, slots, err := parseReturn(reg, rthdr)
	if err != nil || p.Session != 7 || p.Sequence != 3 || len(slots) != srh.SlotsHeaderLen+3*srh.SlotLen {
		t.Fatalf("probe %+v, %d slot bytes, err %v", p, len(slots), err)
	}
	for _, tc := range []struct {
		data []byte
		want string
	}{
		{rthdr[:7], "Hdr Ext Len"},
		{func() []byte { b := append([]byte(nil), rthdr...); b[2] = 0; return b }(), "Routing Type"},
	} {
		if _, _, err := parseReturn(reg, tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one naming %q", err, tc.want)
		}
	}
	other := reg
	other.ProbeType = 125
	if _, _, err := parseReturn(other, rthdr); err == nil || !strings.Contains(err.Error(), "probe TLV") {
		t.Errorf("error %v, want no probe TLV", err)
	}
}

// FuzzCaptureTrace feeds captureTrace what an agent's report may carry as a probe's capture:
// any bytes. It must not panic; the capture of a real probe with an IOAM trace reads back.
func FuzzCaptureTrace(f *testing.F) {
	tr, err := ioam.NewTrace(9, ioam.Bits(ioam.BitHopLimitNodeID, ioam.BitTimestampSeconds), 4)
	if err != nil {
		f.Fatal(err)
	}
	b, err := NewProbeBuilder(ProbeConfig{Path: path, Source: src, Registry: srh.DefaultRegistry(), HopLimit: 64,
		Probe: srh.Probe{Flags: srh.ProbeReport, Session: 7, ReportTo: src, ReportPort: 9}, IOAM: &tr})
	if err != nil {
		f.Fatal(err)
	}
	pkt, err := b.Build(1, 2)
	if err != nil {
		f.Fatal(err)
	}
	capture := append([]byte(nil), pkt[:b.HeaderLen()]...)
	if rec, err := captureTrace(capture); err != nil || rec.Namespace != 9 || rec.Free != 4 {
		f.Fatalf("capture of a fresh probe: %+v, %v; want namespace 9 with 4 entries free", rec, err)
	}
	f.Add(capture)
	f.Add(pkt[:40])
	f.Add(capture[:50])
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := captureTrace(b)
		if (rec == nil) == (err == nil) {
			t.Fatalf("captureTrace: record %v and error %v", rec, err)
		}
	})
}
