package oam_test

import (
	"fmt"
	"net/netip"

	"github.com/srv6oam/srv6oam/oam"
)

// A collector decodes what srv6-agent sends; an agent batches records with a ReportBuilder.
func ExampleReportBuilder() {
	var b oam.ReportBuilder
	b.Reset(2, oam.ClockState{Synchronised: true, EstErrorMicros: 40, MaxErrorMicros: 900})
	for seq := uint32(1); seq <= 3; seq++ {
		b.Add(&oam.ReportRecord{SID: netip.MustParseAddr("fc00:0:2::b0"), Session: 7, Sequence: seq,
			TimestampNs: 1_000_000 + uint64(seq)*1000, SlotWritten: true})
	}
	datagram := b.Bytes()

	var r oam.Report
	if err := r.UnmarshalBinary(datagram); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d bytes from node %d, clock synchronised %v ±%dµs\n", len(datagram), r.NodeID, r.Clock.Synchronised, r.Clock.EstErrorMicros)
	for _, rec := range r.Records {
		fmt.Printf("  %v session %d seq %d at %d ns\n", rec.SID, rec.Session, rec.Sequence, rec.TimestampNs)
	}
	// Output:
	// 168 bytes from node 2, clock synchronised true ±40µs
	//   fc00:0:2::b0 session 7 seq 1 at 1001000 ns
	//   fc00:0:2::b0 session 7 seq 2 at 1002000 ns
	//   fc00:0:2::b0 session 7 seq 3 at 1003000 ns
}

func ExampleReport_UnmarshalBinary_error() {
	var r oam.Report
	err := r.UnmarshalBinary([]byte("S6AR\x02\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00"))
	fmt.Println(err)
	// Output:
	// agent report: header: version: 2, want 1
}
