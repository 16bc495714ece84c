package probes_test

import (
	"context"
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

// TestSendSourceFromPacket: Send hands the kernel each packet's own source (IPV6_PKTINFO, so that
// it does not select one per packet, and so that routing by source applies to probes): a probe
// from h1's address leaves and is answered; with a rule that sends what comes from that address
// to h2 into an unreachable route, the same probe is refused (without the source the kernel
// would not have matched the rule); a probe from an address h1 does not have, which the kernel
// refuses in IPV6_PKTINFO, leaves all the same (Send retries without it), as it did before, and
// is seen arriving at r1.
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
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rule := func(op string) error {
		if out, err := lab.Output(ctx, "h1", "ip", "-6", "rule", op, "from", "fc00:0:1::1", "to", "fc00:0:4::1", "lookup", "100", "pref", "100"); err != nil {
			return fmt.Errorf("ip rule %s: %v: %s", op, err, out)
		}
		return nil
	}
	if out, err := lab.Output(ctx, "h1", "ip", "-6", "route", "add", "unreachable", "fc00:0:4::1", "table", "100"); err != nil {
		t.Fatalf("ip route: %v: %s", err, out)
	}
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
				break
			}
		}
		// Routing by source: the rule catches the probe from fc00:0:1::1.
		if err := rule("add"); err != nil {
			return err
		}
		defer func() { _ = rule("del") }()
		eb, err := probes.NewEchoBuilder(probes.EchoConfig{Target: oam.Target{Destination: dst}, Source: sources[0], ID: id, PayloadSize: 8, HopLimit: 64})
		if err != nil {
			return err
		}
		pkt, err := eb.Build(9)
		if err != nil {
			return err
		}
		if _, err := conn.Send(pkt, eb.FirstHop()); !errors.Is(err, probes.ErrNoRoute) {
			return fmt.Errorf("a probe from %v with a rule sending it to an unreachable route: Send = %v, want %v", sources[0], err, probes.ErrNoRoute)
		}
		return nil
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
