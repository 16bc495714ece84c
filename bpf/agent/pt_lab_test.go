package agent_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/bpf/agent"
	"github.com/srv6oam/srv6oam/bpf/agent/agenttest"
	"github.com/srv6oam/srv6oam/bpf/bpftest"
	"github.com/srv6oam/srv6oam/oam/pt"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// ptProbe is a packet from h1 to h2 with a Hop-by-Hop PT option of 12 MCDs.
func ptProbe(t *testing.T, flow uint32) []byte {
	t.Helper()
	o, _ := pt.NewOption(pt.DefaultMCDs)
	hbh, err := pt.AppendHopByHop(nil, 43, &o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{h2Addr}, FlowLabel: flow,
		Before: []bpftest.ExtHeader{{Type: 0, Bytes: hbh}}}.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAgentPathTracing: an agent configured with a Path Tracing interface only (no SID) puts
// r1's MCD on PT probes towards r2, with a load that follows the traffic it measures (a few
// probes a second against a rate of 1 kbit/s: full), and takes the midpoint away when it stops.
func TestAgentPathTracing(t *testing.T) {
	lab := labtest.Up(t, "line4")
	cfg := agent.Config{PathTracing: []agent.PTConfig{{Device: "to-r2", ID: 0x12, Template: 4, Rate: 1000}}}
	a, stop := agenttest.Start(t, lab, "r1", cfg)
	c, err := bpftest.Listen(lab, "h2", "to-r2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	// The first probe: r1's MCD, interface 0x12, before the meter has measured anything.
	hop := func(flow uint32) (pt.MCD, bool) {
		t.Helper()
		if err := bpftest.Send(lab, "h1", ptProbe(t, flow)); err != nil {
			t.Fatal(err)
		}
		got, _, err := c.Next(flow, 3*time.Second)
		if err != nil {
			t.Fatalf("flow %#x: %v", flow, err)
		}
		o, ok, err := pt.FindOption(got[40:])
		if err != nil || !ok {
			t.Fatalf("flow %#x: PT option: %v %v", flow, ok, err)
		}
		hops, _ := o.Hops()
		if len(hops) > 1 {
			t.Fatalf("flow %#x: MCDs %+v, want r1's at most", flow, hops)
		}
		if len(hops) == 0 {
			return pt.MCD{}, false
		}
		return hops[0], true
	}
	first, ok := hop(0x100)
	if !ok || first.Interface != 0x12 {
		t.Fatalf("first probe: MCD %+v (%v), want r1's interface 0x12", first, ok)
	}
	// Probes every 50 ms: ~20 kbit/s through r1's to-r2 on an idle machine, and still over the
	// configured 1 kbit/s at one probe a second on a loaded one. The meter reads the counters
	// each second; within 15 s the load must show it.
	deadline := time.Now().Add(15 * time.Second)
	var m pt.MCD
	for flow := uint32(0x101); time.Now().Before(deadline); flow++ {
		if m, _ = hop(flow); m.Load > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m.Interface != 0x12 || m.Load != pt.MaxLoad {
		t.Errorf("under load: MCD %+v, want interface 0x12 at load %d", m, pt.MaxLoad)
	}
	counters, err := a.PTCounters()
	if err != nil || counters["to-r2"].Probes < 2 || counters["to-r2"].Malformed != 0 {
		t.Errorf("counters %+v, %v", counters, err)
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if m, ok := hop(0x1ff); ok {
		t.Errorf("after the agent stopped, r1 still pushed %+v", m)
	}
}
