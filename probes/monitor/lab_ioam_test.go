package monitor

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// TestLabIOAM: an ioam job in wan10 (IOAM on at every node), scraped by a real Prometheus. The
// job is up; the hop-delay histogram has a series for r1 (node 2) as hop 1 and one for h1
// (node 1), the probe home again; the path holds still, then r2 is given a route through its
// other neighbour towards h2's SID, and the job counts a path change and shows a path without
// the old hop.
func TestLabIOAM(t *testing.T) {
	lab := labtest.Up(t, "wan10")
	cfg, err := os.ReadFile("testdata/wan10-ioam.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// And a job whose first segment has no route: down, saying why, and trying again.
	cfg = append(cfg, []byte("  - {name: nowhere, kind: ioam, target: \"2001:db8::e\", interval: 200ms}\n")...)
	// And one to h3 over r1's three equal-cost paths to r4, its probes spread over 16 flow
	// labels: the branches they take.
	cfg = append(cfg, []byte(`  - name: h3-ecmp
    kind: ioam
    target: fc00:0:9::e
    interval: 100ms
    flow_labels: 16
    shared_clock: true
    ioam: {namespace: 0, type: "hop_limit_node_id", nodes: 14}
`)...)
	lm := startLabMonitor(t, lab, "h1", string(cfg))
	const job = "h2-via-r2"
	isOne := func(v float64, ok bool) bool { return ok && v == 1 }
	positive := func(v float64, ok bool) bool { return ok && v > 0 }
	lm.promValue("up", `srv6_monitor_segment_up`, job, 30*time.Second, isOne)
	lm.promValue("hop 1 at r1", `histogram_count(srv6_monitor_ioam_hop_delay_seconds{hop="1",node="2"})`, job, 20*time.Second, positive)
	lm.promValue("home at h1", `max(histogram_count(srv6_monitor_ioam_hop_delay_seconds{node="1"})) by (job_name)`, job, 20*time.Second, positive)
	lm.promValue("nowhere down", `srv6_monitor_segment_up`, "nowhere", 10*time.Second, func(v float64, ok bool) bool { return ok && v == 0 })
	if j := lm.jobs()["nowhere"]; !strings.Contains(j.LastError, "no route") || j.Sent < 2 || j.Lost != j.Sent {
		t.Errorf("nowhere: sent %d lost %d last error %q, want every probe lost to %q, tried again", j.Sent, j.Lost, j.LastError, "no route")
	}
	lm.promValue("path steady", `srv6_monitor_ioam_path_changes_total`, job, 10*time.Second, func(v float64, ok bool) bool { return ok && v == 0 })

	// ECMP: more than one branch, each from r1 (node 2) through r4 (5) to h3 (9) and home to
	// h1 (1); every label on one of them, one branch active; no label changed its path.
	lm.waitFor("h3-ecmp on several branches", 30*time.Second, func() (bool, string) {
		j := lm.jobs()["h3-ecmp"]
		labels := 0
		for _, b := range j.IOAMBranches {
			labels += len(b.FlowLabels)
		}
		return len(j.IOAMBranches) >= 2 && labels == 16, fmt.Sprintf("%d branches, %d labels", len(j.IOAMBranches), labels)
	})
	active := 0
	for _, b := range lm.jobs()["h3-ecmp"].IOAMBranches {
		n := strings.Split(b.Path, ">")
		if n[0] != "2" || n[len(n)-1] != "1" || !slices.Contains(n, "5") || !slices.Contains(n, "9") {
			t.Errorf("branch %s: want r1 (2) first, h1 (1) last, through r4 (5) and h3 (9)", b.Path)
		}
		if b.Active {
			active++
		}
		t.Logf("branch %s: flow labels %v, %d probes", b.Path, b.FlowLabels, b.Probes)
	}
	if active != 1 {
		t.Errorf("%d active branches, want 1", active)
	}
	lm.promValue("each label's path steady", `srv6_monitor_ioam_path_changes_total`, "h3-ecmp", 10*time.Second,
		func(v float64, ok bool) bool { return ok && v == 0 })

	if resp, err := lm.client.Get("http://" + lm.addr + "/metrics"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// The host's own Echo Replies to the ioam probes that come home reach the echo socket
		// under the jobs' identifiers: they carry the monitor's cookie, so none is foreign.
		if !strings.Contains(string(body), "\nsrv6_monitor_foreign_replies_total 0\n") {
			t.Errorf("srv6_monitor_foreign_replies_total is not 0 with only the monitor's probes on h1")
		}
		var lines []string
		for _, l := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(l, "srv6_monitor_ioam_") && (strings.Contains(l, "_count") || strings.Contains(l, "path_changes")) {
				lines = append(lines, l)
			}
		}
		t.Logf("scrape:\n%s", strings.Join(lines, "\n"))
	}
	before := lm.jobs()[job].IOAMPath
	nodes := strings.Split(before, ">")
	// r2 is node 3; its next node, p2 (7) or r1 (2), names the link to take down.
	next := ""
	for i := 0; i+1 < len(nodes); i++ {
		if nodes[i] == "3" {
			next = map[string]string{"7": "p2", "2": "r1"}[nodes[i+1]]
			break
		}
	}
	if next == "" {
		t.Fatalf("path %q: r2 (node 3) followed by neither p2 (7) nor r1 (2)", before)
	}
	// Steer r2's probes to h2's SID through its other neighbour: a /128 route beats the
	// lab's multipath one (a static lab reroutes nothing when a link goes down).
	other := map[string]string{"p2": "r1", "r1": "p2"}[next]
	topo, err := testnet.Load("wan10")
	if err != nil {
		t.Fatal(err)
	}
	var via string
	for _, l := range topo.Links {
		switch {
		case l.A == "r2" && l.B == other:
			via = l.BAddr.Addr().String()
		case l.B == "r2" && l.A == other:
			via = l.AAddr.Addr().String()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := lab.Output(ctx, "r2", "ip", "-6", "route", "add", "fc00:0:8::e/128", "via", via, "dev", "to-"+other); err != nil {
		t.Fatalf("steer r2 through %s: %v\n%s", other, err, out)
	}
	lm.promValue("path change counted", `srv6_monitor_ioam_path_changes_total`, job, 30*time.Second, positive)
	lm.waitFor("a new path", 20*time.Second, func() (bool, string) {
		p := lm.jobs()[job].IOAMPath
		return p != "" && p != before, p
	})
	after := lm.jobs()[job].IOAMPath
	t.Logf("path before %s, after r2 was steered through %s: %s", before, other, after)
	if strings.Contains(after, "3>"+map[string]string{"p2": "7", "r1": "2"}[next]) {
		t.Errorf("the new path %s still goes from r2 to %s", after, next)
	}
}
