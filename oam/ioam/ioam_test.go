package ioam

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
)

// fill writes an entry into t as net/ipv6/ioam6.c does: just below the free space, then
// RemainingLen shrinks by NodeLen; a hop that finds no room sets the overflow flag.
func fill(t *Trace, words ...uint32) {
	n := int(t.NodeLen)
	if t.Remaining < t.NodeLen || t.Remaining == 0 {
		t.Flags |= FlagOverflow
		return
	}
	off := int(t.Remaining)*4 - n*4
	for i, w := range words {
		binary.BigEndian.PutUint32(t.Data[off+4*i:], w)
	}
	t.Remaining -= t.NodeLen
}

func TestNodeLenAsLinux(t *testing.T) {
	// Linux: hweight32(type & 0xff1ffc00) + 2*hweight32(type & 0x00e00000), type in the high 24
	// bits of a 32-bit word.
	linux := func(typ Type) int {
		w := uint32(typ) << 8
		n := 0
		for i := 0; i < 32; i++ {
			if w&0xff1ffc00&(1<<i) != 0 {
				n++
			}
			if w&0x00e00000&(1<<i) != 0 {
				n += 2
			}
		}
		return n
	}
	for _, typ := range []Type{Bits(0), Bits(0, 2, 3), Bits(0, 1, 2, 3, 4, 5, 6, 7), Bits(8, 9, 10), Bits(11, 12, 21), Bits(22), Bits(0, 8, 22, 23), 0xffffff} {
		if got, want := typ.NodeLen(), linux(typ); got != want {
			t.Errorf("type %#06x: NodeLen %d, Linux %d", uint32(typ), got, want)
		}
	}
}

func TestRoundTripAndEntries(t *testing.T) {
	typ := Bits(BitHopLimitNodeID, BitInterfaces, BitTimestampSeconds, BitTimestampFraction, BitTransitDelay, BitHopLimitNodeIDWide)
	tr, err := NewTrace(123, typ, 3)
	if err != nil {
		t.Fatal(err)
	}
	if tr.NodeLen != 7 || tr.Remaining != 21 || len(tr.Data) != 84 {
		t.Fatalf("%+v", tr)
	}
	// Two hops fill their entries; the second's egress is a loopback (0xffff), both say
	// transit delay is unsupported.
	fill(&tr, 63<<24|42, 1<<16|2, 1700000000, 123456, Unavailable, 63<<24, 42)
	fill(&tr, 62<<24|43, 3<<16|0xffff, 1700000001, 5, Unavailable, 62<<24, 43)
	b, err := tr.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != tr.Len() || b[0] != OptionType || int(b[1]) != len(b)-2 {
		t.Fatalf("option % x", b[:4])
	}
	got, n, err := Parse(append(b, 0xee))
	if err != nil || n != len(b) {
		t.Fatalf("Parse: %d, %v", n, err)
	}
	if got.Namespace != 123 || got.NodeLen != 7 || got.Remaining != 7 || got.Type != typ || got.Overflow() || !bytes.Equal(got.Data, tr.Data) {
		t.Fatalf("parsed %+v", got)
	}
	es, err := got.Entries()
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{HopLimit: 63, NodeID: 42, Ingress: 1, Egress: 2, Seconds: 1700000000, Fraction: 123456, Unsupported: []int{BitTransitDelay}},
		{HopLimit: 62, NodeID: 43, Ingress: 3, Egress: 0xffff, Seconds: 1700000001, Fraction: 5, Unsupported: []int{BitTransitDelay}},
	}
	if !reflect.DeepEqual(es, want) {
		t.Errorf("entries\n%+v\nwant\n%+v", es, want)
	}
	// A third hop fits, a fourth overflows.
	fill(&tr, 61<<24|44, 0, 0, 0, Unavailable, 61<<24, 44)
	fill(&tr, 60<<24|45, 0, 0, 0, Unavailable, 60<<24, 45)
	if !tr.Overflow() || tr.Remaining != 0 {
		t.Errorf("after four hops: %+v", tr)
	}
	if es, _ := tr.Entries(); len(es) != 3 || es[2].NodeID != 44 {
		t.Errorf("after four hops: %+v", es)
	}
}

func TestErrors(t *testing.T) {
	if _, err := NewTrace(1, 0, 1); err == nil {
		t.Error("no field: accepted")
	}
	if _, err := NewTrace(1, Bits(22), 1); err == nil {
		t.Error("opaque state: accepted")
	}
	if _, err := NewTrace(1, Bits(0, 8, 9, 10), 20); err == nil {
		t.Error("7 × 20 units: accepted")
	}
	tr, _ := NewTrace(1, Bits(0), 2)
	b, _ := tr.AppendBinary(nil)
	for _, bad := range [][]byte{nil, b[:1], b[:len(b)-1], append([]byte{0x05}, b[1:]...)} {
		if _, _, err := Parse(bad); err == nil {
			t.Errorf("Parse(% x): no error", bad)
		}
	}
	other := append([]byte(nil), b...)
	other[3] = 1 // another IOAM option type
	if _, _, err := Parse(other); err != ErrNotTrace {
		t.Errorf("IOAM type 1: %v", err)
	}
	wrong := tr
	wrong.NodeLen = 2
	if _, err := wrong.Entries(); err == nil {
		t.Error("NodeLen not matching the type: no error")
	}
}

func FuzzParse(f *testing.F) {
	tr, _ := NewTrace(7, Bits(0, 1, 2, 3, 5, 6, 8, 9, 10, 11), 3)
	fill(&tr, make([]uint32, tr.NodeLen)...)
	b, _ := tr.AppendBinary(nil)
	f.Add(b)
	f.Add([]byte{OptionType, 10, 0, 0, 0, 1, 0x08, 0x00, 0x80, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, n, err := Parse(b)
		if err != nil {
			return
		}
		out, err := tr.AppendBinary(nil)
		if err != nil {
			// Parse accepted what cannot be re-encoded: only fields Parse does not check.
			return
		}
		// Everything but the two reserved octets (after the length, after the trace type)
		// comes back as read.
		in := b[:n]
		if len(out) != n || !bytes.Equal(out[:2], in[:2]) || !bytes.Equal(out[3:11], in[3:11]) || !bytes.Equal(out[12:], in[12:]) {
			t.Fatalf("re-encoded % x, read % x", out, in)
		}
		tr.Entries() // must not panic
	})
}
