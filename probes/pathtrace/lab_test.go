package pathtrace_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/bpf"
	"github.com/srv6oam/srv6oam/bpf/bpftest"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/oam/pt"
	"github.com/srv6oam/srv6oam/probes/pathtrace"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// midpoints attaches a PT midpoint to each node's interface with the given id.
func midpoints(t *testing.T, lab *testnet.Lab, tmpl pt.Template, ids map[[2]string]uint16) {
	t.Helper()
	for where, id := range ids {
		var m *bpf.PTMidpoint
		err := lab.Exec(where[0], func() error {
			ifc, err := net.InterfaceByName(where[1])
			if err != nil {
				return err
			}
			m, err = bpf.AttachPT(ifc.Index, bpf.PTOptions{InterfaceID: id, Template: tmpl})
			return err
		})
		if err != nil {
			t.Fatalf("%s %s: %v", where[0], where[1], err)
		}
		t.Cleanup(func() { m.Close() })
	}
}

// trace runs pathtrace.Probe from node.
func trace(t *testing.T, lab *testnet.Lab, node string, target oam.Target, opts pathtrace.Options) ([]pathtrace.Result, pathtrace.Summary) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var results []pathtrace.Result
	var sum pathtrace.Summary
	err := lab.Exec(node, func() (err error) {
		sum, err = pathtrace.Probe(ctx, target, opts, func(r pathtrace.Result) { results = append(results, r) })
		return err
	})
	if err != nil {
		t.Fatalf("path tracing from %s: %v", node, err)
	}
	return results, sum
}

// TestLine4RoundTrip: probes from h1 through r1's and r2's End SIDs to h2's and back come home
// with the five midpoints they left by, in order (r1 → r2, r2 → h2, h2 → r2, r2 → r1, r1 → h1),
// each hop's time within the probe's window, and the delays adding up to no more than the
// round trip.
func TestLine4RoundTrip(t *testing.T) {
	lab := labtest.Up(t, "line4")
	midpoints(t, lab, pt.Template4, map[[2]string]uint16{
		{"r1", "to-r2"}: 0x12, {"r2", "to-h2"}: 0x23, {"h2", "to-r2"}: 0x42, {"r2", "to-r1"}: 0x21, {"r1", "to-h1"}: 0x11,
	})
	target := oam.Target{Segments: oam.SegmentList{netip.MustParseAddr("fc00:0:2::e"), netip.MustParseAddr("fc00:0:3::e")},
		Destination: netip.MustParseAddr("fc00:0:4::e")}
	results, sum := trace(t, lab, "h1", target, pathtrace.Options{Count: 3, Interval: 50 * time.Millisecond, Timeout: 5 * time.Second, Template: pt.Template4})
	if sum.Sent != 3 || len(results) != 3 {
		t.Fatalf("summary %+v, %d results", sum, len(results))
	}
	if len(sum.Paths) != 1 || sum.Paths["0x12>0x23>0x42>0x21>0x11"] != 3 {
		t.Errorf("paths %v, want every probe by 0x12>0x23>0x42>0x21>0x11", sum.Paths)
	}
	for _, r := range results {
		if r.Lost || r.Err != nil || r.Full {
			t.Errorf("probe %d: lost %v, err %v, full %v", r.Seq, r.Lost, r.Err, r.Full)
			continue
		}
		var total time.Duration
		for i, h := range r.Hops {
			if h.Candidates == 0 {
				t.Errorf("probe %d hop %d: TTS %#x outside the window %v..%v", r.Seq, i, h.TTS, r.Sent, r.Received)
			}
			if h.DelayKnown {
				// TTS gives the start of a 1.05 ms unit: a hop may read up to one unit early.
				if h.Delay < -pt.Template4.Resolution() {
					t.Errorf("probe %d hop %d: delay %v, before the hop it follows", r.Seq, i, h.Delay)
				}
				total += h.Delay
			}
		}
		if total > r.RTT+pt.Template4.Resolution() {
			t.Errorf("probe %d: hop delays add up to %v, more than the round trip %v", r.Seq, total, r.RTT)
		}
	}
}

// TestDiamondNamesTheBranch: through the diamond, each probe's MCDs say which branch it took out
// (r1's interface towards r2 or r3) and back (r4's): the same branches as captures on r2 and r3
// saw it take, probe by probe, for flows that differ only in flow label.
func TestDiamondNamesTheBranch(t *testing.T) {
	lab := labtest.Up(t, "diamond")
	midpoints(t, lab, pt.Template4, map[[2]string]uint16{
		{"r1", "to-r2"}: 0x12, {"r1", "to-r3"}: 0x13, {"r4", "to-r2"}: 0x42, {"r4", "to-r3"}: 0x43,
	})
	// Captures are ingress only: on the branch routers' interfaces from r1 they see the
	// probes going out, on those from r4 the probes coming back.
	capture := map[string]*bpftest.Capture{}
	for _, w := range [][2]string{{"r2", "to-r1"}, {"r3", "to-r1"}, {"r2", "to-r4"}, {"r3", "to-r4"}} {
		c, err := bpftest.Listen(lab, w[0], w[1])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		capture[w[0]+" "+w[1]] = c
	}
	target := oam.Target{Destination: netip.MustParseAddr("fc00:0:6::e")}
	seen := func(where string, flow uint32) bool {
		_, _, err := capture[where].Next(flow, 300*time.Millisecond)
		if err != nil && !errors.Is(err, bpftest.ErrTimeout) {
			t.Fatal(err)
		}
		return err == nil
	}
	branches := map[string]int{}
	for flow := uint32(0x501); flow <= 0x508; flow++ {
		results, _ := trace(t, lab, "h1", target, pathtrace.Options{Count: 1, Timeout: 5 * time.Second, Template: pt.Template4, FlowLabel: flow})
		if len(results) != 1 || results[0].Lost || results[0].Err != nil || len(results[0].Hops) != 2 {
			t.Errorf("flow %#x: %+v", flow, results)
			continue
		}
		out, back := results[0].Hops[0].Interface, results[0].Hops[1].Interface
		outR2, outR3 := seen("r2 to-r1", flow), seen("r3 to-r1", flow)
		backR2, backR3 := seen("r2 to-r4", flow), seen("r3 to-r4", flow)
		switch {
		case out == 0x12 && outR2 && !outR3, out == 0x13 && outR3 && !outR2:
		default:
			t.Errorf("flow %#x: out by interface %#x; captured at r2 %v, at r3 %v", flow, out, outR2, outR3)
		}
		switch {
		case back == 0x42 && backR2 && !backR3, back == 0x43 && backR3 && !backR2:
		default:
			t.Errorf("flow %#x: back by interface %#x; captured at r2 %v, at r3 %v", flow, back, backR2, backR3)
		}
		branches[results[0].PathKey()]++
	}
	t.Logf("paths of 8 flows: %v", branches)
}

// TestIOAMAcrossDelayLink: IOAM loop-back probes (srv6-ping --ioam's engine) through wan10 with
// a 5 ms delay link between r1 and r2. For every probe the link's own record of the frame (the
// relay's, matched by r1's IOAM entry in the frame it carried) agrees with what IOAM says: r1
// received the probe before the link took it, r2 after the link handed it over, and the
// IOAM delay from r1 to r2 holds at least the delay the link applied. One clock for all.
func TestIOAMAcrossDelayLink(t *testing.T) {
	topo, err := testnet.Load("wan10")
	if err != nil {
		t.Fatal(err)
	}
	const delay = 5 * time.Millisecond
	found := false
	for i := range topo.Links {
		if l := &topo.Links[i]; (l.A == "r1" && l.B == "r2") || (l.A == "r2" && l.B == "r1") {
			l.Delay, found = delay, true
		}
	}
	if !found {
		t.Fatal("wan10 has no r1-r2 link")
	}
	lab := labtest.UpTopology(t, topo)
	tr, err := ioam.NewTrace(0, ioam.Bits(ioam.BitHopLimitNodeID, ioam.BitInterfaces, ioam.BitTimestampSeconds, ioam.BitTimestampFraction), 12)
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := uint64(topo.Node("r1").IOAM.NodeID), uint64(topo.Node("r2").IOAM.NodeID)
	target := oam.Target{Segments: oam.SegmentList{netip.MustParseAddr("fc00:0:3::e")}, Destination: netip.MustParseAddr("fc00:0:8::e")}
	results, _ := trace(t, lab, "h1", target, pathtrace.Options{IOAM: &tr, Count: 5, Interval: 100 * time.Millisecond, Timeout: 5 * time.Second, FlowLabel: 0x777})
	recs, err := lab.DelayRecords("r1", "r2")
	if err != nil {
		t.Fatal(err)
	}
	matched := 0
	for _, r := range results {
		if r.Lost || r.Err != nil || r.IOAM == nil || len(r.IOAM.Entries) < 2 {
			t.Errorf("probe %d: lost %v, err %v, %v", r.Seq, r.Lost, r.Err, r.IOAM)
			continue
		}
		e1, e2 := r.IOAM.Entries[0], r.IOAM.Entries[1]
		if e1.NodeID != r1 || e2.NodeID != r2 {
			t.Errorf("probe %d: first entries of nodes %d, %d; want r1 (%d), r2 (%d)", r.Seq, e1.NodeID, e2.NodeID, r1, r2)
			continue
		}
		for _, rec := range recs {
			b := rec.Packet()
			if len(b) < 48 || b[6] != 0 {
				continue
			}
			seen, ok, err := ioam.FindTrace(b[40:])
			if err != nil || !ok {
				continue
			}
			es, err := seen.Entries()
			if err != nil || len(es) != 1 || es[0].NodeID != r1 || !es[0].Time().Equal(e1.Time()) {
				continue
			}
			matched++
			hop := e2.Time().Sub(e1.Time())
			if e1.Time().After(rec.Received) {
				t.Errorf("probe %d: r1 received it at %v, after the link took it at %v", r.Seq, e1.Time(), rec.Received)
			}
			if e2.Time().Add(time.Microsecond).Before(rec.Sent) {
				t.Errorf("probe %d: r2 received it at %v, before the link handed it over at %v", r.Seq, e2.Time(), rec.Sent)
			}
			if hop+time.Microsecond < rec.Applied {
				t.Errorf("probe %d: IOAM delay r1→r2 %v, less than the %v the link applied", r.Seq, hop, rec.Applied)
			}
			t.Logf("probe %d: IOAM r1→r2 %v, link applied %v (configured %v), the rest in r1 and r2: %v", r.Seq, hop, rec.Applied, delay, hop-rec.Applied)
			break
		}
	}
	if matched != len(results) {
		t.Errorf("%d of %d probes found in the link's records", matched, len(results))
	}
}
