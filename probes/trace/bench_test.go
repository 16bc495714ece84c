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

// silence makes r2 and r3, the diamond's middle routers, drop their ICMPv6 Time Exceeded
// (on) or send them again (off): hop 2 of h1 → h2 then never answers, whichever branch a
// probe takes.
func silence(b *testing.B, lab *testnet.Lab, on bool) {
	b.Helper()
	for _, n := range []string{"r2", "r3"} {
		_, _ = lab.Output(context.Background(), n, "nft", "delete", "table", "ip6", "silent")
		if !on {
			continue
		}
		for _, args := range [][]string{{"add", "table", "ip6", "silent"},
			{"add", "chain", "ip6", "silent", "out", "{ type filter hook output priority 0 ; }"},
			{"add", "rule", "ip6", "silent", "out", "icmpv6", "type", "time-exceeded", "drop"}} {
			if out, err := lab.Output(context.Background(), n, "nft", args...); err != nil {
				b.Fatalf("%s: nft %v: %v %s", n, args, err, out)
			}
		}
	}
}

// BenchmarkSilentHopVsTraceroute is the wall time of a 4-hop trace of the diamond (h1 → r1 →
// r2 or r3 → r4 → h2) as users run each tool, -n -q 3 and their default waits (srv6-trace -w
// 2,3,10, traceroute -w 5,3,10), on a clean path and with hop 2 silent (Time Exceeded dropped
// at both middle routers): the processes started in h1, side by side in one run; "engine" is
// srv6-trace's trace without a process (what the tool's own waiting costs).
func BenchmarkSilentHopVsTraceroute(b *testing.B) {
	lab := labtest.Up(b, "diamond")
	unlimitICMP(b, lab)
	warmUp(b, lab, "h1", target("fc00:0:6::1"))
	srv6Trace(b)
	for _, path := range []string{"clean", "silent"} {
		for _, tool := range []string{"engine", "srv6-trace", "traceroute"} {
			b.Run(path+"/"+tool, func(b *testing.B) {
				silence(b, lab, path == "silent")
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					var out string
					var err error
					if tool == "engine" {
						// The same trace without a process: trace.New and Run in this one.
						rep := traceIn(b, lab, "h1", target("fc00:0:6::1"), trace.Options{Queries: 3})
						if !rep.Reached || len(rep.Hops) != 4 || (path == "silent") != (len(rep.Hops[1].Responders()) == 0) {
							b.Fatalf("engine: reached %v, hops %v", rep.Reached, hopAddrs(rep.Hops))
						}
						continue
					}
					if tool == "srv6-trace" {
						var code int
						if out, code = cli(b, lab, "h1", "-n", "-q", "3", "fc00:0:6::1"); code != 0 {
							err = fmt.Errorf("exit %d", code)
						}
					} else {
						ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
						var o []byte
						o, err = lab.Output(ctx, "h1", "traceroute", "-6", "-n", "-q", "3", "fc00:0:6::1")
						cancel()
						out = string(o)
					}
					hops := hopsOf(out)
					if err != nil || len(hops) != 4 || (path == "silent") != (hops[1] == "*") {
						b.Fatalf("%s: %v, hops %v\n%s", tool, err, hops, out)
					}
				}
			})
		}
	}
}
