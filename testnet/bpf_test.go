package testnet_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// seg6Program loads an lwt_seg6local program that only returns ret
// (0 BPF_OK: carry on as End; 2 BPF_DROP).
func seg6Program(t *testing.T, ret int32) *ebpf.Program {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "end_test",
		Type:         ebpf.LWTSeg6Local,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, ret), asm.Return()},
	})
	if err != nil {
		t.Fatalf("load lwt_seg6local program (needs CAP_BPF, CONFIG_IPV6_SEG6_BPF): %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	return prog
}

// TestEndBPF binds End.BPF SIDs with caller-supplied programs, one from the
// topology (WithProgram) and one at run time (AddSID), and shows by the
// programs' verdicts that the kernel runs them: BPF_OK forwards, BPF_DROP
// drops.
func TestEndBPF(t *testing.T) {
	topo, err := testnet.Load("line4")
	if err != nil {
		t.Fatal(err)
	}
	h1, r1, h2 := topo.Node("h1"), topo.Node("r1"), topo.Node("h2")
	r1.SIDs = append(r1.SIDs, testnet.SID{Addr: netip.MustParseAddr("fc00:0:2::b0"), Behavior: testnet.EndBPF, Program: "pass"})
	for _, p := range []struct{ to, sid string }{{"fc00:0:4::200/128", "fc00:0:2::b0"}, {"fc00:0:4::201/128", "fc00:0:2::b1"}} {
		h2.Loopbacks = append(h2.Loopbacks, netip.PrefixFrom(netip.MustParsePrefix(p.to).Addr(), 128))
		h1.Policies = append(h1.Policies, testnet.Policy{To: netip.MustParsePrefix(p.to), Mode: testnet.Encap,
			Segments: []netip.Addr{netip.MustParseAddr(p.sid), netip.MustParseAddr("fc00:0:3::d6")}})
	}
	if labtestNotRoot(t) {
		return
	}
	pass, drop := seg6Program(t, 0), seg6Program(t, 2)
	lab := labtest.UpTopology(t, topo, testnet.WithProgram("pass", pass.FD()))
	if err := lab.AddSID("r1", testnet.SID{Addr: netip.MustParseAddr("fc00:0:2::b1"), Behavior: testnet.EndBPF}, drop.FD()); err != nil {
		t.Fatal(err)
	}
	ping6(t, lab, "h1", netip.MustParseAddr("fc00:0:4::200"), 3) // through BPF_OK
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := lab.Output(ctx, "h1", "ping", "-6", "-n", "-q", "-c", "3", "-i", "0.05", "-W", "1", "fc00:0:4::201")
	if err == nil {
		t.Fatalf("ping through the BPF_DROP SID got replies:\n%s", out)
	}
	if err := lab.DelSID("r1", netip.MustParseAddr("fc00:0:2::b1")); err != nil {
		t.Fatal(err)
	}
	if err := lab.AddSID("r1", testnet.SID{Addr: netip.MustParseAddr("fc00:0:2::b1"), Behavior: testnet.EndBPF}, pass.FD()); err != nil {
		t.Fatal(err)
	}
	ping6(t, lab, "h1", netip.MustParseAddr("fc00:0:4::201"), 3) // same SID, now BPF_OK
}

// labtestNotRoot lets labtest decide (fail under CI, skip otherwise) before
// loading programs, which also needs root.
func labtestNotRoot(t *testing.T) bool {
	t.Helper()
	labtest.Require(t, "network namespaces and BPF programs")
	return false
}
