package probes_test

import (
	"net/netip"
	"testing"

	"github.com/srv6oam/srv6oam/probes"
)

func TestSRHBytes(t *testing.T) {
	a, b, final := netip.MustParseAddr("fc00:0:2::b0"), netip.MustParseAddr("fc00:0:3::e"), netip.MustParseAddr("fc00:0:4::1")
	srh, err := probes.SRHBytes(final, []netip.Addr{a, b})
	if err != nil {
		t.Fatal(err)
	}
	// 8 fixed bytes + 3 segments; Hdr Ext Len 6, type 4, Segments Left 2, Last Entry 2;
	// Segment List[0] = final, [1] = b, [2] = a (the first SID is the last entry).
	if len(srh) != 56 || srh[1] != 6 || srh[2] != 4 || srh[3] != 2 || srh[4] != 2 {
		t.Fatalf("header % x", srh[:8])
	}
	for i, want := range []netip.Addr{final, b, a} {
		if got := netip.AddrFrom16([16]byte(srh[8+16*i:])); got != want {
			t.Errorf("Segment List[%d] = %v, want %v", i, got, want)
		}
	}
	if _, err := probes.SRHBytes(final, []netip.Addr{netip.MustParseAddr("192.0.2.1")}); err == nil {
		t.Error("IPv4 segment accepted")
	}
	if _, err := probes.SRHBytes(final, make([]netip.Addr, 128)); err == nil {
		t.Error("128 segments before the final one accepted")
	}
}
