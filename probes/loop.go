package probes

import (
	"context"
	"sync"
	"time"
)

// Session is the probing logic of one run of an engine: when to send, what an input means, when
// a probe is lost. In is what the run's sources hand it: an echo answer (Match) for ping, trace
// and the monitor's echo jobs; a returning probe, an agent's report record or a TX timestamp
// for the timestamped prober; a STAMP reply. A Session is passive: a Loop calls it, always from
// the Loop's goroutine, so it needs no lock for its own state.
type Session[In any] interface {
	// Wake is called at (or after) the time the session last asked for: it sends what is due
	// and expires what is overdue, and returns when it next wants to be woken (the zero time:
	// only when an input comes) and whether it is done.
	Wake(now time.Time) (next time.Time, done bool)
	// Input hands the session one input delivered to its Handle, then asks as Wake does. in is
	// valid during the call only.
	Input(in *In, now time.Time) (next time.Time, done bool)
}

// Loop is srv6oam's one send/expire loop: one goroutine and one timer that drive any number of
// Sessions, each fed by whatever reads its sockets through its Handle. srv6-ping is one Session
// on a Loop of its own; srv6-monitor's ten thousand echo jobs are ten thousand Sessions on one
// Loop, their probes leaving in order of their deadlines; each wave of a trace, each
// timestamped run and each STAMP session runs on one too.
type Loop[In any] struct {
	in   chan input[In]
	quit chan struct{}
	once sync.Once

	// stopped is closed by Stop; stopErr is what Run then returns.
	stopped  chan struct{}
	stopOnce sync.Once
	stopErr  error

	mu   sync.Mutex // guards heap, live and the handles' fields below
	heap wakeHeap[In]
	live int
	wake chan struct{}
	idle chan struct{} // closed and renewed when the last session leaves
	due  []wakeup[In]  // reused by Run
	cur  In            // the input being handed to a session (no allocation per input)
	// poll, when set, takes the inputs waiting at their source on the Loop's goroutine, before
	// each round of wake-ups (EchoLoop.TakeAnswers).
	poll func()
}

// Handle is a Session's place on a Loop, and the way inputs reach it.
type Handle[In any] struct {
	l        *Loop[In]
	s        Session[In]
	gen      uint64 // the heap entry that is current; older ones are stale
	done     bool
	onRemove func()
}

type input[In any] struct {
	h  *Handle[In]
	in In
}

type wakeup[In any] struct {
	at  time.Time
	h   *Handle[In]
	gen uint64
}

// inBuffer is how many inputs wait for the Loop before Deliver waits and Offer drops.
const inBuffer = 4096

// NewLoop makes a Loop; Run drives it.
func NewLoop[In any]() *Loop[In] {
	return &Loop[In]{in: make(chan input[In], inBuffer), quit: make(chan struct{}), stopped: make(chan struct{}),
		wake: make(chan struct{}, 1), idle: make(chan struct{})}
}

// Close stops taking inputs (a Deliver waiting for room returns); call it once Run has
// returned, before closing what feeds the Loop.
func (l *Loop[In]) Close() { l.once.Do(func() { close(l.quit) }) }

// Stop makes Run return err (nil: return as when ctx ends): what feeds the Loop failed, or
// stopped for good. It may be called from any goroutine, more than once; the first call counts.
func (l *Loop[In]) Stop(err error) {
	l.stopOnce.Do(func() {
		l.stopErr = err
		close(l.stopped)
	})
}

// Add puts s on the Loop and wakes it at once. attach, when not nil, runs first and connects
// the Handle to what feeds the session (a Demux registration, a Mux route); when it fails the
// session is not added. Add may be called from any goroutine, before or while the Loop runs.
func (l *Loop[In]) Add(s Session[In], attach func(*Handle[In]) error) (*Handle[In], error) {
	h := &Handle[In]{l: l, s: s}
	if attach != nil {
		if err := attach(h); err != nil {
			return nil, err
		}
	}
	l.mu.Lock()
	l.live++
	l.schedule(h, time.Now())
	l.mu.Unlock()
	l.poke()
	return h, nil
}

// OnRemove sets what runs when the session leaves the Loop (it finished, or Remove): the undoing
// of what attach did. Call it from attach.
func (h *Handle[In]) OnRemove(f func()) { h.onRemove = f }

// Deliver hands in to the session, waiting for room in the Loop's queue until the Loop is
// closed (then it reports false): for sources that must lose nothing, such as a trace's
// answers. in is copied.
func (h *Handle[In]) Deliver(in *In) bool {
	select {
	case h.l.in <- input[In]{h: h, in: *in}:
		return true
	case <-h.l.quit:
		return false
	}
}

// Offer hands in to the session if the Loop's queue has room and reports whether it had: for
// sources shared by many sessions whose reader must never wait for one of them.
func (h *Handle[In]) Offer(in *In) bool {
	select {
	case h.l.in <- input[In]{h: h, in: *in}:
		return true
	default:
		return false
	}
}

// Remove takes the session off the Loop: it is not called again, and its OnRemove runs.
func (h *Handle[In]) Remove() {
	h.l.mu.Lock()
	h.l.finish(h)
	h.l.mu.Unlock()
}

// finish ends h; l.mu held.
func (l *Loop[In]) finish(h *Handle[In]) {
	if h.done {
		return
	}
	h.done = true
	h.gen++ // any heap entry is stale now
	if h.onRemove != nil {
		h.onRemove()
	}
	l.live--
	if l.live == 0 {
		close(l.idle)
		l.idle = make(chan struct{})
	}
}

// schedule makes next h's wake-up time (zero: none); l.mu held.
func (l *Loop[In]) schedule(h *Handle[In], next time.Time) {
	h.gen++
	if !next.IsZero() && !h.done {
		l.heap.push(wakeup[In]{at: next, h: h, gen: h.gen})
	}
}

func (l *Loop[In]) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Run drives the sessions until ctx is done, Stop is called, or, with untilIdle, no session is
// left. It returns Stop's error. Run may be called again after it returned (a trace runs one
// wave after another on one Loop), but not after Stop.
func (l *Loop[In]) Run(ctx context.Context, untilIdle bool) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if l.poll != nil {
			l.poll()
		}
		now := time.Now()
		l.mu.Lock()
		due := l.due[:0]
		for len(l.heap) > 0 && !l.heap[0].at.After(now) && len(due) < maxWakes {
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
			// Behind schedule (more probes due than the loop can send): take the answers
			// waiting before sending more, or they starve in the channel and the socket
			// behind it until every probe has timed out; and stop when told, which a loop
			// that never reached the select below could not.
			l.drain()
			select {
			case <-ctx.Done():
				return nil
			case <-l.stopped:
				return l.stopErr
			default:
			}
			continue
		}
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return nil
		case <-l.stopped:
			return l.stopErr
		case a := <-l.in:
			timer.Stop()
			l.input(&a)
			l.drain() // every input waiting, before looking at the clock again
		case <-l.wake:
			timer.Stop()
			l.drain()
		case <-idle:
			timer.Stop()
			l.drain()
		case <-timer.C:
			// Answers already here count before anything expires: after a stall (a loaded
			// host, a long GC) a timer that fired late must not call lost a probe whose
			// answer waits in the channel.
			l.drain()
		}
	}
}

// drain takes every input waiting, without blocking.
func (l *Loop[In]) drain() {
	for {
		select {
		case a := <-l.in:
			l.input(&a)
		default:
			return
		}
	}
}

func (l *Loop[In]) input(a *input[In]) {
	l.mu.Lock()
	done := a.h.done
	l.mu.Unlock()
	if done {
		return // an input that was on its way when the session ended
	}
	l.cur = a.in
	next, fin := a.h.s.Input(&l.cur, time.Now())
	l.reschedule(a.h, next, fin)
}

// inputNow hands in to h's session at once, on the Loop's goroutine (a poll's input).
func (l *Loop[In]) inputNow(h *Handle[In], in *In) {
	l.mu.Lock()
	done := h.done
	l.mu.Unlock()
	if done {
		return
	}
	next, fin := h.s.Input(in, time.Now())
	l.reschedule(h, next, fin)
}

func (l *Loop[In]) reschedule(h *Handle[In], next time.Time, done bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if done {
		l.finish(h)
		return
	}
	l.schedule(h, next)
}

// EchoLoop is a Loop of echo sessions fed by one Demux, each session's answers routed by its
// echo identifier: ping, the monitor's echo jobs and the waves of a trace run on one.
type EchoLoop struct {
	*Loop[Match]
	demux *Demux
	// KeepQuotes gives each error's Match a copy of the quoted packet (Match.Quote); without
	// it Quote is nil. Set it before Add.
	KeepQuotes bool

	idMu sync.RWMutex
	byID map[uint16]*Handle[Match] // for TakeAnswers
}

// maxWakes is the most sessions the Loop wakes in one round: with more due at once (thousands
// of monitor jobs after a stall), it takes the inputs waiting between rounds rather than after
// every one of them has sent.
const maxWakes = 64

// pollBudget is the most answers the Loop takes from the socket before a round of wake-ups.
const pollBudget = 256

// TakeAnswers makes the Loop read the Demux's socket itself, without waiting, before every round
// of wake-ups (Demux.Poll), besides the Demux's reader goroutine: answers to its sessions'
// probes then reach them between sends, without a hand-over to another goroutine per answer,
// and a loop busy sending on one CPU (GOMAXPROCS 1) does not leave them to wait in the socket
// until the runtime polls it (up to 10 ms, which is a timeout at 100 Hz). Call it before Run.
func (l *EchoLoop) TakeAnswers() {
	l.byID = map[uint16]*Handle[Match]{}
	direct := func(m *Match) bool {
		l.idMu.RLock()
		h := l.byID[m.ID]
		l.idMu.RUnlock()
		if h == nil {
			return false
		}
		l.quote(m)
		l.inputNow(h, m)
		return true
	}
	l.poll = func() { _, _ = l.demux.Poll(pollBudget, direct) } // the reader reports a failed socket
}

// quote gives m a copy of its quote, or none (KeepQuotes): it aliases a receive buffer.
func (l *EchoLoop) quote(m *Match) {
	if m.Quote != nil {
		if l.KeepQuotes {
			m.Quote = append([]byte(nil), m.Quote...)
		} else {
			m.Quote = nil
		}
	}
}

// NewEchoLoop makes a Loop over demux; Run returns the Demux's error when its socket fails.
func NewEchoLoop(demux *Demux) *EchoLoop {
	l := &EchoLoop{Loop: NewLoop[Match](), demux: demux}
	go func() {
		select {
		case <-demux.Done():
			l.Stop(demux.Err())
		case <-l.quit:
		}
	}()
	return l
}

// Add puts s on the Loop with the answers of echo identifier id routed to it (see Loop.Add).
// The Demux's handler waits for room in the Loop's queue: an echo engine loses no answer.
func (l *EchoLoop) Add(id uint16, s Session[Match]) (*Handle[Match], error) {
	return l.Loop.Add(s, func(h *Handle[Match]) error {
		// The loop's own table first: a Poll that finds an answer for id once the Demux
		// routes it must take it directly, never through Deliver, which would wait on this
		// very goroutine when the queue is full.
		forget := func() {}
		if l.byID != nil {
			l.idMu.Lock()
			if _, taken := l.byID[id]; !taken {
				l.byID[id] = h
				forget = func() {
					l.idMu.Lock()
					if l.byID[id] == h {
						delete(l.byID, id)
					}
					l.idMu.Unlock()
				}
			}
			l.idMu.Unlock()
		}
		unregister, err := l.demux.Register(id, func(m *Match) {
			l.quote(m)
			h.Deliver(m)
		})
		if err != nil {
			forget()
			return err
		}
		h.OnRemove(func() {
			unregister()
			forget()
		})
		return nil
	})
}

// wakeHeap is a binary min-heap of wake-ups by time, written out rather than through
// container/heap so that pushing and popping does not box (no allocation per probe).
type wakeHeap[In any] []wakeup[In]

func (h *wakeHeap[In]) push(e wakeup[In]) {
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

func (h *wakeHeap[In]) pop() wakeup[In] {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a[n] = wakeup[In]{}
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
