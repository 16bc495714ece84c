package trace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/srv6oam/srv6oam/oam"
)

func sampleNextHops() []NodeNextHops {
	a := netip.MustParseAddr
	return []NodeNextHops{
		{Index: 0, SID: a("fc00:0:2::b0"), Next: a("fc00:0:5::b0"), Reported: true, NodeID: 2, NextHops: oam.NextHops{
			Destination: a("fc00:0:5::b0"), Status: oam.NextHopsOK, Prefix: netip.MustParsePrefix("fc00:0:5::/48"), Table: 254,
			Hops: []oam.NextHop{
				{Gateway: a("fe80::1"), Ifindex: 3, Ifname: "eth1", Weight: 1},
				{Gateway: netip.IPv6Unspecified(), Ifindex: 4, Ifname: "eth2", Weight: 3, LinkDown: true},
			}}},
		{Index: 1, SID: a("fc00:0:5::b0"), Next: a("fc00:0:6::1"), Reported: true, NodeID: 5, NextHops: oam.NextHops{
			Destination: a("fc00:0:6::1"), Status: oam.NextHopsNoRoute}},
		{Index: 2, SID: a("fc00:0:6::1"), Next: a("fc00:0:7::1")},
		{Index: 3, SID: a("fc00:0:7::1"), Next: a("fc00:0:8::1"), Reported: true, NodeID: 7, Unsupported: true},
		{Index: 4, SID: a("fc00:0:8::1"), Next: a("fc00:0:9::1"), NotAwaited: true},
		{Index: 5, SID: a("fc00:0:9::1"), Next: a("fc00:0:a::1"), Reported: true, NodeID: 9, NextHops: oam.NextHops{
			Destination: a("fc00:0:a::1"), Status: oam.NextHopsNoRoute, OutputLookup: true}},
	}
}

func TestNextHopLine(t *testing.T) {
	all := sampleNextHops()
	for _, c := range []struct {
		n    *NodeNextHops
		mda  int
		want string
	}{
		{&all[0], 2, "FIB fc00:0:5::/48 → fc00:0:5::b0: 2 next hops via fe80::1%eth1, direct%eth2 weight 3 linkdown; MDA found 2"},
		{&all[0], -1, "FIB fc00:0:5::/48 → fc00:0:5::b0: 2 next hops via fe80::1%eth1, direct%eth2 weight 3 linkdown"},
		{&all[1], 1, "FIB → fc00:0:6::1: no route; MDA found 1"},
		{&all[2], -1, "FIB → fc00:0:7::1: no agent report"},
		{&all[3], -1, "FIB → fc00:0:8::1: the agent (node 7) reported no next hops: an srv6-agent without --agent-nexthops support"},
		{&all[4], -1, "FIB → fc00:0:9::1: no agent report before the wait was interrupted"},
		{&all[5], -1, "FIB → fc00:0:a::1: no route (output lookup: the lookup from the ingress interface failed)"},
	} {
		if got := nextHopLine(c.n, c.mda); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
}

// TestNextHopsJSONSchema: what NewJSONNextHops renders validates against the published schema,
// and the schema's rules catch documents that contradict themselves.
func TestNextHopsJSONSchema(t *testing.T) {
	c := jsonschema.NewCompiler()
	schema, err := c.Compile("../../docs/json/srv6-trace-agent-nexthops.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	check := func(doc string) error {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		if err != nil {
			t.Fatalf("not JSON: %v\n%s", err, doc)
		}
		return schema.Validate(v)
	}
	good, err := json.Marshal(NewJSONNextHops(sampleNextHops(), nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := check(string(good)); err != nil {
		t.Fatalf("rendered next hops do not validate: %v\n%s", err, good)
	}
	for name, bad := range map[string]string{
		"status without a report":  `[{"index":1,"sid":"fc00::1","next_segment":"fc00::2","reported":false,"status":"ok"}]`,
		"report without status":    `[{"index":1,"sid":"fc00::1","next_segment":"fc00::2","reported":true,"node_id":2}]`,
		"ok without next hops":     `[{"index":1,"sid":"fc00::1","next_segment":"fc00::2","reported":true,"node_id":2,"status":"ok","prefix":"fc00::/64"}]`,
		"next hops with no-route":  `[{"index":1,"sid":"fc00::1","next_segment":"fc00::2","reported":true,"node_id":2,"status":"no-route","nexthops":[{"gateway":"::","ifindex":1,"ifname":"e","weight":1}]}]`,
		"weight 0":                 `[{"index":1,"sid":"fc00::1","next_segment":"fc00::2","reported":true,"node_id":2,"status":"ok","prefix":"fc00::/64","nexthops":[{"gateway":"::","ifindex":1,"ifname":"e","weight":0}]}]`,
		"unknown status":           `[{"index":1,"sid":"fc00::1","next_segment":"fc00::2","reported":true,"node_id":2,"status":"maybe"}]`,
		"reported, not awaited":    `[{"index":1,"sid":"fc00::1","next_segment":"fc00::2","reported":true,"node_id":2,"status":"no-route","not_awaited":true}]`,
		"output lookup, no report": `[{"index":1,"sid":"fc00::1","next_segment":"fc00::2","reported":false,"output_lookup":true}]`,
	} {
		if check(bad) == nil {
			t.Errorf("%s: validates, want a schema error", name)
		}
	}
}

// TestAbsorb: records of this session land on the SID they name (by Segments Left), a record
// without next hops marks its SID unsupported, others are ignored.
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
func TestNextHopsFooter(t *testing.T) {
	all := sampleNextHops()
	var b strings.Builder
	p := &Printer{W: &b}
	p.nextHopsFooter(all[4:5], errors.New("agent next hops: wait interrupted: context canceled"))
	if got, want := b.String(), "agent next hops: wait interrupted: context canceled\n"; got != want {
		t.Errorf("interrupted: got %q, want %q", got, want)
	}
	b.Reset()
	p.nextHopsFooter(all, nil)
	if got := b.String(); got != nextHopsHint+"\n" {
		t.Errorf("got %q, want the hint once", got)
	}
}

// TestReadReportsCaptureNotAliased: a decoded report handed on holds no Capture pointing into
// the reader's buffer, which the next datagram overwrites.
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
