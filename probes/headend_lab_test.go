package probes_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/bpf/bpftest"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// TestEncodingsMatchKernelHeadends: what srv6oam builds for each encoding is byte for byte what a
// Linux headend builds with the same segment list. A host sends srv6oam's own plain echo probe
// through its router's policy (the labs modelled on the kernel's selftests); the packet the
// router puts on the wire, captured where it arrives, is compared with srv6oam's probe in the
// policy's encoding, the same echo inside. Only what the headend decides and srv6oam cannot
// know differs, and is left out: the outer source of an encapsulation (the router's tunnel
// source) and the hop limits (the router forwarded the packet).
func TestEncodingsMatchKernelHeadends(t *testing.T) {
	a := netip.MustParseAddr
	for _, c := range []struct {
		name, lab, host, router, capNode, capPeer string
		src, dst                                  netip.Addr
		segs                                      oam.SegmentList
		enc                                       probes.Encoding
		decap                                     bool
	}{
		// rt1: cafe::2 encap.red segs fcff:3::e,fcff:4::e,fcff:2::d46 (a reduced SRH of two).
		{"encap.red, three SIDs", "hencapred", "hs1", "rt1", "rt3", "rt1", a("cafe::1"), a("cafe::2"),
			oam.SegmentList{a("fcff:3::e"), a("fcff:4::e"), a("fcff:2::d46")}, probes.EncapRed, true},
		// rt2: cafe::1 encap.red segs fcff:1::d46 (one SID: no SRH at all).
		{"encap.red, one SID", "hencapred", "hs2", "rt2", "rt1", "rt2", a("cafe::2"), a("cafe::1"),
			oam.SegmentList{a("fcff:1::d46")}, probes.EncapRed, true},
		// rt1: cafe::2 encap.red segs fcbb:0:400:300:200:d46:: (one uSID container).
		{"encap.red, uSID container", "csid", "hs1", "rt1", "rt4", "rt1", a("cafe::1"), a("cafe::2"),
			oam.SegmentList{a("fcbb:0:400:300:200:d46::")}, probes.EncapRed, true},
		// rt1: cafe::2 inline segs fcff:3::e,fcff:4::ef1,fcff:2::ef1 (H.Insert).
		{"inline", "flavors", "hs1", "rt1", "rt3", "rt1", a("cafe::1"), a("cafe::2"),
			oam.SegmentList{a("fcff:3::e"), a("fcff:4::ef1"), a("fcff:2::ef1")}, probes.Insert, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			lab := labtest.Up(t, c.lab)
			capture, err := bpftest.Listen(lab, c.capNode, "to-"+c.capPeer)
			if err != nil {
				t.Fatal(err)
			}
			defer capture.Close()
			const id, seq, flow = 0x5eed, 7, 0x4242
			cfg := probes.EchoConfig{Target: oam.Target{Destination: c.dst}, Source: c.src, ID: id, PayloadSize: 24, HopLimit: 64, FlowLabel: flow}
			plain, err := probes.NewEchoBuilder(cfg)
			if err != nil {
				t.Fatal(err)
			}
			inner, err := plain.Build(seq)
			if err != nil {
				t.Fatal(err)
			}
			if err := bpftest.Send(lab, c.host, bytes.Clone(inner)); err != nil {
				t.Fatal(err)
			}
			got, _, err := capture.Next(flow, 5*time.Second)
			if err != nil {
				t.Fatalf("the %s policy's packet did not reach %s: %v", c.router, c.capNode, err)
			}
			cfg.Target, cfg.Encoding = oam.Target{Segments: c.segs, Destination: c.dst, Decap: c.decap}, c.enc
			ours, err := probes.NewEchoBuilder(cfg)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ours.Build(seq)
			if err != nil {
				t.Fatal(err)
			}
			ignore := map[int]bool{7: true} // outer hop limit
			if c.enc.Encapsulates() {
				for i := 8; i < 24; i++ {
					ignore[i] = true // outer source: the headend's tunnel source
				}
			}
			if err := sameBytes(want, got, ignore); err != nil {
				t.Errorf("%v\nours   %x\nkernel %x", err, want, got)
			}
		})
	}
}

func sameBytes(want, got []byte, ignore map[int]bool) error {
	if len(want) != len(got) {
		return fmt.Errorf("%d bytes, the kernel's are %d", len(want), len(got))
	}
	for i := range want {
		if !ignore[i] && want[i] != got[i] {
			return fmt.Errorf("byte %d: ours %#02x, the kernel's %#02x", i, want[i], got[i])
		}
	}
	return nil
}
