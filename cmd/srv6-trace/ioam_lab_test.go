package main

import (
	"encoding/json"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/cmd/internal/output"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// TestIOAMPerHop: srv6-trace --ioam through wan10, whose routers (the plain ones between the
// SIDs included) fill IOAM traces, with r1's interface towards h1 not filling any. Every hop
// answered by a router shows the entry that router's kernel wrote: its node id and name as
// the lab configured them, the ingress interface id of the link the probe came in on, hop
// limit 0 (Linux writes the hop limit less one, and the probe expired there), a receive time
// of this run and a delay from the hop before that is measured (one clock) and not negative;
// r1 says it filled none; the destination's Echo Reply carries no trace. With transit delay
// in the trace type every entry says Linux does not support it.
func TestIOAMPerHop(t *testing.T) {
	topo, err := testnet.Load("wan10")
	if err != nil {
		t.Fatal(err)
	}
	topo.Node("r1").IOAM.Disabled = []string{"h1"}
	lab := labtest.UpTopology(t, topo)
	bin := filepath.Join(t.TempDir(), "srv6-trace")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	run := func(args ...string) string { t.Helper(); return mustRunIn(t, lab, "h1", bin, args...) }
	// Which node owns an address, and each node's IOAM id.
	owner := map[netip.Addr]string{}
	ids := map[string]uint64{}
	for _, n := range topo.Nodes {
		ids[n.Name] = uint64(n.IOAM.NodeID)
		for _, lo := range n.Loopbacks {
			owner[lo.Addr()] = n.Name
		}
	}
	for _, l := range topo.Links {
		owner[l.AAddr.Addr()], owner[l.BAddr.Addr()] = l.A, l.B
	}

	start := time.Now()
	var doc output.TraceDocument
	out := run("--json", "-n", "-q1", "--ioam", "--shared-clock", "--segs", "fc00:0:3::e", "fc00:0:8::1")
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if o := doc.Options.IOAM; o == nil || o.Namespace != 0 || o.Nodes != 8 || len(o.TraceType) != 4 || !o.SharedClock || o.ClockErrorMS != nil {
		t.Errorf("options.ioam %+v", o)
	}
	if !doc.Reached || len(doc.Hops) < 5 {
		t.Fatalf("trace did not reach h2 over at least 5 hops:\n%s", out)
	}
	prev := "h1"
	routers := 0
	for _, h := range doc.Hops {
		p := h.Probes[0]
		if !p.Answered {
			t.Fatalf("hop %d silent:\n%s", h.TTL, out)
		}
		node := owner[netip.MustParseAddr(p.From)]
		switch {
		case h.Destination:
			if h.IOAM != nil {
				t.Errorf("hop %d (destination %s): an IOAM trace from an Echo Reply: %+v", h.TTL, node, h.IOAM)
			}
		case node == "r1" && prev == "h1":
			if h.IOAM == nil || h.IOAM.Filled != 0 || h.IOAM.Quoted != 0 {
				t.Errorf("hop %d (r1, IOAM off towards h1): %+v, want a quoted trace with no entry", h.TTL, h.IOAM)
			}
		default:
			routers++
			if h.IOAM == nil || h.IOAM.Filled != 1 || len(h.IOAM.Entries) != 1 {
				t.Fatalf("hop %d (%s): IOAM %+v, want the one entry it filled", h.TTL, node, h.IOAM)
			}
			e := h.IOAM.Entries[0]
			wantIn := topo.IOAMInterfaceID(topo.Node(node), prev)
			if e.NodeID == nil || *e.NodeID != ids[node] || e.Name != node || e.HopLimit == nil || *e.HopLimit != 0 ||
				e.IngressIf == nil || *e.IngressIf != wantIn || e.EgressIf == nil {
				t.Errorf("hop %d (%s, from %s): entry %+v, want node id %d, hop limit 0, ingress %d", h.TTL, node, prev, e, ids[node], wantIn)
			}
			at, err := time.Parse(time.RFC3339Nano, e.Timestamp)
			if err != nil || at.Before(start.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
				t.Errorf("hop %d (%s): receive time %q (%v), want during this run", h.TTL, node, e.Timestamp, err)
			}
			if e.DelayState != "measured" || e.DelayMS == nil || *e.DelayMS < 0 {
				t.Errorf("hop %d (%s): delay %s %v, want measured and not negative (one clock)", h.TTL, node, e.DelayState, e.DelayMS)
			}
		}
		prev = node
	}
	if routers < 3 {
		t.Errorf("only %d routers filled an entry:\n%s", routers, out)
	}

	// Text: r1's line says it filled nothing, the plain router p2 or p1 is named by its id.
	text := run("-n", "-q1", "--ioam", "--shared-clock", "--segs", "fc00:0:3::e", "fc00:0:8::1")
	if !strings.Contains(text, "ioam: no entry (IOAM off on its ingress interface, or namespace 0 unknown to it)") ||
		!strings.Contains(text, "ioam: node 3 r2  hl 0  if ") || !strings.Contains(text, "ioam: (an Echo Reply quotes nothing") {
		t.Errorf("text output:\n%s", text)
	}

	// Transit delay (bit 4) is not something Linux fills: every entry says so.
	doc = output.TraceDocument{}
	out = run("--json", "-n", "-q1", "--ioam", "--ioam-type", "hop_limit_node_id,transit_delay", "fc00:0:8::1")
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, h := range doc.Hops {
		if h.IOAM == nil {
			continue
		}
		for _, e := range h.IOAM.Entries {
			seen++
			if len(e.NotSupported) != 1 || e.NotSupported[0] != "transit_delay" || e.Timestamp != "" || e.DelayState != "" {
				t.Errorf("hop %d: %+v, want transit_delay not supported and no time", h.TTL, e)
			}
		}
	}
	if seen < 2 {
		t.Errorf("%d entries with transit delay:\n%s", seen, out)
	}
}

// mustRunIn runs bin with args in node of lab and returns its stdout; a failure ends the test
// with both outputs.
func mustRunIn(t *testing.T, lab *testnet.Lab, node, bin string, args ...string) string {
	t.Helper()
	stdout, stderr, code := runIn(t, lab, node, bin, args...)
	if code != 0 {
		t.Fatalf("%q: exit %d\nstderr: %s\nstdout: %s", args, code, stderr, stdout)
	}
	return stdout
}
