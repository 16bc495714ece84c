package agent_test

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/bpf/bpftest"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// TestAgentAmplification floods r1's End.OAM SID from h1 with the smallest probes End.OAM
// stamps (no slots, no payload: 120 bytes of IPv6), each naming another report port, with every
// flag combination a prober can set, and measures on r1 the bytes of the probes that came in
// from h1 and of the reports the agent sent back (nftables counters on r1's link to h1: IPv6
// packets with a routing header in, UDP out; the forwarded probes leave on the other link). The
// budget is set high so that every probe is reported: the worst case. For a collector not
// trusted with captures and next hops the factor must not exceed 1.0, whatever the flags; a
// trusted one may receive more (its operator chose to). The figures go to docs/security.md.
func TestAgentAmplification(t *testing.T) {
	lab := labtest.Up(t, "line4")
	nft := func(node string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := lab.Output(ctx, node, "nft", args...)
		if err != nil {
			t.Fatalf("nft %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// The reports go to ports nobody listens on; h1 drops them before UDP would answer with
	// port unreachable.
	nft("h1", "add", "table", "ip6", "amp")
	nft("h1", "add", "chain", "ip6", "amp", "in", "{ type filter hook input priority 0 ; }")
	nft("h1", "add", "rule", "ip6", "amp", "in", "udp", "dport", "20000-29999", "drop")
	ifc, err := lab.Interface("r1", "h1")
	if err != nil {
		t.Fatal(err)
	}
	nft("r1", "add", "table", "ip6", "amp")
	nft("r1", "add", "chain", "ip6", "amp", "pre", "{ type filter hook prerouting priority 0 ; }")
	nft("r1", "add", "chain", "ip6", "amp", "post", "{ type filter hook postrouting priority 0 ; }")
	nft("r1", "add", "rule", "ip6", "amp", "pre", "iifname", ifc.Name, "ip6", "nexthdr", "43", "counter")
	nft("r1", "add", "rule", "ip6", "amp", "post", "oifname", ifc.Name, "meta", "l4proto", "udp", "counter")
	counterRE := regexp.MustCompile(`counter packets \d+ bytes (\d+)`)
	counters := func() (in, out uint64) {
		t.Helper()
		m := counterRE.FindAllStringSubmatch(nft("r1", "list", "table", "ip6", "amp"), -1)
		if len(m) != 2 {
			t.Fatalf("r1's counters: %v", m)
		}
		in, _ = strconv.ParseUint(m[0][1], 10, 64)
		out, _ = strconv.ParseUint(m[1][1], 10, 64)
		return in, out
	}
	const probesPerCase = 2000
	type result struct {
		flags   string
		trusted bool
		in, out uint64
		reports uint64
	}
	var results []result
	for _, trusted := range []bool{false, true} {
		cfg := r1Config()
		cfg.ReportRate, cfg.ReportRateTotal = 1e6, 1e6
		if trusted {
			cfg.TrustedCollectors = []string{"fc00:0:1::/48"}
		}
		a, stop := startAgent(t, lab, cfg)
		for _, c := range []struct {
			name  string
			flags uint8
		}{
			{"R", srh.ProbeReport},
			{"R+C", srh.ProbeReport | srh.ProbeCapture},
			{"R+N", srh.ProbeReport | srh.ProbeNextHops},
			{"R+C+N", srh.ProbeReport | srh.ProbeCapture | srh.ProbeNextHops},
		} {
			before := a.Stats().ReportsSent.Load()
			in0, out0 := counters()
			floodProbes(t, lab, probesPerCase, c.flags)
			// The agent sends within 10 ms of a probe; wait until it has nothing more to say.
			last := a.Stats().ReportsSent.Load()
			for range 100 {
				time.Sleep(50 * time.Millisecond)
				n := a.Stats().ReportsSent.Load()
				if n == last && n > before {
					break
				}
				last = n
			}
			in1, out1 := counters()
			results = append(results, result{c.name, trusted, in1 - in0, out1 - out0, a.Stats().ReportsSent.Load() - before})
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| flags | collector | probes in (IPv6 bytes) | reports out (IPv6 bytes) | reports | out / in |\n|---|---|---|---|---|---|\n")
	for _, r := range results {
		who := "not trusted"
		if r.trusted {
			who = "trusted"
		}
		ratio := float64(r.out) / float64(r.in)
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %.3f |\n", r.flags, who, r.in, r.out, r.reports, ratio)
		if r.reports < probesPerCase*9/10 {
			t.Errorf("%s, %s: %d reports for %d probes: the flood was not reported, the figure means nothing", r.flags, who, r.reports, probesPerCase)
		}
		if !r.trusted && ratio > 1.0 {
			t.Errorf("%s to a collector not trusted: amplification %.3f, want at most 1.0", r.flags, ratio)
		}
	}
	t.Log(b.String())
}

// floodProbes sends n minimal probes (IPv6 + SRH of two segments + Probe TLV) from h1 through
// r1's End.OAM SID to h2, each asking for a report to h1 on another port.
func floodProbes(t *testing.T, lab *testnet.Lab, n int, flags uint8) {
	t.Helper()
	pkts := make([][]byte, n)
	for i := range pkts {
		p := bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{r1SID, h2Addr}, FlowLabel: 0xf0000 + uint32(i),
			Probe: &srh.Probe{Flags: flags, Session: 0xf100d, Sequence: uint32(i), TxTimestamp: uint64(probes.TAINow()),
				ReportTo: h1Addr, ReportPort: uint16(20000 + i), CaptureLen: 255}}
		b, err := p.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		pkts[i] = b
	}
	err := bpftest.SendAll(lab, "h1", pkts)
	if err != nil {
		t.Fatal(err)
	}
}
