package oam

import (
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam/ioam"
)

func TestIOAMDelays(t *testing.T) {
	typ := ioam.Bits(ioam.BitHopLimitNodeID, ioam.BitTimestampSeconds, ioam.BitTimestampFraction)
	sent := time.Unix(1000, 100_000)
	rec := &ioam.Record{Type: typ, Entries: []ioam.Entry{
		{NodeID: 1, Seconds: 1000, Fraction: 150},                                                        // +50 µs
		{NodeID: 2, Seconds: 1000, Fraction: 120},                                                        // 30 µs before the first: clocks disagree
		{NodeID: 3, Unsupported: []int{ioam.BitTimestampSeconds, ioam.BitTimestampFraction}, Seconds: 0}, // no time
		{NodeID: 4, Seconds: 1001, Fraction: 0},                                                          // after one without time
	}}
	synced := EndClock{Known: true, Synchronised: true, Error: 5 * time.Microsecond}
	got := IOAMDelays(rec, sent, synced, synced, false)
	want := []DelayState{DelayMeasured, DelayNegative, DelayMissing, DelayMissing}
	for i, w := range want {
		if got[i].State != w {
			t.Errorf("entry %d: %v, want %v", i+1, got[i].State, w)
		}
	}
	if got[0].Delay != 50*time.Microsecond || got[0].Bound != 10*time.Microsecond || got[1].Raw != -30*time.Microsecond || got[1].Delay != 0 {
		t.Errorf("%+v", got[:2])
	}
	// The operator said nothing of the nodes' clocks: nothing is shown as a delay.
	for i, w := range IOAMDelays(rec, sent, synced, EndClock{}, false) {
		if w.State == DelayMeasured {
			t.Errorf("entry %d measured with clocks of unknown state", i+1)
		}
	}
	// One host's clock: measured without bound; no sent time: the first is missing.
	if w := IOAMDelays(rec, time.Time{}, EndClock{}, EndClock{}, true); w[0].State != DelayMissing || w[1].State != DelayNegative {
		t.Errorf("%+v", w)
	}
	if w := IOAMDelays(rec, sent, EndClock{}, EndClock{}, true); w[0].State != DelayMeasured || w[0].Bound != 0 {
		t.Errorf("%+v", w[0])
	}
}
