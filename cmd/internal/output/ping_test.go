package output

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
)

func TestPrinter(t *testing.T) {
	tg := oam.Target{Segments: oam.SegmentList{netip.MustParseAddr("fc00:1::e"), netip.MustParseAddr("fc00:2::e")},
		Destination: netip.MustParseAddr("fc00:4::1")}
	var buf bytes.Buffer
	p := &PingPrinter{W: &buf, Target: tg}
	p.Header(56)
	p.Result(oam.Result{Seq: 1, Kind: oam.KindReply, From: tg.Destination, Bytes: 64, HopLimit: 62, RTT: 81 * time.Microsecond})
	p.Result(oam.Result{Seq: 2, Kind: oam.KindReply, From: tg.Destination, Bytes: 64, HopLimit: 62, RTT: 1234 * time.Microsecond, Duplicate: true})
	p.Result(oam.Result{Seq: 3, Kind: oam.KindError, From: netip.MustParseAddr("fd00:12::2"), HopLimit: 63,
		Error: "Destination unreachable: No route", At: oam.Position{Index: 1, SID: tg.Segments[1], SegmentsLeft: 1, CSID: -1, Dst: tg.Segments[1]}})
	p.Result(oam.Result{Seq: 4, Kind: oam.KindTimeout})
	s := oam.Summary{Transmitted: 5, Elapsed: 4005 * time.Millisecond}
	for _, d := range []time.Duration{71, 80, 91, 78} {
		s.Add(oam.Result{Kind: oam.KindReply, RTT: d * time.Microsecond})
	}
	s.Add(oam.Result{Kind: oam.KindReply, Duplicate: true})
	s.Add(oam.Result{Kind: oam.KindError})
	p.Summary(s)
	want := `SRV6-PING fc00:4::1 via fc00:1::e → fc00:2::e: 56 data bytes
64 bytes from fc00:4::1: icmp_seq=1 hlim=62 time=0.081 ms
64 bytes from fc00:4::1: icmp_seq=2 hlim=62 time=1.23 ms (DUP!)
From fd00:12::2 icmp_seq=3 Destination unreachable: No route (active segment 2/3 fc00:2::e, SL=1)

--- fc00:4::1 srv6-ping statistics ---
5 packets transmitted, 4 received, +1 duplicates, +1 errors, 20% packet loss, time 4005ms
rtt min/avg/max/mdev = 0.071/0.080/0.091/0.007 ms
`
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	buf.Reset()
	(&PingPrinter{W: &buf, Target: oam.Target{Destination: tg.Destination}}).Summary(oam.Summary{Transmitted: 3})
	if !strings.Contains(buf.String(), "--- fc00:4::1 ping statistics ---\n3 packets transmitted, 0 received, 100% packet loss, time 0ms\n") ||
		strings.Contains(buf.String(), "rtt") {
		t.Errorf("no-reply summary:\n%s", buf.String())
	}
}

func TestAppendRTT(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{81 * time.Microsecond, "0.081"},
		{999 * time.Microsecond, "0.999"},
		{1234 * time.Microsecond, "1.23"},
		{12345 * time.Microsecond, "12.3"},
		{123456 * time.Microsecond, "123"},
		{-time.Microsecond, "0.000"},
	} {
		if got := string(AppendRTT(nil, c.d)); got != c.want {
			t.Errorf("AppendRTT(%v) = %s, want %s", c.d, got, c.want)
		}
	}
}

func TestBeforeColon(t *testing.T) {
	for in, want := range map[string]string{
		"cafe::2 via fcbb:0:400:300:200:d46::": "cafe::2 via [fcbb:0:400:300:200:d46::]",
		"fcbb::":                               "[fcbb::]",
		"fc00:4::1 via fc00:1::e → fc00:2::e":  "fc00:4::1 via fc00:1::e → fc00:2::e",
	} {
		if got := BeforeColon(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
