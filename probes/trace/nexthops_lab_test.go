package trace_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/vishvananda/netlink"

	"github.com/srv6oam/srv6oam/bpf/agent"
	"github.com/srv6oam/srv6oam/bpf/agent/agenttest"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/trace"
	"github.com/srv6oam/srv6oam/testnet"
)

// The End.OAM SIDs srv6-agent binds in diamond for these tests (fc00:0:N::b0 is left free for
// it): r1 reaches r4's locator over r2 and r3 (two equal-cost next hops), r4 reaches h2 over one.
var diamondOAM = []agenttest.SID{
	{Node: "r1", SID: "fc00:0:2::b0", Device: "to-r2", NodeID: 10},
	{Node: "r4", SID: "fc00:0:5::b0", Device: "to-h2", NodeID: 11},
}

// startDiamondAgents runs srv6-agent (bpf/agent, in-process) on r1 and r4 until the test ends.
func startDiamondAgents(t *testing.T, lab *testnet.Lab) map[string]*agent.Agent {
	t.Helper()
	return agenttest.StartAllTrusting(t, lab, diamondOAM, []string{"fc00:0:1::/48", "fd00::/16"}, 0)
}

// kernelNextHops reads, in node's namespace, the main-table route that covers dst with the
// longest prefix (a route dump, not the lookup the agent makes) and returns its prefix and its
// next hops as "gateway%ifname" strings, sorted.
func kernelNextHops(t *testing.T, lab *testnet.Lab, node string, dst netip.Addr) (netip.Prefix, []string) {
	t.Helper()
	var best netip.Prefix
	var hops []string
	if err := lab.Exec(node, func() error {
		routes, err := netlink.RouteList(nil, netlink.FAMILY_V6)
		if err != nil {
			return err
		}
		name := func(i int) string {
			l, err := netlink.LinkByIndex(i)
			if err != nil {
				return "?"
			}
			return l.Attrs().Name
		}
		for _, r := range routes {
			p := netip.PrefixFrom(netip.IPv6Unspecified(), 0)
			if r.Dst != nil {
				a, _ := netip.AddrFromSlice(r.Dst.IP)
				bits, _ := r.Dst.Mask.Size()
				p = netip.PrefixFrom(a, bits)
			}
			if !p.Contains(dst) || (best.IsValid() && p.Bits() <= best.Bits()) {
				continue
			}
			best, hops = p, nil
			gw := func(ip net.IP) string {
				if a, ok := netip.AddrFromSlice(ip); ok {
					return a.String()
				}
				return "::"
			}
			if len(r.MultiPath) == 0 {
				hops = append(hops, gw(r.Gw)+"%"+name(r.LinkIndex))
			}
			for _, nh := range r.MultiPath {
				hops = append(hops, gw(nh.Gw)+"%"+name(nh.LinkIndex))
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("routes of %s: %v", node, err)
	}
	sort.Strings(hops)
	return best, hops
}

func reportedHops(n trace.NodeNextHops) []string {
	var out []string
	for _, h := range n.NextHops.Hops {
		out = append(out, h.Gateway.String()+"%"+h.Ifname)
	}
	sort.Strings(out)
	return out
}

// TestAgentNextHops: in diamond with srv6-agent on r1 and r4, an ECMP trace through their
// End.OAM SIDs gets from r1 the two equal-cost next hops of its route toward r4's SID and from
// r4 the single one toward h2, each equal to the route the test reads from that node's kernel;
// MDA found as many branches after each. Then the CLI: text, --json, a SID without an agent and
// --per-segment.
func TestAgentNextHops(t *testing.T) {
	lab := up(t, "diamond", true)
	agents := startDiamondAgents(t, lab)
	r1SID, r4SID, h2 := mustAddr("fc00:0:2::b0"), mustAddr("fc00:0:5::b0"), mustAddr("fc00:0:6::1")
	tgt := target(h2.String(), r1SID.String(), r4SID.String())
	warmUp(t, lab, "h1", tgt)

	rep := traceIn(t, lab, "h1", tgt, trace.Options{ECMP: true, AgentNextHops: true})
	if len(rep.Branches) != 2 {
		t.Fatalf("%d ECMP branches, want 2 (over r2 and r3)", len(rep.Branches))
	}
	if len(rep.NextHops) != 2 {
		t.Fatalf("%d next-hop answers, want 2 (r1's SID, r4's SID)", len(rep.NextHops))
	}
	for i, w := range []struct {
		node     string
		sid      netip.Addr
		next     netip.Addr
		hops     int
		mda      int
		nodeID   uint32
		multiple bool
	}{
		{"r1", r1SID, r4SID, 2, 2, 10, true},
		{"r4", r4SID, h2, 1, 1, 11, false},
	} {
		n := rep.NextHops[i]
		if !n.Reported || n.SID != w.sid || n.Next != w.next || n.NodeID != w.nodeID {
			t.Errorf("%s: %+v, want a report from node %d for %s → %s", w.node, n, w.nodeID, w.sid, w.next)
			continue
		}
		nh := n.NextHops
		if nh.Status != oam.NextHopsOK || nh.Destination != w.next || nh.SelectedOnly || nh.Truncated {
			t.Errorf("%s: status %v destination %v selected-only %v truncated %v", w.node, nh.Status, nh.Destination, nh.SelectedOnly, nh.Truncated)
		}
		prefix, kernel := kernelNextHops(t, lab, w.node, w.next)
		got := reportedHops(n)
		if nh.Prefix != prefix || strings.Join(got, ",") != strings.Join(kernel, ",") || len(got) != w.hops {
			t.Errorf("%s: agent reported %v %v, the kernel's route is %v %v; want equal, %d next hops", w.node, nh.Prefix, got, prefix, kernel, w.hops)
		}
		for _, h := range nh.Hops {
			if h.Weight != 1 || h.Dead || h.LinkDown || h.Gateway.IsUnspecified() {
				t.Errorf("%s: next hop %+v: want a live gateway of weight 1", w.node, h)
			}
		}
		if m := trace.MDANextHops(rep, i); m != w.mda {
			t.Errorf("%s: MDA found %d next routers, want %d", w.node, m, w.mda)
		}
	}
	// The other answers, from the real kernel: r1's next segment is one of its own SIDs (local),
	// or an address it has no route for.
	for _, c := range []struct {
		segs []string
		want oam.NextHopStatus
	}{
		{[]string{"fc00:0:2::b0", "fc00:0:2::e", "fc00:0:5::b0"}, oam.NextHopsLocal},
		{[]string{"fc00:0:2::b0", "fc00:99::1"}, oam.NextHopsNoRoute},
	} {
		var got []trace.NodeNextHops
		tgt := target("fc00:0:6::1", c.segs...)
		if err := lab.Exec("h1", func() (err error) {
			got, err = trace.AgentNextHops(context.Background(), tgt, trace.Options{})
			return err
		}); err != nil {
			t.Fatalf("AgentNextHops %v: %v", c.segs, err)
		}
		if len(got) == 0 || !got[0].Reported || got[0].NextHops.Status != c.want || len(got[0].NextHops.Hops) != 0 ||
			got[0].NextHops.Destination != mustAddr(c.segs[1]) {
			t.Errorf("%v: r1 answered %+v, want status %v for %s", c.segs, got, c.want, c.segs[1])
		}
	}

	st := agents["r1"].Stats()
	t.Logf("r1 agent: %d next-hop requests, %d lookups, %d cache hits, %d limited, %d errors", st.NextHopRequests.Load(),
		st.NextHopLookups.Load(), st.NextHopCacheHits.Load(), st.NextHopLimited.Load(), st.NextHopLookupErrors.Load())
	// Three runs (the trace's, then the two above) of probesPerRun probes each reach r1, all
	// from h1: one lookup per next segment (fc00:0:5::b0, fc00:0:2::e, fc00:99::1), every
	// other request a cache hit.
	const probesPerRun = 3 // trace's nextHopProbes
	req, lookups, hits := st.NextHopRequests.Load(), st.NextHopLookups.Load(), st.NextHopCacheHits.Load()
	if req != 3*probesPerRun || lookups != 3 || hits != req-lookups || st.NextHopLookupErrors.Load() != 0 || st.NextHopLimited.Load() != 0 {
		t.Errorf("r1 agent: %d requests, %d lookups, %d cache hits, %d errors, %d limited; want %d requests, 3 lookups (one per next segment), the rest cache hits, no error",
			req, lookups, hits, st.NextHopLookupErrors.Load(), st.NextHopLimited.Load(), 3*probesPerRun)
	}

	// Interrupted while waiting for reports: what came is kept (r1), the SID that had no
	// chance to answer yet (r4's plain End SID, which never will) is marked not awaited.
	{
		tgt := target("fc00:0:6::1", "fc00:0:2::b0", "fc00:0:5::e")
		var got []trace.NodeNextHops
		var err error
		lab.Exec("h1", func() error { //nolint:errcheck // the error is AgentNextHops', checked below
			ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
			defer cancel()
			got, err = trace.AgentNextHops(ctx, tgt, trace.Options{})
			return nil
		})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(fmt.Sprint(err), "wait interrupted") {
			t.Errorf("interrupted: error %v, want a wait interrupted by the deadline", err)
		}
		if len(got) != 2 || !got[0].Reported || got[0].NotAwaited || got[1].Reported || !got[1].NotAwaited {
			t.Errorf("interrupted: %+v, want r1's report kept and r4 not awaited", got)
		}
	}

	// The CLI, with r4's plain End SID in place of its End.OAM one: r1 reports, r4 cannot.
	args := []string{"-n", "--ecmp", "--agent-nexthops", "--segs", "fc00:0:2::b0,fc00:0:5::e", "fc00:0:6::1"}
	out, code := cli(t, lab, "h1", args...)
	t.Logf("srv6-trace %s\n%s", strings.Join(args, " "), out)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	_, r1Kernel := kernelNextHops(t, lab, "r1", mustAddr("fc00:0:5::e"))
	fib := regexp.MustCompile(`(?m)^ *│? *FIB fc00:0:5::/48 → fc00:0:5::e: 2 next hops via (\S+), (\S+); MDA found 2$`).FindStringSubmatch(out)
	if fib == nil {
		t.Errorf("no FIB line with 2 next hops and MDA found 2 under r1")
	} else {
		got := []string{fib[1], fib[2]}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(r1Kernel, ",") {
			t.Errorf("FIB line next hops %v, kernel %v", got, r1Kernel)
		}
	}
	if strings.Count(out, "FIB → fc00:0:6::1: no agent report") != 2 || !strings.Contains(out, "no agent report = ") {
		t.Errorf("want r4 (one line per branch) without an agent report, and the hint")
	}

	out, code = cli(t, lab, "h1", append([]string{"--json"}, args...)...)
	if code != 0 {
		t.Fatalf("--json: exit %d\n%s", code, out)
	}
	t.Logf("srv6-trace --json %s\n%s", strings.Join(args, " "), out)
	var doc traceDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if len(doc.AgentNextHops) != 2 {
		t.Fatalf("--json: agent_nexthops %+v, want 2 entries", doc.AgentNextHops)
	}
	validateNextHopsSchema(t, out)
	a, b := doc.AgentNextHops[0], doc.AgentNextHops[1]
	if a.Index != 1 || !a.Reported || a.Status != "ok" || a.Prefix != "fc00:0:5::/48" || len(a.NextHops) != 2 || a.MDA == nil || *a.MDA != 2 {
		t.Errorf("--json: r1 %+v", a)
	}
	if b.Index != 2 || b.Reported || b.Status != "" || b.NextHops != nil || b.MDA == nil || *b.MDA != 1 {
		t.Errorf("--json: r4 %+v, want no report (plain End SID), MDA 1", b)
	}

	// A plain trace: next hops under each SID, no MDA comparison.
	args = []string{"-n", "--agent-nexthops", "--segs", "fc00:0:2::b0,fc00:0:5::b0", "fc00:0:6::1"}
	out, code = cli(t, lab, "h1", args...)
	t.Logf("srv6-trace %s\n%s", strings.Join(args, " "), out)
	if code != 0 {
		t.Fatalf("plain: exit %d", code)
	}
	for _, re := range []string{
		`(?m)^ +FIB fc00:0:5::/48 → fc00:0:5::b0: 2 next hops via \S+, \S+$`,
		`(?m)^ +FIB fc00:0:6::1/128 → fc00:0:6::1: 1 next hop via fd00:0:0:6::2%to-h2$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("plain: no line matching %s", re)
		}
	}
	if strings.Contains(out, "no agent report") || strings.Contains(out, "MDA") {
		t.Errorf("plain: a SID without report, or an MDA comparison without --ecmp")
	}
	args = []string{"-n", "--ecmp", "--agent-nexthops", "--segs", "fc00:0:2::b0,fc00:0:5::b0", "fc00:0:6::1"}
	out, _ = cli(t, lab, "h1", args...)
	t.Logf("srv6-trace %s\n%s", strings.Join(args, " "), out)
	if n := len(regexp.MustCompile(`(?m)FIB fc00:0:6::1/128 → fc00:0:6::1: 1 next hop via \S+; MDA found 1$`).FindAllString(out, -1)); n != 2 {
		t.Errorf("--ecmp: %d lines for r4 with 1 next hop and MDA found 1, want 2 (one per branch)", n)
	}

	args = []string{"-n", "--per-segment", "--agent-nexthops", "--segs", "fc00:0:2::b0,fc00:0:5::b0", "fc00:0:6::1"}
	out, code = cli(t, lab, "h1", args...)
	t.Logf("srv6-trace %s\n%s", strings.Join(args, " "), out)
	if code != 0 {
		t.Fatalf("--per-segment: exit %d", code)
	}
	for _, re := range []string{
		`(?m)^segment 1  fc00:0:2::b0  FIB fc00:0:5::/48 → fc00:0:5::b0: 2 next hops via \S+, \S+$`,
		`(?m)^segment 2  fc00:0:5::b0  FIB fc00:0:6::1/128 → fc00:0:6::1: 1 next hop via fd00:0:0:6::2%to-h2$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("--per-segment: no line matching %s", re)
		}
	}

	// A source-based rule on r1 (traffic from h1's prefix uses table 100, one next hop via r2):
	// the agent's lookup carries the probe's source, so it reports that table's route, not the
	// main table's two next hops. After the 1 s cache of the runs above.
	const table = 100
	if err := lab.Exec("r1", func() error {
		l, err := netlink.LinkByName("to-r2")
		if err != nil {
			return err
		}
		if err := netlink.RouteAdd(&netlink.Route{Dst: &net.IPNet{IP: net.ParseIP("fc00:0:5::"), Mask: net.CIDRMask(48, 128)},
			Gw: net.ParseIP("fd00:0:0:2::2"), LinkIndex: l.Attrs().Index, Table: table}); err != nil {
			return err
		}
		rule := netlink.NewRule()
		rule.Family, rule.Table, rule.Priority = netlink.FAMILY_V6, table, 100
		rule.Src = &net.IPNet{IP: net.ParseIP("fc00:0:1::"), Mask: net.CIDRMask(48, 128)}
		return netlink.RuleAdd(rule)
	}); err != nil {
		t.Fatalf("source rule on r1: %v", err)
	}
	time.Sleep(1100 * time.Millisecond)
	var got []trace.NodeNextHops
	if err := lab.Exec("h1", func() (err error) {
		got, err = trace.AgentNextHops(context.Background(), tgt, trace.Options{})
		return err
	}); err != nil {
		t.Fatalf("AgentNextHops after the source rule: %v", err)
	}
	if len(got) == 0 || !got[0].Reported || got[0].NextHops.Status != oam.NextHopsOK || got[0].NextHops.Table != table ||
		strings.Join(reportedHops(got[0]), ",") != "fd00:0:0:2::2%to-r2" {
		t.Errorf("source rule: r1 answered %+v, want table %d's one next hop fd00:0:0:2::2%%to-r2", got, table)
	}
}

// validateNextHopsSchema checks the agent_nexthops array of an srv6-trace --json document
// against docs/json/srv6-trace-agent-nexthops.schema.json.
func validateNextHopsSchema(t *testing.T, doc string) {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	schema, err := c.Compile("../../docs/json/srv6-trace-agent-nexthops.schema.json")
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	var whole map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &whole); err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(whole["agent_nexthops"])))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(v); err != nil {
		t.Errorf("agent_nexthops does not validate against its schema: %v", err)
	}
}
