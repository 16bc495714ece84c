package ping

import (
	"testing"
	"time"
)

// TestPlanKeepsPhase: a run that fell more than an interval behind skips what it missed and keeps
// its phase: its next probe is planned on its own grid, at most an interval behind, not "now",
// which would put every late run of a monitor in step (all planned for the same instant).
func TestPlanKeepsPhase(t *testing.T) {
	iv := 10 * time.Millisecond
	t0 := time.Unix(1000, 4_000_000) // phase 4 ms
	r := &run{opts: Options{Interval: iv}, plan: t0}
	r.planNext(t0.Add(35 * time.Millisecond)) // sent 35 ms after its plan
	if want := t0.Add(30 * time.Millisecond); !r.plan.Equal(want) {
		t.Fatalf("next plan %v after t0, want %v (on the grid, at most an interval behind)", r.plan.Sub(t0), want.Sub(t0))
	}
	r.planNext(r.plan.Add(time.Millisecond)) // on time again: one interval on
	if want := t0.Add(40 * time.Millisecond); !r.plan.Equal(want) {
		t.Fatalf("next plan %v after t0, want %v", r.plan.Sub(t0), want.Sub(t0))
	}
	// Flood has no grid: the next probe is planned now.
	f := &run{opts: Options{Flood: true}, plan: t0}
	if f.planNext(t0.Add(time.Second)); !f.plan.Equal(t0.Add(time.Second)) {
		t.Fatalf("flood: plan %v after t0, want 1s", f.plan.Sub(t0))
	}
}
