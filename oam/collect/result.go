package collect

import (
	"time"

	"github.com/srv6oam/srv6oam/oam"
)

// Status is what became of a probe.
type Status uint8

const (
	// StatusComplete: the probe reached its final point and every point's timestamp arrived.
	StatusComplete Status = iota + 1
	// StatusPartial: the probe reached its final point but some node's timestamp never came
	// (a report lost or rate-limited): no loss, some segments unmeasured.
	StatusPartial
	// StatusLost: the probe never reached its final point.
	StatusLost
)

func (s Status) String() string {
	switch s {
	case StatusComplete:
		return "complete"
	case StatusPartial:
		return "partial"
	case StatusLost:
		return "lost"
	}
	return "unknown"
}

// SegmentResult is one segment of one probe: from Points[i] to Points[i+1].
type SegmentResult struct {
	State oam.DelayState
	// Delay is the one-way delay; meaningful only when State is oam.DelayMeasured.
	Delay time.Duration
	// Bound is the error bound (±) from both ends' clocks: the sum of their estimated errors,
	// 0 with a shared clock.
	Bound time.Duration
	// Raw is the later timestamp minus the earlier one whenever both arrived, whatever the
	// state (for diagnosis; not a delay unless State is oam.DelayMeasured).
	Raw time.Duration
	// HaveRaw says Raw is set.
	HaveRaw bool
}

// ProbeResult is one resolved probe.
type ProbeResult struct {
	Session  uint32
	Sequence uint32
	Status   Status
	// TxNs and RxNs are CLOCK_TAI nanoseconds of the prober; RxNs is 0 when lost.
	TxNs, RxNs int64
	// TxPrecise says the TX timestamp came from the prober (kernel or user clock at send), not
	// from the copy in a report.
	TxPrecise bool
	// RTT is RxNs - TxNs, from the prober's clock only (no synchronisation needed); 0 when lost.
	RTT time.Duration
	// Segments[i] is Points[i] → Points[i+1].
	Segments []SegmentResult
	// LastSeen is the index of the last point known to have seen the probe (0: only sent).
	LastSeen int
	// LostOn is the segment the probe was lost on (LastSeen → LastSeen+1), -1 when not lost.
	LostOn int
	// Evicted says the probe was resolved early because the window was full.
	Evicted bool

	segs [MaxPoints - 1]SegmentResult
}

func (c *Collector) resolve(p *probe, now int64) {
	r := &c.res
	r.Sequence = p.seq
	r.TxNs, r.TxPrecise, r.Evicted = p.ts[0], p.txPrecise, p.evicted
	r.Segments = r.segs[:c.nseg]
	r.RxNs, r.RTT = 0, 0
	finalBit := uint32(1) << c.final
	switch {
	case p.have == c.allMask:
		r.Status = StatusComplete
	case p.have&finalBit != 0:
		r.Status = StatusPartial
	default:
		r.Status = StatusLost
	}
	c.sent++
	if r.Status != StatusLost {
		r.RxNs = p.ts[c.final]
		if p.have&1 != 0 {
			r.RTT = time.Duration(r.RxNs - r.TxNs)
			c.rtt.Add(r.RTT)
		}
	}
	// The last point that saw the probe: a later point seeing it proves earlier ones did too.
	last := 0
	for i := c.final; i > 0; i-- {
		if p.have&(1<<i) != 0 {
			last = i
			break
		}
	}
	r.LastSeen, r.LostOn = last, -1
	switch r.Status {
	case StatusComplete:
		c.received++
	case StatusPartial:
		c.received++
		c.partial++
	case StatusLost:
		c.lost++
		r.LostOn = last
	}
	for i := 0; i < c.nseg; i++ {
		s := &r.Segments[i]
		*s = SegmentResult{}
		seg := &c.segs[i]
		switch {
		case r.LostOn >= 0 && i == r.LostOn:
			s.State = oam.DelayLost
			seg.lost++
		case r.LostOn >= 0 && i > r.LostOn:
			s.State = oam.DelayNotReached
		default:
			seg.crossed++
			c.measure(p, i, s)
			switch s.State {
			case oam.DelayMeasured:
				seg.stats.Add(s.Delay)
				seg.maxBound = max(seg.maxBound, s.Bound)
			case oam.DelayMissing:
				seg.missing++
			case oam.DelayUnsynchronised, oam.DelayClockUnknown:
				seg.unsynced++
			case oam.DelayNegative:
				seg.negative++
			}
		}
		c.liveness(i, s.State, p.seq, now)
	}
	if c.cfg.OnResult != nil {
		c.cfg.OnResult(r)
	}
}

// measure fills the one-way delay of segment i (Points[i] → Points[i+1]) of a probe that
// crossed it, by oam.OneWayDelay's rule.
func (c *Collector) measure(p *probe, i int, s *SegmentResult) {
	a, b := i, i+1
	if p.have&(1<<a) == 0 || p.have&(1<<b) == 0 {
		s.State = oam.DelayMissing
		return
	}
	w := oam.OneWayDelay(time.Duration(p.ts[b]-p.ts[a]), endClock(p.clk[a]), endClock(p.clk[b]), c.cfg.SharedClock)
	s.State, s.Delay, s.Bound, s.Raw, s.HaveRaw = w.State, w.Delay, w.Bound, w.Raw, true
}

// endClock turns a stored clock code back into what oam.OneWayDelay needs.
func endClock(code uint32) oam.EndClock {
	switch code {
	case clockUnsynced:
		return oam.EndClock{Known: true}
	case clockUnknown:
		return oam.EndClock{}
	}
	return oam.EndClock{Known: true, Synchronised: true, Error: time.Duration(code) * time.Microsecond}
}
