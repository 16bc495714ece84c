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

// A Hop-by-Hop header in a control message (as IPV6_RECVHOPOPTS delivers it) reads back whole,
// beside the packet info; a header whose length field says more than the message holds does not.
func TestHopOptsRoundTrip(t *testing.T) {
	hbh := []byte{17, 1, 1, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // PadN of 12: two 8-octet units
	src := netip.MustParseAddr("fc00:0:4::100")
	oob := AppendHopOpts(AppendPktinfo(nil, src, 3), hbh)
	var rx RXInfo
	ParseRXInfo(oob, &rx)
	if string(rx.HopByHop) != string(hbh) || rx.Dst != src {
		t.Errorf("parsed hop-by-hop % x, dst %v; want % x and %v", rx.HopByHop, rx.Dst, hbh, src)
	}
	long := append([]byte(nil), hbh...)
	long[1] = 2 // 24 octets said, 16 there
	ParseRXInfo(AppendHopOpts(nil, long), &rx)
	if rx.HopByHop != nil {
		t.Errorf("a header longer than its message read as % x", rx.HopByHop)
	}
}

func FuzzParseRXInfo(f *testing.F) {
	f.Add(AppendPktinfo(nil, netip.MustParseAddr("fc00::1"), 1))
	f.Add(AppendHopOpts(nil, []byte{17, 0, 1, 4, 0, 0, 0, 0}))
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
	// CLOCK_TAI − CLOCK_REALTIME is the kernel's TAI offset, give or take the two reads; the
	// closest of a few tries, so that a stalled vCPU between two reads does not count.
	best := time.Duration(1 << 62)
	for range 10 {
		var rt unix.Timespec
		tai := TAINow()
		if err := unix.ClockGettime(unix.CLOCK_REALTIME, &rt); err != nil {
			t.Fatal(err)
		}
		d := time.Duration(tai - rt.Nano() - int64(off))
		best = min(best, max(d, -d))
	}
	if best > time.Millisecond {
		t.Errorf("CLOCK_TAI − CLOCK_REALTIME − %v: off by %v at best", off, best)
	}
}
