package collect

import (
	"time"

	"github.com/srv6oam/srv6oam/oam"
)

// Liveness is a segment's state, as BFD (RFC 5880) would have it: a segment is declared down
// after DetectMultiplier consecutive probes were lost on it, and up after UpMultiplier
// consecutive probes crossed it. Probes lost before the segment say nothing about it.
type Liveness uint8

const (
	// LiveUnknown: not enough probes yet either way.
	LiveUnknown Liveness = iota
	LiveUp
	LiveDown
)

func (l Liveness) String() string {
	switch l {
	case LiveUp:
		return "up"
	case LiveDown:
		return "down"
	}
	return "unknown"
}

// Machine is the liveness state machine of one segment, the one srv6oam has: a segment is
// declared down after Detect consecutive probes were lost on it and up after Up consecutive
// probes crossed it; a single probe the other way resets the run. The collector keeps one per
// segment, the monitor's echo jobs one per job.
type Machine struct {
	Detect, Up int
	State      Liveness
	upRun      int
	downRun    int
}

// Observe accounts one probe that crossed the segment or was lost on it, and returns the state
// and whether it changed.
func (l *Machine) Observe(crossed bool) (Liveness, bool) {
	if crossed {
		l.downRun = 0
		l.upRun++
		if l.State == LiveUp || l.upRun < l.Up {
			return l.State, false
		}
		l.State = LiveUp
		return l.State, true
	}
	l.upRun = 0
	l.downRun++
	if l.State == LiveDown || l.downRun < l.Detect {
		return l.State, false
	}
	l.State = LiveDown
	return l.State, true
}

// Silent takes an up segment down because its detection time passed without a probe crossing
// it (BFD's rule, RFC 5880 §6.8.4, for probers that keep that timer): the losses still to come
// then find it down, and Up crossings in a row bring it back. It returns the state and whether
// it changed; a segment not up is left as it is.
func (l *Machine) Silent() (Liveness, bool) {
	if l.State != LiveUp {
		return l.State, false
	}
	l.upRun, l.downRun = 0, l.Detect
	l.State = LiveDown
	return l.State, true
}

// Transition is a change of a segment's liveness.
type Transition struct {
	// Segment is the segment index (Points[Segment] → Points[Segment+1]); From/To name its ends.
	Segment  int
	From, To string
	Old, New Liveness
	// Sequence is the probe whose resolution caused the change.
	Sequence uint32
	// AtNs is when the collector decided it (the now passed to the call that resolved the
	// probe, CLOCK_TAI ns for the prober's collector).
	AtNs int64
}

type segment struct {
	stats    oam.Stats
	crossed  int // probes that crossed the segment
	lost     int
	missing  int
	unsynced int
	negative int
	maxBound time.Duration

	live        Machine
	changedAtNs int64
	transitions int
}

func (c *Collector) liveness(i int, st oam.DelayState, seq uint32, now int64) {
	if st == oam.DelayNotReached {
		return // a probe lost before the segment says nothing about it
	}
	seg := &c.segs[i]
	old := seg.live.State
	to, changed := seg.live.Observe(st != oam.DelayLost)
	if !changed {
		return
	}
	t := Transition{Segment: i, From: c.cfg.Points[i].Name, To: c.cfg.Points[i+1].Name,
		Old: old, New: to, Sequence: seq, AtNs: now}
	seg.changedAtNs = now
	seg.transitions++
	if c.cfg.OnTransition != nil {
		c.cfg.OnTransition(t)
	}
}

// SegmentSummary is one segment's statistics over the run so far.
type SegmentSummary struct {
	Index    int
	From, To string
	// Reply says the segment ends at the prober receiving the final node's reply: its delay
	// covers the last segment and the way back.
	Reply bool
	// Delay statistics over the probes whose delay was measured.
	Delay oam.StatsSummary
	// MaxBound is the largest error bound of a measured delay.
	MaxBound time.Duration
	// Crossed counts the probes that crossed the segment, Lost those lost on it (together:
	// the probes that reached its start and whose fate on it is known).
	Crossed, Lost int
	// Missing, Unsynchronised (or clock unknown) and Negative count crossings without a
	// measured delay, by reason.
	Missing, Unsynchronised, Negative int
	Liveness                          Liveness
	// ChangedAtNs is when the liveness last changed (0: never); Transitions counts changes.
	ChangedAtNs int64
	Transitions int
}

// LossPercent is the share of probes that reached the segment and were lost on it.
func (s SegmentSummary) LossPercent() float64 {
	if s.Crossed+s.Lost == 0 {
		return 0
	}
	return float64(s.Lost) * 100 / float64(s.Crossed+s.Lost)
}

// Summary is the collector's view of the run so far.
type Summary struct {
	Session uint32
	// Resolved probes: Received reached the final point (Partial of them without every
	// timestamp), Lost did not.
	Resolved, Received, Partial, Lost int
	RTT                               oam.StatsSummary
	Segments                          []SegmentSummary
	Counters                          Counters
}

// Summary returns the statistics so far. It allocates; call it at the end or now and then.
func (c *Collector) Summary() Summary {
	s := Summary{Session: c.cfg.Session, Resolved: c.sent, Received: c.received, Partial: c.partial,
		Lost: c.lost, RTT: c.rtt.Summary(), Counters: c.counters}
	for i := range c.segs {
		seg := &c.segs[i]
		s.Segments = append(s.Segments, SegmentSummary{
			Index: i, From: c.cfg.Points[i].Name, To: c.cfg.Points[i+1].Name,
			Reply: c.cfg.Points[i+1].Kind == PointReply,
			Delay: seg.stats.Summary(), MaxBound: seg.maxBound,
			Crossed: seg.crossed, Lost: seg.lost, Missing: seg.missing,
			Unsynchronised: seg.unsynced, Negative: seg.negative,
			Liveness: seg.live.State, ChangedAtNs: seg.changedAtNs, Transitions: seg.transitions,
		})
	}
	return s
}

// Liveness returns segment i's current state.
func (c *Collector) Liveness(i int) Liveness { return c.segs[i].live.State }

// Counters returns the counters so far.
func (c *Collector) Counters() Counters { return c.counters }
