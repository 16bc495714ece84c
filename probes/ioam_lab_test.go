package probes_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/bpf/bpftest"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// ioamNode turns IOAM on in a lab node as an operator would: the namespace, the node id, the
// interface ids, and IOAM enabled on the ingress interfaces given.
func ioamNode(t *testing.T, lab *testnet.Lab, node string, id uint32, ns uint16, ifids map[string]uint16, enabled ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := lab.Output(ctx, node, "ip", "ioam", "namespace", "add", fmt.Sprint(ns)); err != nil {
		t.Fatal(err)
	}
	args := []string{"-qw", fmt.Sprintf("net.ipv6.ioam6_id=%d", id)}
	for peer, ifid := range ifids {
		ifc, err := lab.Interface(node, peer)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, fmt.Sprintf("net.ipv6.conf.%s.ioam6_id=%d", ifc.Name, ifid))
	}
	for _, peer := range enabled {
		ifc, err := lab.Interface(node, peer)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, fmt.Sprintf("net.ipv6.conf.%s.ioam6_enabled=1", ifc.Name))
	}
	if _, err := lab.Output(ctx, node, "sysctl", args...); err != nil {
		t.Fatal(err)
	}
}

// TestIOAMFilledByKernel: a packet carrying the Hop-by-Hop header oam/ioam builds crosses r1
// and r2 of line4, both with IOAM on their ingress; on h2's link the option holds one entry per
// router, in hop order, with the ids each router was given, the hop limit it received, a
// receive time of now, and the transit delay Linux does not support reported as such. The
// namespace a router does not know leaves its trace untouched.
func TestIOAMFilledByKernel(t *testing.T) {
	lab := labtest.Up(t, "line4")
	ioamNode(t, lab, "r1", 42, 123, map[string]uint16{"h1": 11, "r2": 12}, "h1")
	ioamNode(t, lab, "r2", 43, 123, map[string]uint16{"r1": 21, "h2": 22}, "r1")
	ring, err := labtest.ListenRing(lab, "h2", mustIfName(t, lab, "h2", "r2"))
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()

	typ := ioam.Bits(ioam.BitHopLimitNodeID, ioam.BitInterfaces, ioam.BitTimestampSeconds, ioam.BitTimestampFraction, ioam.BitTransitDelay)
	send := func(ns uint16, flow uint32) ioam.Trace {
		t.Helper()
		tr, err := ioam.NewTrace(ns, typ, 4)
		if err != nil {
			t.Fatal(err)
		}
		hbh, err := ioam.AppendHopByHop(nil, 59, &tr)
		if err != nil {
			t.Fatal(err)
		}
		pkt := make([]byte, 40, 40+len(hbh))
		binary.BigEndian.PutUint32(pkt, 6<<28|flow)
		binary.BigEndian.PutUint16(pkt[4:], uint16(len(hbh)))
		pkt[6], pkt[7] = 0, 64
		src, dst := netip.MustParseAddr("fc00:0:1::1").As16(), netip.MustParseAddr("fc00:0:4::1").As16()
		copy(pkt[8:], src[:])
		copy(pkt[24:], dst[:])
		pkt = append(pkt, hbh...)
		if err := bpftest.Send(lab, "h1", pkt); err != nil {
			t.Fatal(err)
		}
		for {
			got, _, err := ring.Next(5 * time.Second)
			if err != nil {
				t.Fatalf("flow %#x: not received on h2: %v", flow, err)
			}
			if binary.BigEndian.Uint32(got)&0xfffff != flow || got[6] != 0 || len(got) < 44+tr.Len() {
				continue
			}
			out, _, err := ioam.Parse(got[44:])
			if err != nil {
				t.Fatalf("flow %#x: %v", flow, err)
			}
			return out
		}
	}

	before := time.Now()
	tr := send(123, 0x10101)
	es, err := tr.Entries()
	if err != nil {
		t.Fatal(err)
	}
	if tr.Overflow() || tr.Remaining != 2*tr.NodeLen || len(es) != 2 {
		t.Fatalf("trace %+v: %d entries, want r1's and r2's", tr, len(es))
	}
	for i, want := range []ioam.Entry{
		{HopLimit: 63, NodeID: 42, Ingress: 11, Egress: 12, Unsupported: []int{ioam.BitTransitDelay}},
		{HopLimit: 62, NodeID: 43, Ingress: 21, Egress: 22, Unsupported: []int{ioam.BitTransitDelay}},
	} {
		got := es[i]
		at := time.Unix(int64(got.Seconds), int64(got.Fraction)*1000)
		if at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) || got.Fraction >= 1e6 {
			t.Errorf("entry %d: receive time %v (%d s, %d µs), want between %v and now", i+1, at, got.Seconds, got.Fraction, before)
		}
		got.Seconds, got.Fraction = 0, 0
		if !reflect.DeepEqual(got, want) {
			t.Errorf("entry %d: %+v, want %+v", i+1, got, want)
		}
	}

	tr = send(124, 0x10102) // a namespace no router knows
	if es, err := tr.Entries(); err != nil || len(es) != 0 || tr.Overflow() {
		t.Errorf("unknown namespace: %d entries, overflow %v, %v; want the trace untouched", len(es), tr.Overflow(), err)
	}
}

func mustIfName(t *testing.T, lab *testnet.Lab, node, peer string) string {
	t.Helper()
	ifc, err := lab.Interface(node, peer)
	if err != nil {
		t.Fatal(err)
	}
	return ifc.Name
}
