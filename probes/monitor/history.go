package monitor

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// A job's recent past, for the page at / (SmokePing's smoke graphs): per series (the job's
// round trip, each segment's one-way delay) a ring of 20-second buckets over the last hour,
// each with the quantiles of what was measured in it and the probes counted and lost; per job
// the last liveness transitions. Fixed sizes: a series costs its ring (180 buckets of 28
// bytes, about 5 KB) and one bucket's reservoir; docs/srv6-monitor.md gives the measured cost
// of 10,000 jobs.
const (
	historyStep    = 20 // seconds per bucket
	historyBuckets = 180
	// historySamples is the reservoir of one bucket: more measurements than this in 20 s
	// (intervals under 313 ms) are sampled uniformly (Vitter's algorithm R).
	historySamples = 64
	// historyTransitions is how many liveness transitions a job keeps.
	historyTransitions = 32
)

// bucket is one finished step of a series: quantiles in seconds (NaN: nothing measured).
type bucket struct {
	start      uint32 // Unix seconds, a multiple of historyStep
	sent, lost uint16
	q          [5]float32 // min, p25, median, p75, max
}

// series is one history ring and the bucket being filled.
type series struct {
	ring []bucket // oldest first once full; next is where the next finished bucket goes
	next int
	cur  struct {
		start      uint32
		sent, lost uint16
		seen       int // measurements offered to the reservoir
		n          int // in the reservoir
		samples    [historySamples]float32
	}
}

// transition is a liveness change of a segment.
type transition struct {
	at      time.Time
	segment int
	state   string
}

// history is a job's series and transitions. Guarded by the job's mutex.
type history struct {
	series      []series
	transitions []transition
	rng         *rand.Rand
}

func newHistory(nSeries int, seed uint64) *history {
	return &history{series: make([]series, nSeries), rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func stepOf(t time.Time) uint32 { return uint32(t.Unix() / historyStep * historyStep) }

// roll finishes the current bucket of s when t is past it.
func (s *series) roll(t time.Time) {
	start := stepOf(t)
	if s.cur.start == start {
		return
	}
	if s.cur.start != 0 && (s.cur.sent > 0 || s.cur.lost > 0) {
		b := s.finished()
		if s.ring == nil {
			s.ring = make([]bucket, 0, historyBuckets)
		}
		if len(s.ring) < historyBuckets {
			s.ring = append(s.ring, b)
		} else {
			s.ring[s.next] = b
			s.next = (s.next + 1) % historyBuckets
		}
	}
	s.cur.start, s.cur.sent, s.cur.lost, s.cur.seen, s.cur.n = start, 0, 0, 0, 0
}

// finished is the current bucket's summary.
func (s *series) finished() bucket {
	b := bucket{start: s.cur.start, sent: s.cur.sent, lost: s.cur.lost}
	for i := range b.q {
		b.q[i] = float32(math.NaN())
	}
	if s.cur.n == 0 {
		return b
	}
	v := s.cur.samples[:s.cur.n]
	slices.Sort(v)
	for i, p := range [5]float64{0, 0.25, 0.5, 0.75, 1} {
		b.q[i] = v[int(math.Round(p*float64(len(v)-1)))]
	}
	return b
}

// observe counts one probe of series i at t: measured d (ok), or lost.
func (h *history) observe(i int, t time.Time, d time.Duration, lost bool) {
	if !h.counted(i, t) {
		return
	}
	s := &h.series[i]
	if lost {
		if s.cur.lost < math.MaxUint16 {
			s.cur.lost++
		}
		return
	}
	s.cur.seen++
	if s.cur.n < historySamples {
		s.cur.samples[s.cur.n] = float32(d.Seconds())
		s.cur.n++
	} else if k := h.rng.IntN(s.cur.seen); k < historySamples {
		s.cur.samples[k] = float32(d.Seconds())
	}
}

// counted counts one probe of series i at t (alone: one that gave no measurement but was not
// lost, a one-way delay a clock made unbelievable). false: there is no series i.
func (h *history) counted(i int, t time.Time) bool {
	if i >= len(h.series) {
		return false
	}
	s := &h.series[i]
	s.roll(t)
	if s.cur.sent < math.MaxUint16 {
		s.cur.sent++
	}
	return true
}

func (h *history) transition(at time.Time, segment int, state string) {
	if len(h.transitions) == historyTransitions {
		copy(h.transitions, h.transitions[1:])
		h.transitions = h.transitions[:historyTransitions-1]
	}
	h.transitions = append(h.transitions, transition{at: at, segment: segment, state: state})
}

// SeriesHistory is one series over a window, in uPlot's columnar form: the bucket start times
// and, per quantile, the values in seconds (null where nothing was measured).
type SeriesHistory struct {
	Name   string     `json:"name"`
	From   string     `json:"from,omitempty"`
	To     string     `json:"to,omitempty"`
	Time   []int64    `json:"t"`
	Min    []*float64 `json:"min"`
	P25    []*float64 `json:"p25"`
	Median []*float64 `json:"median"`
	P75    []*float64 `json:"p75"`
	Max    []*float64 `json:"max"`
	Sent   []int      `json:"sent"`
	Lost   []int      `json:"lost"`
}

// TransitionHistory is one liveness change.
type TransitionHistory struct {
	Time    time.Time `json:"time"`
	Segment int       `json:"segment"`
	State   string    `json:"state"`
}

// JobHistory is /api/v1/jobs/{name}/history.
type JobHistory struct {
	Name          string              `json:"name"`
	BucketSeconds int                 `json:"bucket_seconds"`
	Series        []SeriesHistory     `json:"series"`
	Transitions   []TransitionHistory `json:"transitions"`
}

// window returns the buckets of series i that start after since, oldest first, the current
// one included (its quantiles so far).
func (h *history) window(i int, since time.Time) []bucket {
	s := &h.series[i]
	out := make([]bucket, 0, len(s.ring)+1)
	lim := uint32(max(0, since.Unix()))
	for k := range s.ring {
		b := s.ring[(s.next+k)%len(s.ring)]
		if b.start >= lim {
			out = append(out, b)
		}
	}
	if s.cur.start >= lim && (s.cur.sent > 0 || s.cur.lost > 0) {
		// finished sorts the reservoir in place: harmless, the order of a reservoir is free.
		out = append(out, s.finished())
	}
	return out
}

func seriesHistory(name, from, to string, bs []bucket) SeriesHistory {
	sh := SeriesHistory{Name: name, From: from, To: to, Time: []int64{}, Min: []*float64{}, P25: []*float64{},
		Median: []*float64{}, P75: []*float64{}, Max: []*float64{}, Sent: []int{}, Lost: []int{}}
	val := func(v float32) *float64 {
		if math.IsNaN(float64(v)) {
			return nil
		}
		f := float64(v)
		return &f
	}
	for _, b := range bs {
		sh.Time = append(sh.Time, int64(b.start))
		sh.Min, sh.P25, sh.Median = append(sh.Min, val(b.q[0])), append(sh.P25, val(b.q[1])), append(sh.Median, val(b.q[2]))
		sh.P75, sh.Max = append(sh.P75, val(b.q[3])), append(sh.Max, val(b.q[4]))
		sh.Sent, sh.Lost = append(sh.Sent, int(b.sent)), append(sh.Lost, int(b.lost))
	}
	return sh
}
