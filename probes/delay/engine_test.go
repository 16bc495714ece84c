package delay_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/delay"
	"github.com/srv6oam/srv6oam/probes/probetest"
)

// The timestamped-probe engine on a scripted network (probes/probetest), without root: three
// End.OAM nodes that each timestamp a probe 100 µs after the previous point and report it, and
// the probe coming back to the prober. What the collector makes of it is exact: the scripted
// timestamps are the truth. Probe 3 is lost after the second node.
func TestEngineOnScriptedAgents(t *testing.T) {
	src := netip.MustParseAddr("fc00:0:1::1")
	sids := oam.SegmentList{netip.MustParseAddr("fc00:0:2::b0"), netip.MustParseAddr("fc00:0:3::b0")}
	dst := netip.MustParseAddr("fc00:0:4::b0")
	nodes := append(append(oam.SegmentList(nil), sids...), dst)
	off, err := probes.TAIOffset()
	if err != nil {
		t.Fatal(err)
	}
	const step = 100 * time.Microsecond
	back := probetest.New(nil)
	reports := probetest.NewReports()
	send := probetest.New(func(p *probetest.Probe) []probetest.Answer {
		probe, err := srh.DefaultRegistry().Probe(p.SRH)
		if err != nil {
			t.Errorf("sent probe without a Probe TLV: %v", err)
			return nil
		}
		// The collector's TX point is the kernel's TX timestamp: probetest stamps 2 µs after
		// the send.
		tx := p.Sent.Add(2*time.Microsecond).UnixNano() + int64(off)
		n := len(p.SRH.Segments) // nodes and the return to the source
		for k, sid := range nodes {
			if probe.Sequence == 3 && k == 2 {
				return nil // lost between the second and the third node
			}
			rep := oam.Report{NodeID: uint32(k + 2), Clock: oam.ClockState{Synchronised: true},
				Records: []oam.ReportRecord{{SID: sid, Session: probe.Session, Sequence: probe.Sequence,
					TimestampNs: uint64(tx + int64(k+1)*int64(step)), SenderTxNs: probe.TxTimestamp,
					SegmentsLeft: uint8(n - 2 - k)}}}
			b, err := rep.AppendBinary(nil)
			if err != nil {
				t.Error(err)
				return nil
			}
			reports.Deliver(b, 2*time.Millisecond)
		}
		// Back at the prober: the Echo Request to itself, with the routing header it carried.
		back.Inject(probetest.Answer{ICMPv6: p.EchoMessage, From: src, HopLimit: 60, Delay: time.Millisecond,
			RoutingHeader: p.SRH.Contents})
		return nil
	})
	mux, err := delay.NewMux(delay.MuxOptions{Sockets: &delay.Sockets{Send: send, Return: back, Reports: reports, ReportPort: 9999}})
	if err != nil {
		t.Fatal(err)
	}
	defer mux.Close()
	p, err := delay.NewShared(context.Background(), mux, oam.Target{Segments: sids, Destination: dst},
		delay.Options{Source: src, Count: 4, Interval: 5 * time.Millisecond, Timeout: time.Second, Linger: time.Second, SharedClock: true})
	if err != nil {
		t.Fatal(err)
	}
	var results []delay.Result
	sum, err := p.Run(context.Background(), func(r delay.Result) { results = append(results, r) })
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 4 {
		t.Fatalf("%d results, want 4", len(results))
	}
	for _, r := range results {
		if r.Sequence == 3 {
			if r.Status != collect.StatusLost || r.LostOn != 2 || r.LastSeen != 2 {
				t.Errorf("seq 3: %v, lost on %d, last seen by point %d; want lost on segment 2 (r2 → h2), last seen by point 2", r.Status, r.LostOn, r.LastSeen)
			}
			continue
		}
		if r.Status != collect.StatusComplete {
			t.Errorf("seq %d: %v, want complete", r.Sequence, r.Status)
			continue
		}
		// src → r1, r1 → r2, r2 → h2: exactly the scripted step; h2 → src: the rest of the
		// round trip.
		for i := 0; i < 3; i++ {
			if s := r.Segments[i]; s.State != oam.DelayMeasured || s.Delay != step || s.Bound != 0 {
				t.Errorf("seq %d segment %d: %v %v ± %v, want measured %v ± 0", r.Sequence, i, s.State, s.Delay, s.Bound, step)
			}
		}
		if s := r.Segments[3]; s.State != oam.DelayMeasured || s.Delay <= 0 || r.RTT != 3*step+s.Delay {
			t.Errorf("seq %d return: %v %v, rtt %v", r.Sequence, s.State, s.Delay, r.RTT)
		}
	}
	if sum.Transmitted != 4 || sum.Received != 3 || sum.Lost != 1 || sum.Segments[2].Lost != 1 {
		t.Errorf("summary: %d sent, %d back, %d lost, segment 2 lost %d", sum.Transmitted, sum.Received, sum.Lost, sum.Segments[2].Lost)
	}
}
