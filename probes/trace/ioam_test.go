package trace

import (
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
)

// TestAttributeIOAM: each hop takes the trace of its first probe that quoted one and counts the
// entries added since the previous hop's; a silent hop between two IOAM hops leaves its entry
// to the next hop that answered; a hop without IOAM adds none.
func TestAttributeIOAM(t *testing.T) {
	typ := ioam.Bits(ioam.BitHopLimitNodeID, ioam.BitTimestampSeconds, ioam.BitTimestampFraction)
	e := func(id uint64, us uint32) ioam.Entry { return ioam.Entry{NodeID: id, Seconds: 100, Fraction: us} }
	rec := func(es ...ioam.Entry) *ioam.Record { return &ioam.Record{Type: typ, Entries: es} }
	sent := time.Unix(100, 0)
	hops := []Hop{
		{TTL: 1, Probes: []Probe{{Answered: false}, {Answered: true, Sent: sent, IOAM: rec(e(1, 10))}}},
		{TTL: 2, Probes: []Probe{{Answered: true, Sent: sent, IOAM: rec(e(1, 10))}}},                     // IOAM off
		{TTL: 3, Probes: []Probe{{Answered: false}}},                                                     // silent
		{TTL: 4, Probes: []Probe{{Answered: true, Sent: sent, IOAM: rec(e(1, 10), e(3, 30), e(4, 45))}}}, // 3 and 4
		{TTL: 5, Probes: []Probe{{Answered: true, Kind: oam.KindReply}}},
	}
	attributeIOAM(hops, oam.EndClock{}, oam.EndClock{}, true)
	for i, want := range []struct{ probe, added int }{{1, 1}, {0, 0}, {-1, 0}, {0, 2}, {-1, 0}} {
		h := hops[i]
		if h.IOAMProbe != want.probe || h.IOAMNew != want.added {
			t.Errorf("hop %d: probe %d, %d new entries; want %d, %d", h.TTL, h.IOAMProbe, h.IOAMNew, want.probe, want.added)
		}
	}
	d := hops[3].IOAMDelays
	if len(d) != 3 || d[0].Delay != 10*time.Microsecond || d[1].Delay != 20*time.Microsecond || d[2].Delay != 15*time.Microsecond {
		t.Errorf("delays %+v", d)
	}
}
