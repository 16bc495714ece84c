package testnet_test

import (
	"fmt"
	"net/netip"

	"github.com/srv6oam/srv6oam/testnet"
)

// A topology can be written as a Go value; Validate fills in link
// addresses and defaults, and Graph draws it.
func ExampleGraph() {
	topo := &testnet.Topology{
		Name: "pair",
		Nodes: []testnet.Node{
			{Name: "a", Loopbacks: []netip.Prefix{netip.MustParsePrefix("fc00:0:1::1/128")},
				Locator: netip.MustParsePrefix("fc00:0:1::/48"),
				SIDs:    []testnet.SID{{Addr: netip.MustParseAddr("fc00:0:1::e"), Behavior: testnet.End}}},
			{Name: "b", Loopbacks: []netip.Prefix{netip.MustParsePrefix("fc00:0:2::1/128")}, Plain: true},
		},
		Links: []testnet.Link{{A: "a", B: "b"}},
	}
	if err := topo.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(topo.Links[0].AAddr, topo.Links[0].BAddr)
	out, _ := testnet.Graph(topo, "mermaid")
	fmt.Print(out)
	// Output:
	// fd00:0:0:1::1/64 fd00:0:0:1::2/64
	// graph LR
	//   a["a<br/>fc00:0:1::1<br/>fc00:0:1::e End"]
	//   b["b<br/>fc00:0:2::1<br/>(plain IPv6)"]
	//   a ---|"fd00:0:0:1::/64"| b
}

// Topology errors say where and what.
func ExampleParse() {
	_, err := testnet.Parse([]byte("nodes:\n  r1:\n    loopback: fc00:0:2::1\n    locator: fc00:0:2::/48\n    sids:\n      - {sid: \"fc00:0:9::e\", behavior: End}\n"), "lab.yaml")
	fmt.Println(err)
	// Output:
	// lab.yaml:6: node r1: sid fc00:0:9::e: SID outside its locator fc00:0:2::/48: invalid topology
}
