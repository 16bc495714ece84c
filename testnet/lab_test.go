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

// allLoopbacks pings every loopback of the lab from every node.
func allLoopbacks(t *testing.T, lab *testnet.Lab) {
	t.Helper()
	topo := lab.Topology()
	for _, from := range topo.Nodes {
		for _, to := range topo.Nodes {
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
