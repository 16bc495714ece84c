package monitor

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam/agent"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// startAgents runs srv6-agent in-process on line4's routers, binding End.OAM to fc00:0:N::b0.
func startAgents(t *testing.T, lab *testnet.Lab) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, a := range []struct {
		node, sid, dev string
		id             uint32
	}{{"r1", "fc00:0:2::b0", "to-r2", 2}, {"r2", "fc00:0:3::b0", "to-h2", 3}} {
		var ag *agent.Agent
		err := lab.Exec(a.node, func() error {
			var err error
			ag, err = agent.New(agent.Config{NodeID: a.id, SIDs: []agent.SIDConfig{{SID: a.sid, Device: a.dev}},
				Collectors: []string{"fc00:0:1::/48"}, ReportRate: 10000}, nil)
			return err
		})
		if err != nil {
			t.Fatalf("agent on %s: %v", a.node, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ag.Run(ctx); err != nil {
				t.Errorf("agent on %s: %v", a.node, err)
			}
		}()
	}
}

// TestLabTimestamped runs a timestamped job through End.OAM SIDs on r1 and r2 (srv6-agent)
// and reads the per-segment one-way delay back from Prometheus's native histograms.
func TestLabTimestamped(t *testing.T) {
	lab := labtest.Up(t, "line4")
	startAgents(t, lab)
	lm := startLabMonitor(t, lab, "h1", `jobs:
  - name: owd
    kind: timestamped
    target: fc00:0:4::e
    segments: [fc00:0:2::b0, fc00:0:3::b0]
    shared_clock: true
    interval: 200ms
`)
	// Segment 1 is r1's End.OAM → r2's End.OAM: both ends timestamp in the kernel.
	q := `histogram_count(rate(srv6_monitor_one_way_delay_seconds{job_name="owd",segment="1"}[5s]))`
	lm.promValue("one-way delay r1→r2 in Prometheus", q, "owd", 30*time.Second, func(v float64, ok bool) bool { return ok && v > 0 })
	q = `histogram_quantile(0.99, rate(srv6_monitor_one_way_delay_seconds{job_name="owd",segment="1"}[5s]))`
	lm.promValue("p99 one-way delay r1→r2", q, "owd", 10*time.Second, func(v float64, ok bool) bool { return ok && v > 0 && v < 0.01 })
	lm.promValue("segment 1 up", `srv6_monitor_segment_up{segment="1"}`, "owd", 10*time.Second, func(v float64, ok bool) bool { return ok && v == 1 })
	lm.promValue("clock flag", `srv6_monitor_clock_unsynchronised{segment="1"}`, "owd", 10*time.Second, func(v float64, ok bool) bool { return ok && v == 0 })
	j := lm.jobs()["owd"]
	if len(j.Liveness) != 4 || j.Liveness[1].LastDelayMs == nil {
		t.Fatalf("job state: %+v", j)
	}
	t.Logf("segments: %s", fmtSegs(j))
}

func fmtSegs(j JobState) string {
	s := ""
	for _, l := range j.Liveness {
		d := "-"
		if l.LastDelayMs != nil {
			d = fmt.Sprintf("%.3f ms", *l.LastDelayMs)
		}
		s += fmt.Sprintf("[%s→%s %s %s] ", l.From, l.To, l.State, d)
	}
	return s
}
