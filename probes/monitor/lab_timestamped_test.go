package monitor

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/bpf/agent/agenttest"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// TestLabTimestamped runs a timestamped job through End.OAM SIDs on r1 and r2 (srv6-agent)
// and reads the per-segment one-way delay back from Prometheus's native histograms.
func TestLabTimestamped(t *testing.T) {
	lab := labtest.Up(t, "line4")
	agenttest.StartAll(t, lab, agenttest.Line4[:2], []string{"fc00:0:1::/48"}, 10000)
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

// sharedSockets counts the raw and UDP IPv6 sockets open in node's network namespace (read
// from /proc/thread-self/net on a thread inside it): the monitor's probe sockets, since the
// lab's agents run in other nodes.
func sharedSockets(t *testing.T, lab *testnet.Lab, node string) int {
	t.Helper()
	n := 0
	err := lab.Exec(node, func() error {
		for _, f := range []string{"raw6", "udp6"} {
			b, err := os.ReadFile("/proc/thread-self/net/" + f)
			if err != nil {
				return err
			}
			n += strings.Count(strings.TrimSpace(string(b)), "\n") // minus the header line
		}
		return nil
	})
	if err != nil {
		t.Fatalf("count sockets in %s: %v", node, err)
	}
	return n
}

// TestLabTimestampedSharedSockets runs two, then three timestamped jobs in one monitor: they
// share one set of sockets (the count in the node does not grow with the jobs) and every job
// measures its one-way delays, told apart by its session.
func TestLabTimestampedSharedSockets(t *testing.T) {
	lab := labtest.Up(t, "line4")
	agenttest.StartAll(t, lab, agenttest.Line4[:2], []string{"fc00:0:1::/48"}, 10000)
	const jobTmpl = `  - name: %s
    kind: timestamped
    target: fc00:0:4::e
    segments: [fc00:0:2::b0, fc00:0:3::b0]
    shared_clock: true
    interval: 100ms
`
	cfgFor := func(names ...string) *Config {
		s := "jobs:\n"
		for _, n := range names {
			s += fmt.Sprintf(jobTmpl, n)
		}
		cfg, err := ParseConfig([]byte(s), "test.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	before := sharedSockets(t, lab, "h1")
	m, _ := runMonitor(t, lab, "h1", cfgFor("a", "b"))
	// measured waits until every named job has a one-way delay r1→r2 from at least 5 probes.
	measured := func(names ...string) map[string]JobState {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := map[string]JobState{}
			for _, j := range m.Jobs() {
				got[j.Name] = j
			}
			ok := true
			for _, n := range names {
				j := got[n]
				ok = ok && j.Received >= 5 && len(j.Liveness) == 4 && j.Liveness[1].LastDelayMs != nil
			}
			if ok {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("jobs %v did not all measure: %+v", names, got)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	measured("a", "b")
	withTwo := sharedSockets(t, lab, "h1")
	st := m.TimestampedStats()
	if !st.Open || st.Attached != 2 {
		t.Fatalf("shared sockets with two jobs: %+v", st)
	}
	if _, err := m.Reload(cfgFor("a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	three := measured("a", "b", "c")
	withThree := sharedSockets(t, lab, "h1")
	st = m.TimestampedStats()
	t.Logf("sockets in h1: %d before the monitor, %d with two timestamped jobs, %d with three; mux: %+v", before, withTwo, withThree, st)
	for _, n := range []string{"a", "b", "c"} {
		t.Logf("%s: sent %d received %d lost %d %s", n, three[n].Sent, three[n].Received, three[n].Lost, fmtSegs(three[n]))
	}
	if withThree != withTwo {
		t.Errorf("a third timestamped job changed the sockets in h1 from %d to %d: want one shared set", withTwo, withThree)
	}
	// The echo socket pair (probes.Conn: 2 raw sockets) and the timestamped set (a probes.Conn
	// pair, the return socket, the collector's UDP socket).
	if got := withTwo - before; got != 2+4 {
		t.Errorf("monitor with two timestamped jobs opened %d sockets, want 6 (echo pair + one timestamped set)", got)
	}
	if st.Attached != 3 || st.Records == 0 || st.Unmatched != 0 {
		t.Errorf("shared sockets with three jobs: %+v (want 3 attached, records routed, none unmatched)", st)
	}
}

// TestLabUnmatchedRepliesAreForeign: srv6_monitor_unmatched_replies_total counts only replies
// that are not the monitor's. Each timestamped probe ends at the monitor's own address, an Echo
// Request the host answers itself (on lo), and the echo jobs' socket sees that Echo Reply: it
// carries the job's identifier and the monitor's cookie, so it is the monitor's and counted
// neither unmatched nor foreign. Another pinger's replies on the same host are unmatched.
func TestLabUnmatchedRepliesAreForeign(t *testing.T) {
	lab := labtest.Up(t, "line4")
	agenttest.StartAll(t, lab, agenttest.Line4[:2], []string{"fc00:0:1::/48"}, 10000)
	cfg, err := ParseConfig([]byte(`jobs:
  - name: owd
    kind: timestamped
    target: fc00:0:4::e
    segments: [fc00:0:2::b0, fc00:0:3::b0]
    shared_clock: true
    interval: 100ms
  - name: plain
    target: fc00:0:4::1
    interval: 100ms
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, ctx := runMonitor(t, lab, "h1", cfg)
	counter := func(name string) float64 {
		t.Helper()
		families, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == name {
				return f.GetMetric()[0].GetCounter().GetValue()
			}
		}
		t.Fatalf("no %s", name)
		return 0
	}
	unmatched := func() float64 { return counter("srv6_monitor_unmatched_replies_total") }
	deadline := time.Now().Add(30 * time.Second)
	for {
		jobs := map[string]JobState{}
		for _, j := range m.Jobs() {
			jobs[j.Name] = j
		}
		if jobs["owd"].Received >= 10 && jobs["plain"].Received >= 10 {
			t.Logf("owd: %d probes came back; plain: %d replies", jobs["owd"].Received, jobs["plain"].Received)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs did not run: %+v", jobs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := unmatched(); n != 0 {
		t.Errorf("unmatched replies = %v with only the monitor's jobs running; want 0 (the host's answers to its own timestamped probes are not foreign)", n)
	}
	// Nor are they another process's: the timestamped probes' data carries the monitor's cookie.
	if n := counter("srv6_monitor_foreign_replies_total"); n != 0 {
		t.Errorf("foreign replies = %v with only the monitor's jobs running; want 0", n)
	}
	// A foreign pinger on the same host: its replies are counted.
	if out, err := lab.Output(ctx, "h1", "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "fc00:0:4::1"); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(5 * time.Second); unmatched() < 3; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("unmatched replies = %v after iputils ping's 3 replies; want at least 3", unmatched())
		}
	}
}
