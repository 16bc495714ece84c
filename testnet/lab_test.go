package testnet_test

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// ping6 sends count echo requests from node to dst with iputils ping and
// fails the test unless every one is answered.
func ping6(t *testing.T, lab *testnet.Lab, node string, dst netip.Addr, count int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := lab.Output(ctx, node, "ping", "-6", "-n", "-q", "-c", fmt.Sprint(count), "-i", "0.01", "-W", "2", dst.String())
	if err != nil {
		t.Fatalf("ping from %s to %s: %v\n%s", node, dst, err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("%d received", count)) {
		t.Fatalf("ping from %s to %s lost packets:\n%s", node, dst, out)
	}
}

// allLoopbacks pings every loopback of the lab from every node, but for VPN
// sites (the neighbours of a node's tables), which reach only what their
// policies steer (TestSelftestModels covers them).
func allLoopbacks(t *testing.T, lab *testnet.Lab) {
	t.Helper()
	topo := lab.Topology()
	sites := map[string]bool{}
	for _, n := range topo.Nodes {
		for _, tb := range n.Tables {
			for _, nb := range tb.Neighbours {
				sites[nb] = true
			}
		}
	}
	for _, from := range topo.Nodes {
		for _, to := range topo.Nodes {
			if sites[from.Name] || sites[to.Name] {
				continue
			}
		next:
			for _, lo := range to.Loopbacks {
				for _, p := range from.Policies {
					if p.To.Contains(lo.Addr()) {
						continue next // steered: TestPolicy* cover it
					}
				}
				ping6(t, lab, from.Name, lo.Addr(), 1)
			}
		}
	}
}

func TestBundledReachability(t *testing.T) {
	names := testnet.Bundled()
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			lab := labtest.Up(t, name)
			allLoopbacks(t, lab)
		})
	}
}

// noPing fails the test if any of count echo requests from node to dst is
// answered.
func noPing(t *testing.T, lab *testnet.Lab, node string, dst netip.Addr) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := lab.Output(ctx, node, "ping", "-6", "-n", "-q", "-c", "1", "-W", "1", dst.String())
	if err == nil {
		t.Fatalf("ping from %s to %s answered, want no way through:\n%s", node, dst, out)
	}
}

// TestSelftestModels checks what the kernel's SRv6 selftests check of the
// three labs modelled on them (csid, hencapred, flavors): the VPN hosts reach
// each other through their policies, no other pair does, and the routes
// carry the flavors and modes the topology asked for.
func TestSelftestModels(t *testing.T) {
	cafe := func(n int) netip.Addr { return netip.AddrFrom16([16]byte{0xca, 0xfe, 15: byte(n)}) }
	routes := func(t *testing.T, lab *testnet.Lab, node string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := lab.Output(ctx, node, "ip", "-6", "route", "show", "table", "all")
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	contains := func(t *testing.T, text string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("routes lack %q:\n%s", w, text)
			}
		}
	}
	t.Run("csid", func(t *testing.T) {
		lab := labtest.Up(t, "csid")
		ping6(t, lab, "hs1", cafe(2), 3)
		ping6(t, lab, "hs2", cafe(1), 3)
		contains(t, routes(t, lab, "rt4"), "fcbb:0:400::/48", "flavors next-csid lblen 32 nflen 16")
		contains(t, routes(t, lab, "rt1"), "encap seg6 mode encap.red segs 1 [ fcbb:0:400:300:200:d46:: ]", "table 100")
	})
	t.Run("hencapred", func(t *testing.T) {
		lab := labtest.Up(t, "hencapred")
		for _, p := range [][2]int{{1, 2}, {2, 1}, {3, 4}, {4, 3}} {
			ping6(t, lab, fmt.Sprintf("hs%d", p[0]), cafe(p[1]), 1)
		}
		for _, p := range [][2]int{{1, 3}, {1, 4}, {2, 3}, {2, 4}, {3, 1}, {3, 2}, {4, 1}, {4, 2}} {
			noPing(t, lab, fmt.Sprintf("hs%d", p[0]), cafe(p[1]))
		}
		contains(t, routes(t, lab, "rt1"), "encap seg6 mode encap.red segs 3 [ fcff:3::e fcff:4::e fcff:2::d46 ]")
	})
	t.Run("flavors", func(t *testing.T) {
		lab := labtest.Up(t, "flavors")
		ping6(t, lab, "hs1", cafe(2), 3)
		ping6(t, lab, "hs2", cafe(1), 3)
		contains(t, routes(t, lab, "rt4"), "fcff:4::ef1", "flavors psp")
		contains(t, routes(t, lab, "rt1"), "encap seg6 mode inline segs")
	})
}
