package probes_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
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

// TestForeignReplies: a raw ICMPv6 socket sees the replies to every process's pings on the
// host. Another process (scapy, as a second monitor or a ping would) sends an Echo Request from
// h1 under the very identifier a Demux has registered, with iputils' data: its reply reaches
// the Demux and is dropped as foreign, never handed to the identifier's handler; this process's
// own probe (its data opens with the process's cookie), sent after it, is.
func TestForeignReplies(t *testing.T) {
	lab := labtest.Up(t, "line4")
	const python = "/usr/bin/python3" // Debian's, with python3-scapy (make deps)
	if out, err := exec.Command(python, "-c", "import scapy.all").CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("scapy: %v: %s (make deps installs python3-scapy)", err, out)
		}
		t.Skipf("scapy: %v (make deps installs python3-scapy)", err)
	}
	dst := netip.MustParseAddr("fc00:0:4::1")
	const id = 0x4242
	var conn *probes.Conn
	if err := lab.Exec("h1", func() error {
		var err error
		conn, err = probes.Dial(probes.Config{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	d := probes.NewDemux(conn)
	defer d.Close()
	got := make(chan uint16, 16)
	if _, err := d.Register(id, func(m *probes.Match) {
		if m.Reply {
			got <- m.Seq
		}
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	script := fmt.Sprintf(`from scapy.all import IPv6, ICMPv6EchoRequest, send
send(IPv6(src="fc00:0:1::1", dst="%s")/ICMPv6EchoRequest(id=%d, seq=1, data=bytes(range(56))), verbose=0)`, dst, id)
	if out, err := lab.Output(ctx, "h1", python, "-c", script); err != nil {
		t.Fatalf("scapy: %v: %s", err, out)
	}
	for d.Foreign() == 0 {
		select {
		case seq := <-got:
			t.Fatalf("the other process's reply (seq %d) was handed to identifier %#x's handler", seq, id)
		case <-ctx.Done():
			t.Fatal("the other process's reply never reached the Demux")
		case <-time.After(10 * time.Millisecond):
		}
	}

	eb, err := probes.NewEchoBuilder(probes.EchoConfig{Target: oam.Target{Destination: dst}, Source: netip.MustParseAddr("fc00:0:1::1"),
		ID: id, PayloadSize: 56, HopLimit: 64})
	if err != nil {
		t.Fatal(err)
	}
	pkt, err := eb.Build(2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Send(pkt, eb.FirstHop()); err != nil {
		t.Fatal(err)
	}
	select {
	case seq := <-got:
		if seq != 2 {
			t.Fatalf("handler got seq %d, want this process's 2", seq)
		}
	case <-ctx.Done():
		t.Fatal("no reply to this process's own probe")
	}
	if n := d.Foreign(); n != 1 {
		t.Errorf("foreign messages: %d, want 1", n)
	}
}
