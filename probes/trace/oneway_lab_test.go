package trace_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/bpf/agent/agenttest"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes/delay"
	"github.com/srv6oam/srv6oam/probes/trace"
)

// TestPerSegmentOneWay: in line4 with srv6-agent on r1, r2 and h2, per-segment probing through
// their End.OAM SIDs finds every segment alive, and the timestamped probes give every segment
// (and the way back) a one-way delay; per probe, the one-way delays of the segments up to the
// destination add up to no more than the probe's round trip. Then the CLI: text and --json.
func TestPerSegmentOneWay(t *testing.T) {
	lab := up(t, "line4", true)
	agenttest.StartAll(t, lab, agenttest.Line4, []string{"fc00:0:1::/48", "fd00::/16"}, 100000)
	tgt := target("fc00:0:4::b0", "fc00:0:2::b0", "fc00:0:3::b0")
	warmUp(t, lab, "h1", target("fc00:0:4::1", "fc00:0:2::e"))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var st []trace.SegmentStatus
	var w *trace.OneWay
	if err := lab.Exec("h1", func() (err error) {
		st, _, err = trace.PerSegment(ctx, tgt, trace.Options{Wait: time.Second, LoopDestination: true})
		if err != nil {
			return err
		}
		w, err = trace.OneWayDelays(ctx, tgt, delay.Options{Count: 10, Interval: 10 * time.Millisecond, SharedClock: true})
		return err
	}); err != nil {
		t.Fatalf("PerSegment, OneWayDelays: %v", err)
	}
	if len(st) != 3 {
		t.Fatalf("%d segments, want 3", len(st))
	}
	for _, s := range st {
		if !s.Alive || !s.Loop {
			t.Errorf("segment %d (%s): alive=%v loop=%v, want both", s.Index+1, s.SID, s.Alive, s.Loop)
		}
	}
	if w.Summary.Transmitted != 10 || w.Summary.Received != 10 {
		t.Errorf("timestamped probes: %d sent, %d back; want 10, 10", w.Summary.Transmitted, w.Summary.Received)
	}
	for i := 0; i <= len(st); i++ {
		seg, ok := w.Segment(i)
		if !ok {
			t.Fatalf("no one-way statistics for segment %d", i+1)
		}
		if seg.Delay.Count == 0 || seg.Delay.P50 <= 0 {
			t.Errorf("segment %s→%s: %d delays, median %v; want a one-way delay", seg.From, seg.To, seg.Delay.Count, seg.Delay.P50)
		}
	}
	if _, ok := w.Segment(len(st) + 1); ok {
		t.Errorf("more than %d one-way segments", len(st)+1)
	}
	for _, r := range w.Results {
		if r.Status == collect.StatusLost || len(r.Segments) != len(st)+1 {
			t.Errorf("probe %d: status %v, %d segments", r.Sequence, r.Status, len(r.Segments))
			continue
		}
		var sum time.Duration
		for _, s := range r.Segments[:len(st)] {
			if s.State != oam.DelayMeasured {
				t.Errorf("probe %d: a segment without a delay: %+v", r.Sequence, s)
			}
			sum += s.Delay
		}
		if sum <= 0 || sum > r.RTT {
			t.Errorf("probe %d: one-way delays up to the destination add up to %v, its RTT is %v; want 0 < sum ≤ RTT", r.Sequence, sum, r.RTT)
		}
	}

	args := []string{"-n", "--per-segment", "--timestamps", "--shared-clock", "--timestamp-count", "5",
		"--segs", "fc00:0:2::b0,fc00:0:3::b0", "fc00:0:4::b0"}
	out, code := cli(t, lab, "h1", args...)
	t.Logf("srv6-trace %s\n%s", strings.Join(args, " "), out)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	num := `\d+\.\d{3}`
	for i, sid := range []string{"fc00:0:2::b0", "fc00:0:3::b0", "fc00:0:4::b0"} {
		re := regexp.MustCompile(`(?m)^segment ` + string(rune('1'+i)) + ` +` + regexp.QuoteMeta(sid) +
			` +alive +loop( +` + num + ` ms){3}   one-way p50 ` + num + ` p99 ` + num + ` ms \(shared clock\)`)
		if !re.MatchString(out) {
			t.Errorf("no line for segment %d (%s) alive with 3 RTTs and a one-way delay", i+1, sid)
		}
	}
	if !regexp.MustCompile(`(?m)^return +fc00:0:4::b0→src +one-way p50 `+num+` p99 `+num+` ms \(shared clock\)$`).MatchString(out) ||
		!strings.Contains(out, "5 timestamped probes, 5 returned") {
		t.Errorf("no return line with a one-way delay, or not 5 probes returned")
	}

	out, code = cli(t, lab, "h1", append([]string{"--json"}, args...)...)
	if code != 0 {
		t.Fatalf("--json: exit %d\n%s", code, out)
	}
	var doc traceDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if doc.Mode != "per-segment" || len(doc.Segments) != 3 || doc.Timestamps == nil ||
		doc.Timestamps.Received != 5 || !doc.Timestamps.SharedClock || doc.Timestamps.Return.State != "measured" {
		t.Fatalf("--json: mode %q, %d segments, timestamps %+v", doc.Mode, len(doc.Segments), doc.Timestamps)
	}
	for _, s := range doc.Segments {
		if s.Method != "loop" || !s.Alive || s.OneWay == nil || s.OneWay.State != "measured" || s.OneWay.P50MS == nil ||
			*s.OneWay.P50MS <= 0 || s.OneWay.BoundMS != nil {
			t.Errorf("--json segment %d: %+v one_way %+v; want loop, alive, a measured median, no bound (shared clock)", s.Index, s, s.OneWay)
		}
	}
}

// TestPerSegmentOneWayMissing: a segment list through a plain End SID (no srv6-agent) gives the
// segments ending or starting there no delay ("?" in text, "missing" in JSON), the others one.
func TestPerSegmentOneWayMissing(t *testing.T) {
	lab := up(t, "line4", true)
	agenttest.StartAll(t, lab, agenttest.Line4, []string{"fc00:0:1::/48", "fd00::/16"}, 100000)
	warmUp(t, lab, "h1", target("fc00:0:4::1", "fc00:0:2::e"))
	args := []string{"-n", "--per-segment", "--timestamps", "--shared-clock", "--timestamp-count", "5",
		"--segs", "fc00:0:2::b0,fc00:0:3::e", "fc00:0:4::b0"}
	out, code := cli(t, lab, "h1", append([]string{"--json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	var doc traceDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if len(doc.Segments) != 3 || doc.Timestamps == nil {
		t.Fatalf("%d segments, timestamps %v", len(doc.Segments), doc.Timestamps)
	}
	want := []string{"measured", "missing", "missing", "measured"}
	got := []string{doc.Segments[0].OneWay.State, doc.Segments[1].OneWay.State, doc.Segments[2].OneWay.State, doc.Timestamps.Return.State}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("one-way states %v, want %v (fc00:0:3::e is a plain End SID)", got, want)
	}
	for _, s := range doc.Segments {
		if !s.Alive {
			t.Errorf("segment %d down", s.Index)
		}
	}
	text, _ := cli(t, lab, "h1", args...)
	t.Logf("srv6-trace %s\n%s", strings.Join(args, " "), text)
	if !regexp.MustCompile(`(?m)^segment 2 +fc00:0:3::e .* one-way \?`).MatchString(text) || !strings.Contains(text, "? = no timestamp") {
		t.Errorf("text: segment 2 without \"one-way ?\" or no hint line")
	}
}
