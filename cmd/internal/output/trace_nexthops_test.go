package output

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/trace"
)

func sampleNextHops() []trace.NodeNextHops {
	a := netip.MustParseAddr
	return []trace.NodeNextHops{
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
		n    *trace.NodeNextHops
		mda  int
		want string
	}{
		{&all[0], 2, "FIB fc00:0:5::/48 → fc00:0:5::b0: 2 next hops via fe80::1%eth1, direct%eth2 weight 3 linkdown; MDA found 2"},
		{&all[0], -1, "FIB fc00:0:5::/48 → fc00:0:5::b0: 2 next hops via fe80::1%eth1, direct%eth2 weight 3 linkdown"},
		{&all[1], 1, "FIB → fc00:0:6::1: no route; MDA found 1"},
		{&all[2], -1, "FIB → fc00:0:7::1: no agent report"},
		{&all[3], -1, "FIB → fc00:0:8::1: the agent (node 7) reported no next hops: this host is not among its trusted collectors (srv6-agent --trusted-collector), or the agent predates --agent-nexthops"},
		{&all[4], -1, "FIB → fc00:0:9::1: no agent report before the wait was interrupted"},
		{&all[5], -1, "FIB → fc00:0:a::1: no route (output lookup: the lookup from the ingress interface failed)"},
	} {
		if got := nextHopLine(c.n, c.mda); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
}

// TestNextHopsJSONSchema: what NewTraceNextHops renders validates against the published schema,
// and the schema's rules catch documents that contradict themselves.
func TestNextHopsJSONSchema(t *testing.T) {
	check := schemaCheck(t, "srv6-trace-agent-nexthops.schema.json")
	good, err := json.Marshal(NewTraceNextHops(sampleNextHops(), nil))
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
func TestNextHopsFooter(t *testing.T) {
	all := sampleNextHops()
	var b strings.Builder
	p := &TracePrinter{W: &b}
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
