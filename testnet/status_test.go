package testnet_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// TestStatusHMACPolicies reads back the policies of hmac's h1, whose seg6
// routes carry an HMAC TLV (which vishvananda/netlink cannot decode), with
// their segments and key id, and the SIDs of the other nodes.
func TestStatusHMACPolicies(t *testing.T) {
	lab := labtest.Up(t, "hmac")
	nodes, err := testnet.Status(lab.Name())
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	byName := map[string]testnet.NodeStatus{}
	for _, n := range nodes {
		byName[n.Node] = n
	}
	want := []string{
		"fc00:0:4::100/128 encap segs [fc00:0:3::d6] hmac 1",
		"fc00:0:4::200/128 encap segs [fc00:0:3::d6]",
		"fc00:0:4::300/128 inline segs [fc00:0:3::e] hmac 1",
	}
	got := slices.Clone(byName["h1"].Policies)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("h1 policies:\n got %q\nwant %q", got, want)
	}
	if sids := strings.Join(byName["r2"].SIDs, "; "); !strings.Contains(sids, "fc00:0:3::d6 End.DT6 table 254") ||
		!strings.Contains(sids, "fc00:0:3::e End") {
		t.Errorf("r2 SIDs: %s", sids)
	}
	if len(byName) != 4 {
		t.Errorf("status lists %d nodes, want 4", len(byName))
	}
}
