package probes

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestEventHeapOrder(t *testing.T) {
	var h wakeHeap
	base := time.Unix(1000, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		h.push(wakeup{at: base.Add(time.Duration(rng.IntN(1e6)) * time.Microsecond)})
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
