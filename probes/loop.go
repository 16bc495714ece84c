package probes

import (
	"context"
	"sync"
	"time"
)

// Session is the probing logic of one run of an echo-matching engine (ping; the monitor's echo
// jobs are ping sessions): when to send, what an answer means, when a probe is lost. It is
// passive: a Loop calls it, always from the Loop's goroutine, so a Session needs no lock for its
// own state.
type Session interface {
	// Wake is called at (or after) the time the session last asked for: it sends what is due
	// and expires what is overdue, and returns when it next wants to be woken (the zero time:
	// only when an answer comes) and whether it is done.
	Wake(now time.Time) (next time.Time, done bool)
	// Input hands the session one answer the Demux routed to it, then asks as Wake does. m is
	// valid during the call only.
	Input(m *Match, now time.Time) (next time.Time, done bool)
}

// Loop is srv6oam's one send/expire loop: one goroutine and one timer that drive any number of
// Sessions over one Demux, the answers of each routed by echo identifier. srv6-ping is one
// Session on a Loop of its own; srv6-monitor's ten thousand echo jobs are ten thousand Sessions
// on one Loop, one socket and one timer heap, their probes leaving in order of their deadlines.
type Loop struct {
	demux *Demux
	in    chan answer
	quit  chan struct{}
	once  sync.Once

	mu   sync.Mutex // guards heap, live and the handles' fields below
	heap wakeHeap
	live int
	wake chan struct{}
	idle chan struct{} // closed and renewed when the last session leaves
	due  []wakeup      // reused by Run
	cur  Match         // the answer being handed to a session (no allocation per answer)
}

// Handle is a Session's place on a Loop.
type Handle struct {
	l          *Loop
	s          Session
	gen        uint64 // the heap entry that is current; older ones are stale
	done       bool
	unregister func()
}

type answer struct {
	h *Handle
	m Match
}

type wakeup struct {
	at  time.Time
	h   *Handle
	gen uint64
}

// inBuffer is how many answers wait for the Loop before the Demux waits for it.
const inBuffer = 4096

// NewLoop makes a Loop over demux; Run drives it.
func NewLoop(demux *Demux) *Loop {
	return &Loop{demux: demux, in: make(chan answer, inBuffer), quit: make(chan struct{}), wake: make(chan struct{}, 1), idle: make(chan struct{})}
}

// Close stops routing answers to the Loop (a Demux handler waiting for room returns); call it
// once Run has returned, before closing the Demux.
func (l *Loop) Close() { l.once.Do(func() { close(l.quit) }) }

// Add puts s on the Loop, with the answers of echo identifier id routed to it, and wakes it
// at once. It may be called from any goroutine, before or while the Loop runs.
func (l *Loop) Add(id uint16, s Session) (*Handle, error) {
	h := &Handle{l: l, s: s}
	unregister, err := l.demux.Register(id, func(m *Match) {
		select {
		case l.in <- answer{h: h, m: *m}:
		case <-l.quit:
		}
	})
	if err != nil {
		return nil, err
	}
	h.unregister = unregister
	l.mu.Lock()
	l.live++
	l.schedule(h, time.Now())
	l.mu.Unlock()
	l.poke()
	return h, nil
}

// Remove takes the session off the Loop: it is not called again, and its identifier is free.
func (h *Handle) Remove() {
	h.l.mu.Lock()
	h.l.finish(h)
	h.l.mu.Unlock()
}

// finish ends h; l.mu held.
func (l *Loop) finish(h *Handle) {
	if h.done {
		return
	}
	h.done = true
	h.gen++ // any heap entry is stale now
	h.unregister()
	l.live--
	if l.live == 0 {
		close(l.idle)
		l.idle = make(chan struct{})
	}
}

// schedule makes next h's wake-up time (zero: none); l.mu held.
func (l *Loop) schedule(h *Handle, next time.Time) {
	h.gen++
	if !next.IsZero() && !h.done {
		l.heap.push(wakeup{at: next, h: h, gen: h.gen})
	}
}

func (l *Loop) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Run drives the sessions until ctx is done, or, with untilIdle, until no session is left. It
// returns the Demux's error when its socket failed.
func (l *Loop) Run(ctx context.Context, untilIdle bool) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		l.mu.Lock()
		due := l.due[:0]
		for len(l.heap) > 0 && !l.heap[0].at.After(now) {
			w := l.heap.pop()
			if w.gen == w.h.gen && !w.h.done {
				due = append(due, w)
			}
		}
		l.due = due
		l.mu.Unlock()
		for _, w := range due {
			next, done := w.h.s.Wake(now)
			l.reschedule(w.h, next, done)
		}
		l.mu.Lock()
		idle := l.idle
		if untilIdle && l.live == 0 {
			l.mu.Unlock()
			return nil
		}
		wait := time.Hour
		if len(l.heap) > 0 {
			wait = time.Until(l.heap[0].at)
		}
		l.mu.Unlock()
		if len(due) > 0 && wait <= 0 {
			continue
		}
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return nil
		case <-l.demux.Done():
			return l.demux.Err()
		case a := <-l.in:
			timer.Stop()
			l.input(a)
			// Take every answer waiting before looking at the clock again.
			for more := true; more; {
				select {
				case a := <-l.in:
					l.input(a)
				default:
					more = false
				}
			}
		case <-l.wake:
			timer.Stop()
		case <-idle:
			timer.Stop()
		case <-timer.C:
		}
	}
}

func (l *Loop) input(a answer) {
	l.mu.Lock()
	done := a.h.done
	l.mu.Unlock()
	if done {
		return // an answer that was on its way when the session ended
	}
	l.cur = a.m
	next, fin := a.h.s.Input(&l.cur, time.Now())
	l.reschedule(a.h, next, fin)
}

func (l *Loop) reschedule(h *Handle, next time.Time, done bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if done {
		l.finish(h)
		return
	}
	l.schedule(h, next)
}

// wakeHeap is a binary min-heap of wake-ups by time, written out rather than through
// container/heap so that pushing and popping does not box (no allocation per probe).
type wakeHeap []wakeup

func (h *wakeHeap) push(e wakeup) {
	*h = append(*h, e)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !a[i].at.Before(a[p].at) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *wakeHeap) pop() wakeup {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a[n] = wakeup{}
	a = a[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && a[l].at.Before(a[m].at) {
			m = l
		}
		if r < n && a[r].at.Before(a[m].at) {
			m = r
		}
		if m == i {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
}
