package probes_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/bpf/bpftest"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// TestSendSourceFromPacket: Send hands the kernel each packet's own source (IPV6_PKTINFO, so
// that it does not select one per packet): a probe from h1's address leaves and is answered; a
// probe from an address h1 does not have, which the kernel refuses in IPV6_PKTINFO, leaves all
// the same (Send retries without it), as it did before. Both are seen arriving at r1.
func TestSendSourceFromPacket(t *testing.T) {
	lab := labtest.Up(t, "line4")
	capture, err := bpftest.Listen(lab, "r1", "to-h1")
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Close()
	dst := netip.MustParseAddr("fc00:0:4::1")
	sources := []netip.Addr{netip.MustParseAddr("fc00:0:1::1"), netip.MustParseAddr("fc00:0:99::1")}
	const id, flow = 0x77, 0x5100
	err = lab.Exec("h1", func() error {
		conn, err := probes.Dial(probes.Config{})
		if err != nil {
			return err
		}
		defer conn.Close()
		for i, src := range sources {
			eb, err := probes.NewEchoBuilder(probes.EchoConfig{Target: oam.Target{Destination: dst}, Source: src, ID: id,
				PayloadSize: 8, HopLimit: 64, FlowLabel: flow + uint32(i)})
			if err != nil {
				return err
			}
			pkt, err := eb.Build(uint16(i + 1))
			if err != nil {
				return err
			}
			if _, err := conn.Send(pkt, eb.FirstHop()); err != nil {
				return fmt.Errorf("send from %v: %w", src, err)
			}
		}
		var r probes.Received
		var m probes.ICMPv6Message
		for deadline := time.Now().Add(5 * time.Second); ; {
			if err := conn.Receive(deadline, &r); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					return fmt.Errorf("no echo reply to the probe from %v", sources[0])
				}
				return err
			}
			if probes.ParseICMPv6(r.ICMPv6, &m) == nil && m.Type == probes.ICMPv6EchoReply && m.ID == id && m.Seq == 1 {
				return nil
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, src := range sources {
		if _, _, err := capture.Next(flow+uint32(i), 5*time.Second); err != nil {
			t.Errorf("the probe from %v did not reach r1: %v", src, err)
		}
	}
}
