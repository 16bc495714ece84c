package collect_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
)

// A prober sends probe 1 along A, B and back to itself; A's and B's agents report, the probe
// comes back. Times are CLOCK_TAI nanoseconds; the collector is told "now" by its owner.
func ExampleCollector() {
	a, b, src := netip.MustParseAddr("fc00:0:2::b0"), netip.MustParseAddr("fc00:0:3::b0"), netip.MustParseAddr("fc00:0:1::1")
	points := collect.PathPoints(oam.SegmentList{a, b, src}, true)
	synced := oam.ClockState{Synchronised: true, EstErrorMicros: 1}
	c, err := collect.New(collect.Config{
		Session: 42, Points: points, SourceClock: synced,
		OnResult: func(r *collect.ProbeResult) {
			fmt.Printf("seq %d %v rtt %v\n", r.Sequence, r.Status, r.RTT)
			for i, s := range r.Segments {
				fmt.Printf("  %s→%s %v %v ±%v\n", points[i].Name, points[i+1].Name, s.State, s.Delay, s.Bound)
			}
		},
	})
	if err != nil {
		panic(err)
	}
	const tx = int64(1_000_000_000)
	us := func(n int64) int64 { return tx + n*int64(time.Microsecond) }
	c.ObserveTx(1, tx, tx)
	// Agents' reports: SegmentsLeft as End.OAM saw it (A is wire index 2, B wire index 1).
	c.ObserveReport(&oam.Report{NodeID: 2, Clock: synced, Records: []oam.ReportRecord{
		{SID: a, Session: 42, Sequence: 1, TimestampNs: uint64(us(60)), SenderTxNs: uint64(tx), SegmentsLeft: 1}}}, us(100))
	c.ObserveReceive(1, us(300), us(300)) // B's report is still on its way
	c.ObserveReport(&oam.Report{NodeID: 3, Clock: synced, Records: []oam.ReportRecord{
		{SID: b, Session: 42, Sequence: 1, TimestampNs: uint64(us(160)), SenderTxNs: uint64(tx), SegmentsLeft: 0}}}, us(310))
	// Output:
	// seq 1 complete rtt 300µs
	//   src→fc00:0:2::b0 measured 60µs ±2µs
	//   fc00:0:2::b0→fc00:0:3::b0 measured 100µs ±2µs
	//   fc00:0:3::b0→src measured 140µs ±2µs
}
