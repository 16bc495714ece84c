package oam

import (
	"time"

	"github.com/srv6oam/srv6oam/oam/ioam"
)

// IOAMDelays returns, for each entry of an IOAM trace, the one-way delay from the point before
// it: from sent (when the probe left the prober) for the first entry, from the entry before
// for the others. Each is judged by OneWayDelay: IOAM carries no clock state, so nodes is what
// the operator says of the IOAM nodes' realtime clocks (zero: unknown, and no delay is shown
// as true), prober the prober's own clock, shared that every clock is one host's. An entry
// without a receive time, the one after it, and the first when sent is zero are DelayMissing.
// Delays are whole microseconds, the resolution Linux writes.
func IOAMDelays(rec *ioam.Record, sent time.Time, prober, nodes EndClock, shared bool) []OneWay {
	out := make([]OneWay, len(rec.Entries))
	// Linux writes microseconds: the prober's time is read at that resolution too, or a hop
	// that received the probe within the microsecond it left would seem to precede it.
	prev, prevOK, prevClock := sent.Truncate(time.Microsecond), !sent.IsZero(), prober
	for i := range rec.Entries {
		e := &rec.Entries[i]
		ok := rec.HasTime(e)
		if !ok || !prevOK {
			out[i].State = DelayMissing
		} else {
			out[i] = OneWayDelay(e.Time().Sub(prev), prevClock, nodes, shared)
		}
		if ok {
			prev = e.Time()
		}
		prevOK, prevClock = ok, nodes
	}
	return out
}
