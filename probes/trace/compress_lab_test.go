package trace_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/trace"
	"github.com/srv6oam/srv6oam/testnet"
)

// enableSeg6 turns on SRH processing in node (the labs' hosts are plain IPv6): loop-back probes
// come back to the prober with an SRH.
func enableSeg6(t *testing.T, lab *testnet.Lab, node string) {
	t.Helper()
	if err := lab.Exec(node, func() error {
		for _, ifc := range []string{"all", "default"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+ifc+"/seg6_enabled", []byte("1"), 0o644); err != nil {
				return err
			}
		}
		dir, err := os.ReadDir("/proc/sys/net/ipv6/conf")
		if err != nil {
			return err
		}
		for _, d := range dir {
			if strings.HasPrefix(d.Name(), "to-") {
				if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+d.Name()+"/seg6_enabled", []byte("1"), 0o644); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func perSegmentIn(t *testing.T, lab *testnet.Lab, node string, tgt oam.Target, opts trace.Options) []trace.SegmentStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var status []trace.SegmentStatus
	if err := lab.Exec(node, func() (err error) {
		status, _, err = trace.PerSegment(ctx, tgt, opts)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return status
}

// The uSID L3VPN of the kernel's NEXT-C-SID selftest (the csid lab): from hs1, one container
// fcbb:0:0400:0300:0200:d46::, H.Encaps.Red (no SRH), decapsulated by rt2's End.DT6 into the
// VPN's table. srv6-trace must show each uSID as a SID hop of its own (rt4 consumed 0400, rt3
// 0300), reach cafe::2 through rt2; --per-segment must treat every C-SID as a segment, the
// decapsulating one probed with an echo through the whole container, all alive; --ecmp must
// find the one branch there is.
func TestTraceUSIDContainer(t *testing.T) {
	lab := up(t, "csid", true)
	enableSeg6(t, lab, "hs1")
	container := mustAddr("fcbb:0:400:300:200:d46::")
	tgt := oam.Target{Segments: oam.SegmentList{container}, Destination: mustAddr("cafe::2"), Decap: true}
	opts := trace.Options{Encoding: probes.EncapRed, Structure: oam.USID, Queries: 2, Wait: time.Second}
	warmUp(t, lab, "hs1", tgt)
	rep := traceIn(t, lab, "hs1", tgt, opts)
	if !rep.Reached || len(rep.Hops) != 4 {
		t.Fatalf("%d hops, reached %v: %+v", len(rep.Hops), rep.Reached, rep.Hops)
	}
	rt4 := mustAddr("fc00:0:4::1") // routers answer from their loopback
	for i, want := range []struct {
		csid  int
		value uint64
	}{{-1, 0}, {0, 0x400}, {1, 0x300}} {
		h := rep.Hops[i]
		if want.csid < 0 {
			if h.SID {
				t.Errorf("hop %d: SID %+v, want none (rt1 only forwards)", i+1, h)
			}
			continue
		}
		if !h.SID || h.SIDAddr != container || h.CSID != want.csid || h.CSIDValue != want.value {
			t.Errorf("hop %d: SID %v %v C-SID %d (%x), want uSID %x of the container", i+1, h.SID, h.SIDAddr, h.CSID, h.CSIDValue, want.value)
		}
	}
	if rs := rep.Hops[1].Responders(); len(rs) == 0 || rs[0] != rt4 {
		t.Errorf("hop 2 answered by %v, want rt4", rs)
	}
	if !rep.Hops[3].Destination {
		t.Errorf("hop 4: %+v, want cafe::2", rep.Hops[3])
	}

	status := perSegmentIn(t, lab, "hs1", tgt, opts)
	if len(status) != 4 {
		t.Fatalf("%d segments, want one per C-SID (4): %+v", len(status), status)
	}
	for i, s := range status {
		want := []uint64{0x400, 0x300, 0x200, 0xd46}[i]
		if s.CSID != i || s.CSIDValue != want || !s.Alive || s.Loop != (i < 3) {
			t.Errorf("segment 1.%d: C-SID %d (%x) alive %v loop %v error %q; want C-SID %x alive, loop %v", i+1, s.CSID, s.CSIDValue, s.Alive, s.Loop, s.Error, want, i < 3)
		}
	}

	opts.ECMP, opts.Queries = true, 1
	rep = traceIn(t, lab, "hs1", tgt, opts)
	if len(rep.Branches) != 1 || !rep.Reached {
		t.Errorf("--ecmp: %d branches, reached %v; want the lab's one", len(rep.Branches), rep.Reached)
	}
}

// The H.Encaps.Red L3VPN of the kernel's selftest (the hencapred lab), with the kernel's ICMPv6
// rate limit on (1000 ms, burst 6): hs1 → cafe::2 through fcff:3::e, fcff:4::e and rt2's
// decapsulating fcff:2::d46, a reduced SRH of two. Every SID hop is named with its Segments
// Left; --ecmp finds exactly one branch; and a trace that ends at the decapsulating SID itself,
// whose table has no route for it, says so instead of a bare !N.
func TestTraceReducedEncapsulation(t *testing.T) {
	lab := up(t, "hencapred", false)
	tgt := oam.Target{Segments: oam.SegmentList{mustAddr("fcff:3::e"), mustAddr("fcff:4::e"), mustAddr("fcff:2::d46")},
		Destination: mustAddr("cafe::2"), Decap: true}
	opts := trace.Options{Encoding: probes.EncapRed, Queries: 3, Wait: 2 * time.Second}
	warmUp(t, lab, "hs1", tgt)
	time.Sleep(6 * time.Second) // the warm-up's errors spent the routers' ICMPv6 burst: let it refill
	rep := traceIn(t, lab, "hs1", tgt, opts)
	if !rep.Reached || len(rep.Hops) != 4 {
		t.Fatalf("%d hops, reached %v", len(rep.Hops), rep.Reached)
	}
	for i, want := range []struct {
		sid      string
		from, to int
	}{{"", 0, 0}, {"fcff:3::e", 2, 1}, {"fcff:4::e", 1, 0}} {
		h := rep.Hops[i]
		if h.SID != (want.sid != "") || (h.SID && (h.SIDAddr != mustAddr(want.sid) || h.SLBefore != want.from || h.SLAfter != want.to)) {
			t.Errorf("hop %d: SID %v %v SL %d→%d, want %q %d→%d", i+1, h.SID, h.SIDAddr, h.SLBefore, h.SLAfter, want.sid, want.from, want.to)
		}
		for _, p := range h.Probes {
			if !p.Answered {
				t.Errorf("hop %d: a probe unanswered: the rate limit must not cost a hop its answers", i+1)
			}
		}
	}

	time.Sleep(6 * time.Second)
	e := opts
	e.ECMP, e.Queries = true, 1
	rep = traceIn(t, lab, "hs1", tgt, e)
	if len(rep.Branches) != 1 {
		t.Errorf("--ecmp with the rate limit on: %d branches, want 1 (silence is not a branch)", len(rep.Branches))
	}

	// The decapsulating SID as the final segment: rt2 decapsulates, the inner packet for
	// fcff:2::d46 finds no route in the VPN table.
	time.Sleep(6 * time.Second)
	dt := oam.Target{Segments: oam.SegmentList{mustAddr("fcff:3::e"), mustAddr("fcff:4::e")}, Destination: mustAddr("fcff:2::d46")}
	rep = traceIn(t, lab, "hs1", dt, trace.Options{Encoding: probes.Encap, Queries: 3, Wait: 2 * time.Second})
	last := rep.Hops[len(rep.Hops)-1]
	if !last.Decapsulated || last.DecapSID != mustAddr("fcff:2::d46") || last.Decap != mustAddr("fcff:2::d46") {
		t.Errorf("last hop %+v: want decapsulated by fcff:2::d46, the inner packet to fcff:2::d46", last)
	}
	errs := 0
	for _, p := range last.Probes {
		if p.Answered && p.Error == "Destination unreachable: No route" {
			errs++
		}
	}
	if errs != 3 {
		t.Errorf("last hop: %d of 3 probes answered !N, want 3 (!N !N !N, as traceroute)", errs)
	}
}

// PSP and H.Insert (the flavors lab): hs1 → cafe::2 with the SRH inserted, through End
// fcff:3::e, PSP fcff:4::ef1 (arrives with SL 2: plain End) and PSP fcff:2::ef1 (SL 1: pops).
// The trace names each SID and the hop where the SRH left the probe.
func TestTracePSP(t *testing.T) {
	lab := up(t, "flavors", true)
	tgt := oam.Target{Segments: oam.SegmentList{mustAddr("fcff:3::e"), mustAddr("fcff:4::ef1"), mustAddr("fcff:2::ef1")},
		Destination: mustAddr("cafe::2")}
	opts := trace.Options{Encoding: probes.Insert, Queries: 2, Wait: time.Second}
	warmUpWith(t, lab, "hs1", tgt, opts)
	rep := traceIn(t, lab, "hs1", tgt, opts)
	if !rep.Reached || len(rep.Hops) != 5 {
		t.Fatalf("%d hops, reached %v", len(rep.Hops), rep.Reached)
	}
	for i, want := range []struct {
		sid    string
		popped bool
	}{{"", false}, {"fcff:3::e", false}, {"fcff:4::ef1", false}, {"fcff:2::ef1", true}} {
		h := rep.Hops[i]
		if h.SID != (want.sid != "") || (h.SID && h.SIDAddr != mustAddr(want.sid)) || h.Popped != want.popped {
			t.Errorf("hop %d: SID %v %v popped %v, want %q popped %v", i+1, h.SID, h.SIDAddr, h.Popped, want.sid, want.popped)
		}
	}
}
