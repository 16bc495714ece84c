package monitor

import (
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes"
)

func TestEventHeapOrder(t *testing.T) {
	var h eventHeap
	base := time.Unix(1000, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		h.push(event{at: base.Add(time.Duration(rng.IntN(1e6)) * time.Microsecond)})
	}
	prev := time.Time{}
	for len(h) > 0 {
		e := h.pop()
		if e.at.Before(prev) {
			t.Fatalf("popped %v after %v", e.at, prev)
		}
		prev = e.at
	}
}

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
	for seq := range uint16(8) {
		seen[rj.flowLabel(seq)] = true
	}
	if len(seen) != 4 || !seen[100] || !seen[103] {
		t.Errorf("flow labels %v, want 100..103", seen)
	}
	// The label is rewritten in the built packet's outer header.
	b, err := probes.NewEchoBuilder(probes.EchoConfig{Target: rj.job.Target, Source: netip.MustParseAddr("fc00::2"),
		ID: 7, HopLimit: 64, FlowLabel: rj.job.FlowLabel})
	if err != nil {
		t.Fatal(err)
	}
	rj.builder = b
	for want := uint32(100); want < 108; want++ {
		pkt, seq, err := rj.build()
		if err != nil {
			t.Fatal(err)
		}
		got := binary.BigEndian.Uint32(pkt[0:4]) & 0xfffff
		if got != rj.flowLabel(seq) || got != 100+uint32(seq)%4 {
			t.Errorf("seq %d: flow label %d in the packet, want %d", seq, got, rj.flowLabel(seq))
		}
	}
}
