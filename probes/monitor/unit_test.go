package monitor

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes/ping"
	"github.com/srv6oam/srv6oam/probes/probetest"
)

// TestLivenessStateMachine: down after detect_multiplier losses in a row, up after
// up_multiplier replies in a row, a single success or loss in between resets the run.
func TestLivenessStateMachine(t *testing.T) {
	m := &Monitor{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rj := &runningJob{job: Job{Name: "j", DetectMultiplier: 3, UpMultiplier: 2}, segs: []segState{{from: "src", to: "d"}}}
	now := time.Unix(1, 0)
	steps := []struct {
		crossed bool
		want    collect.Liveness
	}{
		{true, collect.LiveUnknown}, {true, collect.LiveUp},
		{false, collect.LiveUp}, {false, collect.LiveUp}, {true, collect.LiveUp},
		{false, collect.LiveUp}, {false, collect.LiveUp}, {false, collect.LiveDown},
		{true, collect.LiveDown}, {false, collect.LiveDown}, {true, collect.LiveDown}, {true, collect.LiveUp},
	}
	for i, s := range steps {
		now = now.Add(time.Second)
		rj.outcome(m, 0, s.crossed, now)
		if got := rj.segs[0].live.State; got != s.want {
			t.Fatalf("step %d (crossed %v): %v, want %v", i, s.crossed, got, s.want)
		}
	}
	if rj.segs[0].transitions != 3 || !rj.segs[0].changedAt.Equal(now) {
		t.Errorf("transitions %d at %v", rj.segs[0].transitions, rj.segs[0].changedAt)
	}
}

func TestFlowLabelSpread(t *testing.T) {
	cfg, err := ParseConfig([]byte("jobs:\n  - name: a\n    target: fc00::1\n    flow_label: 100\n    flow_labels: 4\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rj := &runningJob{job: cfg.Jobs[0]}
	seen := map[uint32]bool{}
	for seq := range 8 {
		seen[rj.flowLabel(seq)] = true
	}
	if len(seen) != 4 || !seen[100] || !seen[103] {
		t.Errorf("flow labels %v, want 100..103", seen)
	}
	// The labels in the packets: the job's ping session on a scripted network.
	conn := probetest.New(nil)
	sess, _, err := ping.NewSession(conn, rj.job.Target, ping.Options{Source: netip.MustParseAddr("fc00::2"), Identifier: 7,
		Interval: time.Millisecond, Count: 8, FlowLabel: 100, FlowLabels: 4, Timeout: time.Millisecond}, func(oam.Result) {})
	if err != nil {
		t.Fatal(err)
	}
	for now := time.Now(); len(conn.Sent()) < 8; now = now.Add(time.Millisecond) {
		sess.Wake(now)
	}
	for _, p := range conn.Sent() {
		if want := rj.flowLabel(int(p.Seq)); p.FlowLabel != want {
			t.Errorf("probe %d: flow label %d in the packet, want %d", p.Seq, p.FlowLabel, want)
		}
	}
}
