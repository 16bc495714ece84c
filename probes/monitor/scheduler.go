package monitor

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// scheduler sends every echo job's probes on its own schedule and expires unanswered ones. One
// goroutine serves all jobs from one timer heap: ten thousand jobs cost one goroutine and one
// timer, not ten thousand, and probes leave through the one socket in order of their deadlines.
//
// Each job starts at a random phase within its interval and every later probe is planned one
// interval after the previous plan, moved by up to ±5% of the interval at random, so jobs with
// the same interval never fall into step. Lateness is measured against the plan.
type scheduler struct {
	m    *Monitor
	mu   sync.Mutex
	h    eventHeap
	wake chan struct{}
	rng  *rand.Rand
	due  []event // reused by run
}

type eventKind uint8

const (
	evSend eventKind = iota
	evExpire
)

type event struct {
	at   time.Time
	kind eventKind
	job  *runningJob
	seq  uint16
}

// eventHeap is a binary min-heap by time, written out rather than through container/heap so
// that pushing and popping an event does not box it (0 allocations per probe).
type eventHeap []event

func (h *eventHeap) push(e event) {
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

func (h *eventHeap) pop() event {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a[n] = event{}
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

func newScheduler(m *Monitor) *scheduler {
	return &scheduler{m: m, wake: make(chan struct{}, 1), rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

func (s *scheduler) push(e event) {
	s.mu.Lock()
	s.h.push(e)
	first := s.h[0].at.Equal(e.at)
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// add schedules a job's first probe at a random phase of its interval.
func (s *scheduler) add(rj *runningJob) {
	s.mu.Lock()
	phase := time.Duration(s.rng.Int64N(int64(rj.job.Interval)))
	s.mu.Unlock()
	s.push(event{at: time.Now().Add(phase), kind: evSend, job: rj})
}

func (s *scheduler) expireAt(rj *runningJob, seq uint16, at time.Time) {
	s.push(event{at: at, kind: evExpire, job: rj, seq: seq})
}

func (s *scheduler) jitter(interval time.Duration) time.Duration {
	span := int64(interval / 10)
	if span <= 0 {
		return 0
	}
	return time.Duration(s.rng.Int64N(span) - span/2)
}

func (s *scheduler) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		s.mu.Lock()
		due := s.due[:0]
		for len(s.h) > 0 && !s.h[0].at.After(now) {
			due = append(due, s.h.pop())
		}
		s.due = due
		wait := time.Hour
		if len(s.h) > 0 {
			wait = s.h[0].at.Sub(now)
		}
		s.mu.Unlock()
		for _, e := range due {
			if ctx.Err() != nil {
				return
			}
			if e.job.isStopped() {
				continue
			}
			switch e.kind {
			case evSend:
				s.m.send(e.job, e.at)
				s.mu.Lock()
				next := e.at.Add(e.job.job.Interval + s.jitter(e.job.job.Interval))
				s.h.push(event{at: next, kind: evSend, job: e.job})
				s.mu.Unlock()
			case evExpire:
				e.job.expire(s.m, e.seq, time.Now())
			}
		}
		if len(due) > 0 {
			continue // sending took time: look again before sleeping
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-timer.C:
		}
	}
}
