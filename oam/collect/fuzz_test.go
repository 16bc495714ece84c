package collect

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/srh"
)

// FuzzObserve feeds the collector what the network can send it: report datagrams (decoded by
// oam.Report) and Timestamp Slots TLV values, interleaved with TX, RX and expiry at arbitrary
// times. Nothing may panic and the window must hold.
func FuzzObserve(f *testing.F) {
	r := report(1, 3, 5*ms, 1*ms, synced)
	seed, err := r.AppendBinary(nil)
	if err != nil {
		f.Fatal(err)
	}
	tlv, _ := srh.DefaultRegistry().SlotsTLV(len(path))
	f.Add(seed, tlv.Value, uint32(3), int64(ms))
	f.Add([]byte{}, []byte{}, uint32(0), int64(0))
	f.Add(append(seed[:len(seed):len(seed)], 0), tlv.Value[:10], uint32(1<<31), int64(-1))
	f.Fuzz(func(t *testing.T, reportBytes, slotsValue []byte, seq uint32, now int64) {
		c, err := New(Config{Session: session, Points: PathPoints(path, true), Window: 16,
			Timeout: 50 * time.Millisecond, OnResult: func(r *ProbeResult) {
				if len(r.Segments) != len(path) {
					t.Fatalf("%d segments", len(r.Segments))
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		c.ObserveTx(seq, now, now)
		var rep oam.Report
		if rep.UnmarshalBinary(reportBytes) == nil {
			c.ObserveReport(&rep, now)
		}
		if s, err := srh.ParseSlots(slotsValue); err == nil {
			c.ObserveSlots(srh.Probe{Session: session, Sequence: seq}, s, now)
		}
		if len(reportBytes) >= 4 {
			c.ObserveReceive(binary.BigEndian.Uint32(reportBytes), now, now)
		}
		c.Expire(now + int64(time.Second))
		if c.Outstanding() > 16 {
			t.Fatalf("outstanding %d beyond the window", c.Outstanding())
		}
		c.Flush(now)
		_ = c.Summary()
	})
}
