package probes

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

func TestEventHeapOrder(t *testing.T) {
	var h wakeHeap[int]
	base := time.Unix(1000, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		h.push(wakeup[int]{at: base.Add(time.Duration(rng.IntN(1e6)) * time.Microsecond)})
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

// counter is a Session that sums its inputs and is done when they reach want.
type counter struct {
	sum, want, wakes int
}

func (c *counter) Wake(time.Time) (time.Time, bool) { c.wakes++; return time.Time{}, false }
func (c *counter) Input(in *int, _ time.Time) (time.Time, bool) {
	c.sum += *in
	return time.Time{}, c.sum >= c.want
}

// TestLoopInputs: inputs delivered through a Handle reach its session on the Loop, the session
// ends when it says so, its OnRemove runs once, and an input to an ended session is dropped.
func TestLoopInputs(t *testing.T) {
	l := NewLoop[int]()
	defer l.Close()
	c := &counter{want: 10}
	removed := 0
	h, err := l.Add(c, func(h *Handle[int]) error { h.OnRemove(func() { removed++ }); return nil })
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		if !h.Deliver(&i) {
			t.Fatal("Deliver refused on an open loop")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Run(ctx, true); err != nil || ctx.Err() != nil {
		t.Fatalf("Run: %v (ctx %v)", err, ctx.Err())
	}
	if c.sum != 10 || c.wakes != 1 || removed != 1 {
		t.Errorf("sum %d wakes %d removed %d, want 10 1 1", c.sum, c.wakes, removed)
	}
	h.Remove() // again: nothing more happens
	if removed != 1 {
		t.Errorf("OnRemove ran %d times", removed)
	}
}

// TestLoopAttachFails: a session whose attach fails is not added.
func TestLoopAttachFails(t *testing.T) {
	l := NewLoop[int]()
	defer l.Close()
	boom := errors.New("boom")
	if _, err := l.Add(&counter{}, func(*Handle[int]) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Add: %v", err)
	}
	if err := l.Run(context.Background(), true); err != nil {
		t.Fatalf("Run of an empty loop: %v", err)
	}
}

// TestLoopOfferFull: Offer never waits: with the queue full it reports false.
func TestLoopOfferFull(t *testing.T) {
	l := NewLoop[int]()
	defer l.Close()
	h, _ := l.Add(&counter{want: 1 << 30}, nil)
	one := 1
	for i := range inBuffer {
		if !h.Offer(&one) {
			t.Fatalf("Offer %d refused below the buffer size", i)
		}
	}
	if h.Offer(&one) {
		t.Fatal("Offer accepted beyond the buffer")
	}
}

// TestLoopStop: Stop ends Run with its error, from another goroutine; Deliver after Close
// reports false instead of waiting.
func TestLoopStop(t *testing.T) {
	l := NewLoop[int]()
	h, _ := l.Add(&counter{want: 1 << 30}, nil)
	boom := errors.New("socket gone")
	go l.Stop(boom)
	if err := l.Run(context.Background(), false); !errors.Is(err, boom) {
		t.Fatalf("Run: %v, want %v", err, boom)
	}
	l.Close()
	one := 1
	for range inBuffer + 1 {
		if !h.Deliver(&one) {
			return
		}
	}
	t.Fatal("Deliver kept accepting after Close")
}

// behind is a Session always due again at once (a loop that cannot keep up with its
// schedule); it says on got when it has had want inputs.
type behind struct {
	wakes, inputs, want int
	got                 chan struct{}
}

func (b *behind) Wake(now time.Time) (time.Time, bool) {
	b.wakes++
	return now.Add(-time.Millisecond), false
}
func (b *behind) Input(*int, time.Time) (time.Time, bool) {
	if b.inputs++; b.inputs == b.want {
		close(b.got)
	}
	return time.Time{}, false
}

// TestLoopInputsWhileBehind: a Loop whose session is always due still takes the inputs
// delivered meanwhile (answers must not wait behind sends that never catch up: before, the
// loop went on waking the session and never read them), and stops when its context ends.
func TestLoopInputsWhileBehind(t *testing.T) {
	l := NewLoop[int]()
	defer l.Close()
	b := &behind{want: 100, got: make(chan struct{})}
	h, err := l.Add(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, false) }()
	go func() {
		one := 1
		for range b.want {
			h.Deliver(&one)
		}
	}()
	select {
	case <-b.got:
	case <-time.After(20 * time.Second):
		t.Error("the inputs were not taken while the session was always due")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after its context ended while the session was always due")
	}
}
