package oam

import "time"

// DelayState says whether a one-way delay can be believed, and if not, why.
type DelayState uint8

const (
	// DelayMeasured: both timestamps arrived, both clocks are synchronised (or shared) and
	// the delay is not negative. Delay ± Bound is the one-way delay.
	DelayMeasured DelayState = iota + 1
	// DelayMissing: the probe crossed the segment but a timestamp of one end never came.
	DelayMissing
	// DelayUnsynchronised: a clock of one end is not synchronised (adjtimex): Raw is the
	// difference of the timestamps, not a delay.
	DelayUnsynchronised
	// DelayClockUnknown: an end's timestamp came from a clock whose state is not known (an
	// in-band timestamp of a node that has not reported its clock state).
	DelayClockUnknown
	// DelayNegative: the later end's timestamp is earlier than the earlier end's: the clocks
	// disagree by more than the delay. Raw is kept; it is never a delay.
	DelayNegative
	// DelayLost: the probe was lost on this segment.
	DelayLost
	// DelayNotReached: the probe was lost before this segment.
	DelayNotReached
)

var delayStateNames = [...]string{"unknown", "measured", "missing", "unsynchronised", "clock-unknown", "negative", "lost", "not-reached"}

func (s DelayState) String() string {
	if int(s) < len(delayStateNames) {
		return delayStateNames[s]
	}
	return "unknown"
}

// EndClock is what one end of a one-way delay says of the clock that took its timestamp.
type EndClock struct {
	// Known is false for a timestamp whose clock state has not been reported (yet).
	Known        bool
	Synchronised bool
	// Error is the clock's estimated error (adjtimex's esterror, a STAMP error estimate).
	Error time.Duration
}

// ClockEnd is the EndClock of a timestamp taken by a clock in state c.
func (c ClockState) ClockEnd() EndClock {
	return EndClock{Known: true, Synchronised: c.Synchronised, Error: time.Duration(c.EstErrorMicros) * time.Microsecond}
}

// OneWay is a one-way delay as OneWayDelay judged it.
type OneWay struct {
	State DelayState
	// Delay is the one-way delay, set only when State is DelayMeasured.
	Delay time.Duration
	// Bound is the error bound (±): the sum of both ends' errors, 0 with a shared clock.
	Bound time.Duration
	// Raw is the later timestamp minus the earlier one, whatever the state: for diagnosis,
	// never to be shown as a delay unless State is DelayMeasured.
	Raw time.Duration
}

// OneWayDelay is srv6oam's one rule for a one-way delay between two timestamps taken by two
// clocks: never a delay without its error bound, never one from an unsynchronised clock or a
// clock of unknown state, never a negative one as true. raw is the later timestamp minus the
// earlier one; shared says both were read from one clock (a lab on one host), which needs no
// synchronisation and has no bound. The collector and STAMP both decide with it.
func OneWayDelay(raw time.Duration, from, to EndClock, shared bool) OneWay {
	w := OneWay{Raw: raw}
	if !shared {
		switch {
		case !from.Synchronised && from.Known, !to.Synchronised && to.Known:
			w.State = DelayUnsynchronised
			return w
		case !from.Known || !to.Known:
			w.State = DelayClockUnknown
			return w
		}
		w.Bound = from.Error + to.Error
	}
	if raw < 0 {
		w.State = DelayNegative
		return w
	}
	w.State, w.Delay = DelayMeasured, raw
	return w
}
