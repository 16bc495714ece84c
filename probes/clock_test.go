package probes

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestPktinfoRoundTrip(t *testing.T) {
	src := netip.MustParseAddr("fc00:0:4::100")
	oob := AppendPktinfo(make([]byte, 0, PktinfoSize), src, 7)
	if len(oob) != PktinfoSize {
		t.Fatalf("pktinfo of %d bytes, want %d", len(oob), PktinfoSize)
	}
	var rx RXInfo
	ParseRXInfo(oob, &rx)
	if rx.Dst != src || rx.Ifindex != 7 || rx.RealtimeNs != 0 || rx.HopLimit != -1 {
		t.Errorf("parsed %+v", rx)
	}
	if n := testing.AllocsPerRun(100, func() { oob = AppendPktinfo(oob[:0], src, 0) }); n != 0 {
		t.Errorf("AppendPktinfo into a buffer with room: %v allocs", n)
	}
}

func FuzzParseRXInfo(f *testing.F) {
	f.Add(AppendPktinfo(nil, netip.MustParseAddr("fc00::1"), 1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, oob []byte) {
		var rx RXInfo
		ParseRXInfo(oob, &rx) // must not panic on any control-message bytes
	})
}

func TestTAIOffsetMatchesClocks(t *testing.T) {
	off, err := TAIOffset()
	if err != nil {
		t.Fatal(err)
	}
	var rt unix.Timespec
	tai := TAINow()
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &rt); err != nil {
		t.Fatal(err)
	}
	// CLOCK_TAI − CLOCK_REALTIME is the kernel's TAI offset, give or take the two reads.
	if d := tai - rt.Nano() - int64(off); d > int64(time.Millisecond) || d < -int64(time.Millisecond) {
		t.Errorf("CLOCK_TAI − CLOCK_REALTIME − %v = %v", off, time.Duration(d))
	}
}
