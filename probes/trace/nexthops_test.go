package trace

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
)

func TestAbsorb(t *testing.T) {
	a := netip.MustParseAddr
	path := oam.SegmentList{a("fc00:0:2::b0"), a("fc00:0:5::b0"), a("fc00:0:6::1")}
	out := []NodeNextHops{{Index: 0, SID: path[0], Next: path[1]}, {Index: 1, SID: path[1], Next: path[2]}}
	nh := &oam.NextHops{Destination: path[1], Status: oam.NextHopsNoRoute}
	r := oam.Report{NodeID: 9, Records: []oam.ReportRecord{
		{SID: path[0], Session: 1, SegmentsLeft: 1, NextHops: nh}, // path[0]: SL after the decrement 1
		{SID: path[0], Session: 2, SegmentsLeft: 1, NextHops: nh}, // another session
		{SID: path[1], Session: 1, SegmentsLeft: 1, NextHops: nh}, // SID and SL disagree
		{SID: path[1], Session: 1, SegmentsLeft: 7},               // SL out of range
	}}
	if n := absorb(out, path, 1, &r); n != 1 || !out[0].Reported || out[0].NodeID != 9 || out[0].NextHops.Status != oam.NextHopsNoRoute || out[1].Reported {
		t.Fatalf("absorbed %d: %+v", n, out)
	}
	r.Records = []oam.ReportRecord{{SID: path[1], Session: 1, SegmentsLeft: 0}}
	if n := absorb(out, path, 1, &r); n != 1 || !out[1].Reported || !out[1].Unsupported {
		t.Fatalf("record without next hops: absorbed %d: %+v", n, out[1])
	}
	if n := absorb(out, path, 1, &r); n != 0 {
		t.Fatalf("a second report for a SID counted again")
	}

	// A SID twice in the segment list (A B A C): each visit is its own entry, told apart by
	// Segments Left, with its own next segment.
	path = oam.SegmentList{a("fc00:0:2::b0"), a("fc00:0:5::b0"), a("fc00:0:2::b0"), a("fc00:0:6::1")}
	out = []NodeNextHops{{Index: 0, SID: path[0], Next: path[1]}, {Index: 1, SID: path[1], Next: path[2]}, {Index: 2, SID: path[2], Next: path[3]}}
	toB := &oam.NextHops{Destination: path[1], Status: oam.NextHopsLocal}
	toC := &oam.NextHops{Destination: path[3], Status: oam.NextHopsNoRoute}
	r = oam.Report{NodeID: 2, Records: []oam.ReportRecord{
		{SID: path[2], Session: 1, SegmentsLeft: 0, NextHops: toC}, // second visit: path[2]
		{SID: path[0], Session: 1, SegmentsLeft: 2, NextHops: toB}, // first visit: path[0]
		{SID: path[0], Session: 1, SegmentsLeft: 2, NextHops: toC}, // first visit again: not counted
	}}
	if n := absorb(out, path, 1, &r); n != 2 || !out[0].Reported || !out[2].Reported || out[1].Reported ||
		out[0].NextHops.Destination != path[1] || out[2].NextHops.Destination != path[3] {
		t.Fatalf("repeated SID: absorbed %d: %+v", n, out)
	}
}

// TestNextHopsFooter: the step's error prints as one line; the "no agent report" hint is only
// for SIDs that had their whole chance to answer.
func TestReadReportsCaptureNotAliased(t *testing.T) {
	udp, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan oam.Report, 2)
	go readReports(ctx, udp, got)
	tx, err := net.DialUDP("udp6", nil, udp.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	for seq := uint32(1); seq <= 2; seq++ {
		rep := oam.Report{NodeID: 1, Records: []oam.ReportRecord{{SID: netip.MustParseAddr("fc00::1"), Session: 1, Sequence: seq,
			Capture: bytes.Repeat([]byte{byte(seq)}, 40)}}}
		b, err := rep.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		select {
		case r := <-got:
			if r.Records[0].Capture != nil {
				t.Errorf("report %d: capture %x handed on, want nil", r.Records[0].Sequence, r.Records[0].Capture)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no report read")
		}
	}
}
