package monitor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/bpf/agent"
	"github.com/srv6oam/srv6oam/bpf/agent/agenttest"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// The timeout is long (500 ms): a reply later than it counts as lost on the way back, and the
// test compares that loss with what nftables dropped.
const stampJobs = `defaults:
  interval: 200ms
  timeout: 500ms
  detect_multiplier: 3
jobs:
  - name: sla
    kind: stamp
    target: fc00:0:4::1
    segments: [fc00:0:2::e, fc00:0:3::e]
    shared_clock: true
    stamp:
      ssid: 9
      timestamps: ptp
      tlvs: [direct, location]
`

// TestLabStamp runs a stamp job from h1 of line4 against srv6-agent's stateful reflector on h2,
// through r1's and r2's End SIDs, with Prometheus scraping: both directions' one-way delay
// histograms and the residence histogram fill, both segments are up; then r2 drops the replies
// h2 sends (nftables, udp sport 862), and the reflector's Direct Measurement counts put every
// probe lost meanwhile on the way back, none on the way there.
func TestLabStamp(t *testing.T) {
	lab := labtest.Up(t, "line4")
	agenttest.Start(t, lab, "h2", agent.Config{Reflector: &agent.ReflectorConfig{
		Senders: []string{"fc00:0:1::/48"}, Rate: 1000, Mode: "stateful"}})
	lm := startLabMonitor(t, lab, "h1", stampJobs)
	lm.waitFor("both directions up", 30*time.Second, func() (bool, string) {
		j := lm.jobs()["sla"]
		return len(j.Liveness) == 2 && j.Liveness[0].State == "up" && j.Liveness[1].State == "up", fmt.Sprint(j.Liveness)
	})
	j := lm.jobs()["sla"]
	if j.Kind != "stamp" || j.Liveness[0].To != "[fc00:0:4::1]:862" || j.Liveness[1].From != "[fc00:0:4::1]:862" ||
		j.Liveness[0].LastDelayMs == nil || j.Liveness[1].LastDelayMs == nil || j.LastRTTms == nil {
		t.Fatalf("job state %+v", j)
	}
	lm.promValue("one-way delay histograms of both directions", `count by (job_name) (histogram_count(srv6_monitor_one_way_delay_seconds{kind="stamp"}) > 0)`,
		"sla", 15*time.Second, func(v float64, ok bool) bool { return ok && v == 2 })
	lm.promValue("residence histogram", `histogram_count(srv6_monitor_stamp_reflector_residence_seconds)`, "sla", 10*time.Second,
		func(v float64, ok bool) bool { return ok && v > 0 })

	nft(t, lab, "r2", "add", "table", "inet", "stampdrop")
	t.Cleanup(func() { _, _ = lab.Output(t.Context(), "r2", "nft", "delete", "table", "inet", "stampdrop") })
	nft(t, lab, "r2", "add", "chain", "inet", "stampdrop", "pre", "{ type filter hook prerouting priority -300 ; }")
	nft(t, lab, "r2", "add", "counter", "inet", "stampdrop", "dropped")
	nft(t, lab, "r2", "add", "rule", "inet", "stampdrop", "pre", "iifname", "to-h2", "udp", "sport", "862", "counter", "name", "dropped", "drop")
	lm.waitFor("down while the replies are dropped", 10*time.Second, func() (bool, string) {
		j := lm.jobs()["sla"]
		return j.Liveness[1].State == "down", j.Liveness[1].State
	})
	// The rule goes first, then the counter is read: no reply dropped after the reading.
	nft(t, lab, "r2", "flush", "chain", "inet", "stampdrop", "pre")
	out, err := lab.Output(t.Context(), "r2", "nft", "list", "counter", "inet", "stampdrop", "dropped")
	if err != nil {
		t.Fatal(err)
	}
	nft(t, lab, "r2", "delete", "table", "inet", "stampdrop")
	lm.waitFor("up again", 10*time.Second, func() (bool, string) {
		j := lm.jobs()["sla"]
		return j.Liveness[1].State == "up", j.Liveness[1].State
	})
	dropped := 0
	if i := strings.Index(string(out), "packets "); i < 0 {
		t.Fatalf("nft counter: %s", out)
	} else if _, err := fmt.Sscanf(string(out[i+len("packets "):]), "%d", &dropped); err != nil {
		t.Fatalf("nft counter: %v in %s", err, out)
	}
	j = lm.jobs()["sla"]
	// Every reply r2 dropped is a probe lost on the way back; none on the way there. Probes
	// that timed out only because their reply was late are not in the reflector's counts.
	if j.Liveness[0].Lost != 0 || j.Liveness[1].Lost != uint64(dropped) || dropped < 3 {
		t.Errorf("lost to the reflector %d, back %d; r2 dropped %d replies", j.Liveness[0].Lost, j.Liveness[1].Lost, dropped)
	}
	lm.promValue("backward loss in Prometheus", `srv6_monitor_segment_probes_lost_total{segment="1"}`, "sla", 10*time.Second,
		func(v float64, ok bool) bool { return ok && v == float64(dropped) })
}
