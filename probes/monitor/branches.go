package monitor

import (
	"slices"
	"time"
)

// maxBranches is the most distinct paths an ioam job remembers; maxIOAMFlowLabels the most
// flow labels it spreads its probes over (it keeps each one's last path).
const (
	maxBranches       = 16
	maxIOAMFlowLabels = 1024
)

// branches are the distinct paths an ioam job's probes took (IOAM node ids, there and back):
// one while routing sends every flow the same way, several when flow labels (flow_labels)
// spread the probes over the branches of an ECMP fan-out, which routers choose by hashing the
// flow label. A path change is a flow label's probe taking another path than that label's
// last one: with one label, any change; with many, not the labels' spread itself. The least
// recently seen branch is forgotten beyond maxBranches. rj.mu held for every call.
type branches struct {
	list    []branch
	byLabel map[uint32]string // each label's last path
	current string            // the last reply's path
}

type branch struct {
	path   string
	probes uint64
	last   time.Time
}

// observe accounts one reply of flow label label that took path; it reports whether the
// label's path changed.
func (b *branches) observe(label uint32, path string, now time.Time) (changed bool) {
	if b.byLabel == nil {
		b.byLabel = map[uint32]string{}
	}
	prev, seen := b.byLabel[label]
	b.byLabel[label] = path
	b.current = path
	i := slices.IndexFunc(b.list, func(x branch) bool { return x.path == path })
	if i < 0 {
		if len(b.list) == maxBranches {
			oldest := 0
			for j := range b.list {
				if b.list[j].last.Before(b.list[oldest].last) {
					oldest = j
				}
			}
			b.list = slices.Delete(b.list, oldest, oldest+1)
		}
		b.list = append(b.list, branch{path: path})
		i = len(b.list) - 1
	}
	b.list[i].probes++
	b.list[i].last = now
	return seen && prev != path
}

// BranchState is one path of an ioam job, as /api/v1/jobs shows it.
type BranchState struct {
	// Path is the IOAM node ids of the probes that took it, there and back, joined by '>'.
	Path string `json:"path"`
	// FlowLabels are the labels whose last probe took this path.
	FlowLabels []uint32  `json:"flow_labels"`
	Probes     uint64    `json:"probes"`
	LastSeen   time.Time `json:"last_seen"`
	// Active marks the path of the job's last reply.
	Active bool `json:"active"`
}

// state lists the branches by path.
func (b *branches) state() []BranchState {
	if len(b.list) == 0 {
		return nil
	}
	out := make([]BranchState, 0, len(b.list))
	for _, x := range b.list {
		s := BranchState{Path: x.path, FlowLabels: []uint32{}, Probes: x.probes, LastSeen: x.last, Active: x.path == b.current}
		for l, p := range b.byLabel {
			if p == x.path {
				s.FlowLabels = append(s.FlowLabels, l)
			}
		}
		slices.Sort(s.FlowLabels)
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b BranchState) int {
		switch {
		case a.Path < b.Path:
			return -1
		case a.Path > b.Path:
			return 1
		}
		return 0
	})
	return out
}
