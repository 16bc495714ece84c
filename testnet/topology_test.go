package testnet_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/srv6oam/srv6oam/testnet"
)

func TestBadTopologies(t *testing.T) {
	cases := map[string]string{
		"unknown-node.yaml":             `unknown-node.yaml:5: link a-zz: unknown node "zz"`,
		"duplicate-address.yaml":        `duplicate-address.yaml:4: node b: duplicate address fc00::1 (already used by node a loopback)`,
		"sid-outside-locator.yaml":      `sid-outside-locator.yaml:6: node a: sid fc00:0:2::e: SID outside its locator fc00:0:1::/48`,
		"unknown-behaviour.yaml":        `unknown-behaviour.yaml:6: node a: sid fc00:0:1::e: unknown behaviour "End.Q"`,
		"unknown-field.yaml":            `unknown-field.yaml:4: node a: unknown field "colour"`,
		"bad-delay.yaml":                `bad-delay.yaml:7: link: delay: "soon" is not a duration`,
		"plain-with-locator.yaml":       `plain-with-locator.yaml:2: node a: plain IPv6 node (srv6: false) cannot have a locator`,
		"via-not-neighbour.yaml":        `via-not-neighbour.yaml:6: node a: sid fc00:0:1::e1: via "c" is not a neighbour`,
		"policy-unknown-hmac-key.yaml":  `policy-unknown-hmac-key.yaml:5: node a: policy to fc00:9::/64: hmac key 7 is not a key of the node`,
		"duplicate-node.yaml":           `duplicate-node.yaml:4: node a: duplicate node name`,
		"ipv4-loopback.yaml":            `ipv4-loopback.yaml:3: node a: loopback: "10.0.0.1" is not an IPv6 prefix`,
		"overlapping-loopbacks.yaml":    `overlapping-loopbacks.yaml:4: node b: loopback fc00:0:1::2/64 overlaps loopback fc00:0:1::1/64 of node a: each would take the other's addresses for its own`,
		"loopback-inside-loopback.yaml": `loopback-inside-loopback.yaml:4: node b: loopback fc00::1/32 overlaps loopback fc00:0:1::1/128 of node a`,
		"flavor-on-dt6.yaml":            `flavor-on-dt6.yaml:6: node a: sid fc00:0:1::d6: flavor psp is for End and End.X, not End.DT6`,
		"bad-nflen.yaml":                `bad-nflen.yaml:6: node a: sid fcbb:0:100::/48: nflen 12: want a multiple of 8 from 8 to 120 bits`,
		"lblen-without-next-csid.yaml":  `lblen-without-next-csid.yaml:6: node a: sid fcbb:0:100::/48: lblen and nflen are for the next-csid flavor`,
		"policy-unknown-table.yaml":     `policy-unknown-table.yaml:5: node a: policy to cafe::2/128: table 100 is not one of the node's tables`,
		"ioam-not-neighbour.yaml":       `ioam-not-neighbour.yaml:4: node a: ioam: interfaces: "c" is not a neighbour`,
		"ioam-bad-id.yaml":              `ioam-bad-id.yaml:4: node a: ioam: id: "16777216" is not a number of 24 bits`,
		"ioam-duplicate-namespace.yaml": `ioam-duplicate-namespace.yaml:5: node a: ioam: namespace 123 listed twice`,
		"unknown-mode.yaml":             `unknown-mode.yaml:5: node a: policy to cafe::2/128: unknown mode "insert.red" (want encap, encap.red, inline, l2encap or l2encap.red)`,
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			_, err := testnet.Load(filepath.Join("testdata", "bad", file))
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !errors.Is(err, testnet.ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if got := strings.TrimPrefix(err.Error(), "testdata/bad/"); !strings.HasPrefix(got, want) {
				t.Errorf("error\n got %s\nwant %s...", got, want)
			}
		})
	}
}

func TestBundledTopologiesLoad(t *testing.T) {
	for _, name := range testnet.Bundled() {
		topo, err := testnet.Load(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := testnet.Graph(topo, "dot"); err != nil {
			t.Fatal(err)
		}
	}
	topo, _ := testnet.Load("wan10")
	if len(topo.Nodes) < 8 {
		t.Errorf("wan10 has %d nodes, want >= 8", len(topo.Nodes))
	}
	// IOAM defaults: node id the node's number, interface id the link's, namespace 0.
	p1 := topo.Node("p1")
	if p1.IOAM == nil || p1.IOAM.NodeID != 6 || len(p1.IOAM.Namespaces) != 1 || p1.IOAM.Namespaces[0].ID != 0 ||
		topo.IOAMInterfaceID(p1, "r1") != 2 || topo.IOAMInterfaceID(p1, "p2") != 6 || topo.IOAMInterfaceID(p1, "h1") != 0 {
		t.Errorf("wan10 p1 IOAM: %+v", p1.IOAM)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range testnet.Bundled() {
		topo, _ := testnet.Load(name)
		_ = topo
	}
	f.Add([]byte("nodes:\n  a:\n    loopback: fc00::1\n"))
	f.Add([]byte("nodes: {a: {loopback: [fc00::1], sids: [{sid: x}]}}\nlinks: [{a: a}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = testnet.Parse(data, "fuzz.yaml") // must not panic
	})
}
