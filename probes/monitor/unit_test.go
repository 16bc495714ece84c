package monitor

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes"
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

// idle is a ping session stand-in: it never wants to be woken.
type idle struct{}

func (idle) Wake(time.Time) (time.Time, bool)                 { return time.Time{}, false }
func (idle) Input(*probes.Match, time.Time) (time.Time, bool) { return time.Time{}, false }

// TestDetectionTimer: an up echo job goes down detect_multiplier × interval (and 5 % of an
// interval of jitter) after its last reply, not before, and asks to be woken then; not while fewer than detect_multiplier − 1
// probes have left since (a monitor behind schedule); a job not yet up stays as it is; a reply
// restarts the timer.
func TestDetectionTimer(t *testing.T) {
	m := &Monitor{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	newJob := func() (*runningJob, *detector) {
		rj := &runningJob{job: Job{Name: "j", Interval: 10 * time.Millisecond, DetectMultiplier: 3, UpMultiplier: 1},
			segs: []segState{{from: "src", to: "d"}}}
		d := newDetector(m, rj)
		d.Session = idle{}
		rj.detect = d
		return rj, d
	}
	t0 := time.Unix(100, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

	rj, d := newJob()
	rj.outcome(m, 0, true, t0)
	d.reply(t0)
	d.sentOne()
	d.sentOne()
	// 3 × 10 ms and the schedule's 5 % jitter of an interval: 30.5 ms.
	due := t0.Add(30*time.Millisecond + 500*time.Microsecond)
	if next, _ := d.Wake(ms(30)); !next.Equal(due) || rj.segs[0].live.State != collect.LiveUp {
		t.Fatalf("30 ms after the reply: next wake %v, state %v; want %v, up", next.Sub(t0), rj.segs[0].live.State, due.Sub(t0))
	}
	d.Wake(due)
	if s := rj.segs[0]; s.live.State != collect.LiveDown || !s.changedAt.Equal(due) || s.transitions != 2 {
		t.Fatalf("30.5 ms after the reply: %v at %v (%d transitions); want down at %v", s.live.State, s.changedAt, s.transitions, due)
	}
	// The timeouts of the probes in flight find it down; a reply brings it up (Up 1) and
	// restarts the timer.
	rj.outcome(m, 0, false, ms(31))
	rj.outcome(m, 0, true, ms(40))
	d.reply(ms(40))
	if next, _ := d.Input(&probes.Match{}, ms(41)); !next.Equal(ms(70).Add(500*time.Microsecond)) || rj.segs[0].live.State != collect.LiveUp {
		t.Fatalf("after a reply at 40 ms: next %v, state %v; want 70.5 ms, up", next.Sub(t0), rj.segs[0].live.State)
	}

	// Behind schedule: one probe sent since the reply is not enough.
	rj, d = newJob()
	rj.outcome(m, 0, true, t0)
	d.reply(t0)
	d.sentOne()
	d.Wake(ms(45))
	if rj.segs[0].live.State != collect.LiveUp {
		t.Fatalf("one probe sent in 45 ms: %v, want still up", rj.segs[0].live.State)
	}
	d.sentOne()
	d.Wake(ms(46))
	if rj.segs[0].live.State != collect.LiveDown {
		t.Fatalf("two probes sent, 46 ms: %v, want down", rj.segs[0].live.State)
	}

	// A multiplier of 1: no timer (it would race every reply), the lost probes decide.
	rj, _ = newJob()
	rj.job.DetectMultiplier = 1
	d = newDetector(m, rj)
	d.Session = idle{}
	rj.detect = d
	rj.outcome(m, 0, true, t0)
	d.reply(t0)
	if next, _ := d.Wake(ms(100)); !next.IsZero() || rj.segs[0].live.State != collect.LiveUp {
		t.Fatalf("multiplier 1, 100 ms of silence: next wake %v, state %v; want none, up", next, rj.segs[0].live.State)
	}

	// A job not yet up is left to the lost probes.
	rj, d = newJob()
	d.reply(t0)
	d.sentOne()
	d.sentOne()
	d.Wake(ms(100))
	if rj.segs[0].live.State != collect.LiveUnknown {
		t.Fatalf("unknown job after 100 ms of silence: %v, want unknown", rj.segs[0].live.State)
	}
}
