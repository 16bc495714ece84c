package ioam

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/srv6oam/srv6oam/oam/tsharktest"
)

// TestTsharkWitness: Wireshark's IOAM dissector reads the Hop-by-Hop header this package
// builds, with two entries filled as Linux fills them, the way we read it: namespace, lengths,
// and per node hop limit, node id, interface ids and timestamps, first hop last in the option.
// Under CI=true a missing tshark fails the test.
func TestTsharkWitness(t *testing.T) {
	tsharktest.Require(t)
	tr, err := NewTrace(123, Bits(BitHopLimitNodeID, BitInterfaces, BitTimestampSeconds, BitTimestampFraction), 3)
	if err != nil {
		t.Fatal(err)
	}
	fill(&tr, 63<<24|42, 1<<16|2, 1700000000, 123456)
	fill(&tr, 62<<24|43, 3<<16|4, 1700000001, 654321)
	hbh, err := AppendHopByHop(nil, 59, &tr) // no next header
	if err != nil {
		t.Fatal(err)
	}
	if len(hbh)%8 != 0 {
		t.Fatalf("Hop-by-Hop header of %d octets", len(hbh))
	}
	pkt := make([]byte, 40, 40+len(hbh))
	pkt[0] = 0x60
	binary.BigEndian.PutUint16(pkt[4:], uint16(len(hbh)))
	pkt[6], pkt[7] = 0, 64 // next header Hop-by-Hop
	copy(pkt[8:], []byte{0xfc, 0, 0, 0, 0, 1, 14: 0, 15: 1})
	copy(pkt[24:], []byte{0xfc, 0, 0, 0, 0, 4, 14: 0, 15: 1})
	pkt = append(pkt, hbh...)
	if off := 40 + 4; off%4 != 0 || pkt[off] != OptionType {
		t.Fatalf("IOAM option at %d: % x", off, pkt[40:48])
	}

	fields := []string{"ipv6.opt.ioam.trace.ns", "ipv6.opt.ioam.trace.nodelen", "ipv6.opt.ioam.trace.remlen",
		"ipv6.opt.ioam.trace.node.hlim", "ipv6.opt.ioam.trace.node.id", "ipv6.opt.ioam.trace.node.iif",
		"ipv6.opt.ioam.trace.node.eif", "ipv6.opt.ioam.trace.node.tss", "ipv6.opt.ioam.trace.node.tsf"}
	rows, err := tsharktest.Fields(t.TempDir(), []tsharktest.Packet{{Data: pkt}}, layers.LinkTypeRaw, "", nil, fields...)
	if err != nil || len(rows) != 1 {
		t.Fatalf("tshark: %v, %v", rows, err)
	}
	// tshark lists the entries in the order they sit in the option: the latest hop first.
	want := []string{"123", "4", "4", "62,63", "0x00002b,0x00002a", "0x0003,0x0001", "0x0004,0x0002", "0x6553f101,0x6553f100", "0x0009fbf1,0x0001e240"} // tshark prints ids and times in hex: node ids 43, 42; 1700000001, 1700000000; 654321, 123456
	for i := range want {
		if got := rows[0][fields[i]]; got != want[i] {
			t.Errorf("%s: tshark %q, want %q", fields[i], got, want[i])
		}
	}
	es, err := tr.Entries()
	if err != nil || len(es) != 2 || es[0].NodeID != 42 || es[1].NodeID != 43 || es[1].Fraction != 654321 {
		t.Errorf("our entries: %+v, %v", es, err)
	}
}
