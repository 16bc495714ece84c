package monitor

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestBranches: each flow label's path is kept; a change is a label taking another path than
// its own last one (not two labels on two branches); the branches list every path with the
// labels now on it, the last reply's marked active; beyond maxBranches the least recently seen
// is forgotten.
func TestBranches(t *testing.T) {
	var b branches
	t0 := time.Unix(100, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for i, c := range []struct {
		label   uint32
		path    string
		changed bool
	}{
		{1, "2>6>4>5>9", false}, {2, "2>3>7>5>9", false}, {1, "2>6>4>5>9", false},
		{2, "2>6>4>5>9", true}, {3, "2>6>7>5>9", false}, {3, "2>6>7>5>9", false},
	} {
		if got := b.observe(c.label, c.path, at(i)); got != c.changed {
			t.Fatalf("step %d (label %d, %s): changed %v, want %v", i, c.label, c.path, got, c.changed)
		}
	}
	st := b.state()
	want := []BranchState{
		{Path: "2>3>7>5>9", FlowLabels: []uint32{}, Probes: 1, LastSeen: at(1)},
		{Path: "2>6>4>5>9", FlowLabels: []uint32{1, 2}, Probes: 3, LastSeen: at(3)},
		{Path: "2>6>7>5>9", FlowLabels: []uint32{3}, Probes: 2, LastSeen: at(5), Active: true},
	}
	if len(st) != len(want) {
		t.Fatalf("branches %+v, want %+v", st, want)
	}
	for i := range want {
		g, w := st[i], want[i]
		if g.Path != w.Path || !slices.Equal(g.FlowLabels, w.FlowLabels) || g.Probes != w.Probes || !g.LastSeen.Equal(w.LastSeen) || g.Active != w.Active {
			t.Errorf("branch %d: %+v, want %+v", i, g, w)
		}
	}
	// Beyond maxBranches: the least recently seen (2>3>7>5>9, at 1 s) goes first.
	for i := range maxBranches {
		b.observe(uint32(10+i), fmt.Sprintf("p%02d", i), at(10+i))
	}
	st = b.state()
	if len(st) != maxBranches {
		t.Fatalf("%d branches, want %d", len(st), maxBranches)
	}
	for _, s := range st {
		if s.Path == "2>3>7>5>9" || s.Path == "2>6>4>5>9" || s.Path == "2>6>7>5>9" {
			t.Errorf("%s kept, older than the %d newer ones", s.Path, maxBranches)
		}
	}
	var none branches
	if none.state() != nil {
		t.Error("a job without replies has branches")
	}
}
