package probes

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
	"golang.org/x/sys/unix"
)

// setRPS steers what node receives on iface to the CPUs in mask (receive packet steering; "0"
// turns it off). ip netns exec mounts the namespace's own /sys, where its devices are.
func setRPS(b *testing.B, lab *testnet.Lab, node, iface, mask string) {
	b.Helper()
	if out, err := exec.Command("ip", "netns", "exec", lab.NamespaceName(node), "sh", "-c",
		fmt.Sprintf("echo %s > /sys/class/net/%s/queues/rx-0/rps_cpus", mask, iface)).CombinedOutput(); err != nil {
		b.Fatalf("rps on %s %s: %v %s", node, iface, err, out)
	}
}

// BenchmarkSendProbes: one goroutine crafts and sends encap echo probes (SRH with two segments,
// 56 data bytes) from h1 through r1's End SID to h2 in the line4 lab; the kernel forwards and
// answers every one (replies are not read). It reports probes/s; the send path must not allocate.
//
// The sender is pinned to CPU 0. "inline": veth hands each packet to r1 on the sender's own CPU,
// so the sender's figure includes r1's and h2's forwarding and the echo reply. "rps": r1 steers
// what it receives from h1 to CPU 1 (as a NIC's queue would to another core), so CPU 0 only
// crafts and sends.
func BenchmarkSendProbes(b *testing.B) {
	lab := labtest.Up(b, "line4")
	target := oam.Target{Segments: oam.SegmentList{netip.MustParseAddr("fc00:0:2::e")}, Destination: netip.MustParseAddr("fc00:0:4::1")}
	for _, mode := range []struct {
		name      string
		rps       bool
		tx, batch bool
	}{
		{"inline/sendmsg", false, false, false},
		{"rps/sendmsg", true, false, false},
		{"rps/sendmsg+tx-timestamps", true, true, false},
		{"rps/sendmmsg-64", true, false, true},
	} {
		b.Run(mode.name, func(b *testing.B) {
			mask := "0"
			if mode.rps {
				mask = "2"
			}
			setRPS(b, lab, "r1", "to-h1", mask)
			err := lab.Exec("h1", func() error {
				// The loop runs on this locked thread, inside h1, on CPU 0; put the thread back
				// on every CPU before it returns to the runtime.
				var all, cpu0 unix.CPUSet
				if err := unix.SchedGetaffinity(0, &all); err != nil {
					return err
				}
				cpu0.Set(0)
				if err := unix.SchedSetaffinity(0, &cpu0); err != nil {
					return err
				}
				defer unix.SchedSetaffinity(0, &all)
				return sendLoop(b, target, mode.tx, mode.batch)
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}

func sendLoop(b *testing.B, target oam.Target, tx, batched bool) error {
	src, err := SourceFor(context.Background(), target.FirstHop(), "")
	if err != nil {
		return err
	}
	eb, err := NewEchoBuilder(EchoConfig{Target: target, Source: src, ID: 77, PayloadSize: 56, HopLimit: 64})
	if err != nil {
		return err
	}
	conn, err := Dial(Config{TxTimestamps: tx})
	if err != nil {
		return err
	}
	defer conn.Close()
	stamps := 0
	count := func(uint32, time.Time) { stamps++ }
	batch := NewBatch(64, 256)
	b.ReportAllocs()
	seq := uint16(0)
	for b.Loop() {
		seq++
		pkt, err := eb.Build(seq)
		if err != nil {
			return err
		}
		if batched {
			batch.Add(pkt, eb.FirstHop())
			if batch.Len() == 64 {
				if _, _, err := conn.SendBatch(batch); err != nil {
					return err
				}
			}
			continue
		}
		if _, err := conn.Send(pkt, eb.FirstHop()); err != nil {
			return err
		}
		if tx && seq%64 == 0 {
			if err := conn.ReadTxTimestamps(count); err != nil {
				return err
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "probes/s")
	if tx {
		b.ReportMetric(float64(stamps)/float64(b.N), "txstamps/probe")
	}
	return nil
}
