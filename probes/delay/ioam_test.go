package delay_test

import (
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes/delay"
	"github.com/srv6oam/srv6oam/probes/probetest"
)

// fillIOAM is what an IOAM-enabled Linux hop does to a Hop-by-Hop header holding a trace of
// type hop_limit_node_id: it writes its entry below the free space.
func fillIOAM(t *testing.T, hbh []byte, node uint32) []byte {
	t.Helper()
	tr, ok, err := ioam.FindTrace(hbh)
	if err != nil || !ok {
		t.Fatalf("no trace in the probe's Hop-by-Hop header (%v)", err)
	}
	tr.Data = append([]byte(nil), tr.Data...)
	off := (int(tr.Remaining) - int(tr.NodeLen)) * 4
	binary.BigEndian.PutUint32(tr.Data[off:], 63<<24|node)
	tr.Remaining -= tr.NodeLen
	out, err := ioam.AppendHopByHop(nil, hbh[0], &tr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ioamIDs(rec *ioam.Record) []uint64 {
	var ids []uint64
	for _, e := range rec.Entries {
		ids = append(ids, e.NodeID)
	}
	return ids
}

// Timestamped probes with an IOAM trace, on a scripted network: each End.OAM node fills an
// entry (node 10, 11, 12) and reports the probe with the capture of its headers; the probe
// comes back with the three entries and the return hop's (99). Every node's report carries
// the trace as far as the probe had come; probe 3, lost after the second node, has the first
// two reports' traces and no return.
func TestEngineIOAMTraces(t *testing.T) {
	src := netip.MustParseAddr("fc00:0:1::1")
	sids := oam.SegmentList{netip.MustParseAddr("fc00:0:2::b0"), netip.MustParseAddr("fc00:0:3::b0")}
	dst := netip.MustParseAddr("fc00:0:4::b0")
	nodes := append(append(oam.SegmentList(nil), sids...), dst)
	tr, err := ioam.NewTrace(123, ioam.Bits(ioam.BitHopLimitNodeID), 6)
	if err != nil {
		t.Fatal(err)
	}
	back := probetest.New(nil)
	reports := probetest.NewReports()
	send := probetest.New(func(p *probetest.Probe) []probetest.Answer {
		probe, err := srh.DefaultRegistry().Probe(p.SRH)
		if err != nil || p.HopByHop == nil {
			t.Errorf("sent probe without a Probe TLV (%v) or a Hop-by-Hop header", err)
			return nil
		}
		if want := uint8(40 + len(p.HopByHop)); probe.Flags&srh.ProbeCapture == 0 || probe.CaptureLen != want {
			t.Errorf("probe flags %#x capture %d, want the capture flag and %d (the IPv6 and Hop-by-Hop headers)", probe.Flags, probe.CaptureLen, want)
		}
		hbh := p.HopByHop
		n := len(p.SRH.Segments)
		for k, sid := range nodes {
			if probe.Sequence == 3 && k == 2 {
				return nil
			}
			hbh = fillIOAM(t, hbh, uint32(10+k))
			capture := append(append([]byte(nil), p.Packet[:40]...), hbh...)
			rep := oam.Report{NodeID: uint32(k + 2), Clock: oam.ClockState{Synchronised: true},
				Records: []oam.ReportRecord{{SID: sid, Session: probe.Session, Sequence: probe.Sequence,
					TimestampNs: probe.TxTimestamp + uint64(k+1)*1000, SenderTxNs: probe.TxTimestamp,
					SegmentsLeft: uint8(n - 2 - k), Capture: capture}}}
			b, err := rep.AppendBinary(nil)
			if err != nil {
				t.Error(err)
				return nil
			}
			reports.Deliver(b, time.Millisecond)
		}
		back.Inject(probetest.Answer{ICMPv6: p.EchoMessage, From: src, HopLimit: 60, Delay: time.Millisecond,
			RoutingHeader: p.SRH.Contents, HopByHop: fillIOAM(t, hbh, 99)})
		return nil
	})
	mux, err := delay.NewMux(delay.MuxOptions{Sockets: &delay.Sockets{Send: send, Return: back, Reports: reports, ReportPort: 9999}})
	if err != nil {
		t.Fatal(err)
	}
	defer mux.Close()
	p, err := delay.NewShared(context.Background(), mux, oam.Target{Segments: sids, Destination: dst},
		delay.Options{Source: src, Count: 4, Interval: 5 * time.Millisecond, Timeout: time.Second, Linger: time.Second,
			SharedClock: true, IOAM: &tr})
	if err != nil {
		t.Fatal(err)
	}
	if !p.ReportsCarryIOAM() {
		t.Error("ReportsCarryIOAM false for a trace of 6 entries of 4 octets")
	}
	var results []delay.Result
	if _, err := p.Run(context.Background(), func(r delay.Result) { results = append(results, r) }); err != nil {
		t.Fatal(err)
	}
	if len(results) != 4 {
		t.Fatalf("%d results, want 4", len(results))
	}
	for _, r := range results {
		want := [][]uint64{{10}, {10, 11}, {10, 11, 12}, {10, 11, 12, 99}}
		if r.Sequence == 3 {
			if r.Status != collect.StatusLost {
				t.Errorf("seq 3: %v, want lost", r.Status)
			}
			want = want[:2]
		}
		if len(r.IOAM) != len(want) {
			t.Errorf("seq %d: %d traces, want %d: %+v", r.Sequence, len(r.IOAM), len(want), r.IOAM)
			continue
		}
		for i, w := range want {
			got := r.IOAM[i]
			if got.Point != i+1 || got.Err != nil || got.Record == nil {
				t.Errorf("seq %d trace %d: point %d, err %v", r.Sequence, i, got.Point, got.Err)
				continue
			}
			if ids := ioamIDs(got.Record); !equalIDs(ids, w) || got.Record.Namespace != 123 {
				t.Errorf("seq %d at point %d: namespace %d, node ids %v, want 123 and %v", r.Sequence, got.Point, got.Record.Namespace, ids, w)
			}
			if wantNode := uint32(i + 2); i < 3 && got.Node != wantNode {
				t.Errorf("seq %d at point %d: reported by node %d, want %d", r.Sequence, got.Point, got.Node, wantNode)
			}
		}
	}
}

func equalIDs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A trace too large for an agent's capture (255 bytes) is still carried and comes back with
// the probe, but the reports are not asked to capture it.
func TestIOAMTooLargeForReports(t *testing.T) {
	tr, err := ioam.NewTrace(0, ioam.Bits(ioam.BitHopLimitNodeIDWide, ioam.BitInterfacesWide, ioam.BitTimestampSeconds, ioam.BitTimestampFraction), 10)
	if err != nil {
		t.Fatal(err)
	}
	send := probetest.New(nil)
	mux, err := delay.NewMux(delay.MuxOptions{Sockets: &delay.Sockets{Send: send, Return: probetest.New(nil), Reports: probetest.NewReports(), ReportPort: 9999}})
	if err != nil {
		t.Fatal(err)
	}
	defer mux.Close()
	p, err := delay.NewShared(context.Background(), mux, oam.Target{Destination: netip.MustParseAddr("fc00:0:4::b0")},
		delay.Options{Source: netip.MustParseAddr("fc00:0:1::1"), Count: 1, IOAM: &tr})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.ReportsCarryIOAM() {
		t.Errorf("ReportsCarryIOAM true for a %d-octet trace", tr.Len())
	}
}
