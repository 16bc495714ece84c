package trace_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/probes/trace"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// line9 is nine SRv6 nodes in a line, n1 … n9: an 8-hop path from n1 to n9.
func line9(b *testing.B) *testnet.Lab {
	topo := &testnet.Topology{Name: "line9"}
	for i := 1; i <= 9; i++ {
		name := fmt.Sprintf("n%d", i)
		topo.Nodes = append(topo.Nodes, testnet.Node{
			Name:      name,
			Loopbacks: []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("fc00:0:%d::1/128", i))},
			Locator:   netip.MustParsePrefix(fmt.Sprintf("fc00:0:%d::/48", i)),
			SIDs:      []testnet.SID{{Addr: netip.MustParseAddr(fmt.Sprintf("fc00:0:%d::e", i)), Behavior: testnet.End}},
		})
		if i > 1 {
			topo.Links = append(topo.Links, testnet.Link{A: fmt.Sprintf("n%d", i-1), B: name})
		}
	}
	if err := topo.Validate(); err != nil {
		b.Fatal(err)
	}
	lab := labtest.UpTopology(b, topo)
	unlimitICMP(b, lab)
	return lab
}

// BenchmarkTrace8Hops is the wall time of one srv6-trace run (engine, no process start) over 8
// hops with 3 probes per hop, through an End SID half way (n1 → n5 End → n9).
func BenchmarkTrace8Hops(b *testing.B) {
	lab := line9(b)
	tgt := target("fc00:0:9::1", "fc00:0:5::e")
	warmUp(b, lab, "n1", tgt)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rep := traceIn(b, lab, "n1", tgt, trace.Options{Queries: 3, Wait: 2 * time.Second})
		if !rep.Reached || len(rep.Hops) != 8 || !allAnswered(rep.Hops) {
			b.Fatalf("trace: reached=%v, %d hops %v", rep.Reached, len(rep.Hops), hopAddrs(rep.Hops))
		}
	}
}

// BenchmarkSrv6TraceCLI8Hops is the same trace as a user runs it: the srv6-trace process, -n.
func BenchmarkSrv6TraceCLI8Hops(b *testing.B) {
	lab := line9(b)
	tgt := target("fc00:0:9::1", "fc00:0:5::e")
	warmUp(b, lab, "n1", tgt)
	srv6Trace(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if out, code := cli(b, lab, "n1", "-n", "-q", "3", "--segs", "fc00:0:5::e", "fc00:0:9::1"); code != 0 {
			b.Fatalf("srv6-trace: exit %d\n%s", code, out)
		}
	}
}

// BenchmarkTraceroute8Hops is Debian's traceroute -6 -n -q 3 over the same 8 hops (plain
// routing: traceroute cannot follow a segment list), for the ratio in docs/performance.md.
func BenchmarkTraceroute8Hops(b *testing.B) {
	lab := line9(b)
	warmUp(b, lab, "n1", target("fc00:0:9::1"))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := lab.Output(ctx, "n1", "traceroute", "-6", "-n", "-q", "3", "fc00:0:9::1")
		cancel()
		if err != nil || len(hopsOf(string(out))) != 8 {
			b.Fatalf("traceroute -6: %v\n%s", err, out)
		}
	}
}
