// Package ioam encodes and decodes the IOAM Pre-allocated Trace Option-Type (RFC 9197 §4.4) as
// it travels in an IPv6 Hop-by-Hop header (RFC 9486), the form Linux fills at every hop whose
// ingress interface has net.ipv6.conf.IF.ioam6_enabled=1 and that knows the trace's namespace
// (net/ipv6/ioam6.c). It is pure: bytes in, values out.
//
// Layout of the Hop-by-Hop option (the option's first byte 4n-aligned from the IPv6 header, as
// Linux requires):
//
//	 0                   1                   2                   3
//	+---------------+---------------+---------------+---------------+
//	| Option 0x31   | Opt Data Len  |   Reserved    | IOAM type 0   |
//	+---------------+---------------+---------+-----+-+-------------+
//	|         Namespace-ID          | NodeLen | Flags | RemainingLen|
//	+-------------------------------+---------+-------+-------------+
//	|               IOAM-Trace-Type (24 bits)       |   Reserved    |
//	+-----------------------------------------------+---------------+
//	|     node data: RemainingLen × 4 octets still free, then the   |
//	|     entries of the hops that filled one, the latest first     |
//	+---------------------------------------------------------------+
//
// A hop writes its entry just below the free space and subtracts NodeLen from RemainingLen, so
// the entry of the first hop is the last in the option.
package ioam

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/srv6oam/srv6oam/oam/hbh"
)

const (
	// OptionType is the Hop-by-Hop option type of IOAM (RFC 9486): 0x31, "skip if unknown",
	// data may change en route.
	OptionType = 0x31
	// TraceOptionType is the IOAM Option-Type of the Pre-allocated Trace.
	TraceOptionType = 0
	// headerLen is the option's fixed part after type and length: reserved, IOAM type, the
	// trace header (namespace, lengths, flags, trace type, reserved).
	headerLen = 2 + 8
	// FlagOverflow is set by a hop that found no room for its entry (RFC 9197 §4.4.1).
	FlagOverflow = 0x8
	// Unavailable is what Linux writes in a 4-octet field it does not support, and in fields
	// it cannot know (no ingress device, loopback egress).
	Unavailable = 0xffffffff
	// maxRemaining is the largest RemainingLen (7 bits), in 4-octet units.
	maxRemaining = 0x7f
)

// Trace-type bits, numbered as RFC 9197 does: bit 0 is the most significant of the 24.
const (
	BitHopLimitNodeID     = 0  // hop limit and 24-bit node id
	BitInterfaces         = 1  // ingress and egress interface ids, 16 bits each
	BitTimestampSeconds   = 2  // receive time, seconds
	BitTimestampFraction  = 3  // receive time, fraction (Linux: microseconds)
	BitTransitDelay       = 4  // not supported by Linux
	BitNamespaceData      = 5  // 4 octets of namespace-specific data
	BitQueueDepth         = 6  // egress queue backlog, bytes
	BitChecksumComplement = 7  // not supported by Linux
	BitHopLimitNodeIDWide = 8  // hop limit and 56-bit node id
	BitInterfacesWide     = 9  // ingress and egress interface ids, 32 bits each
	BitNamespaceDataWide  = 10 // 8 octets of namespace-specific data
	BitBufferOccupancy    = 11 // not supported by Linux
	BitOpaqueState        = 22 // opaque state snapshot, variable length (not in NodeLen)
)

// Type is an IOAM trace type: the 24 bits of RFC 9197, bit 0 the most significant.
type Type uint32

// Bits returns the type with the given bits set.
func Bits(bits ...int) Type {
	var t Type
	for _, b := range bits {
		t |= 1 << (23 - b)
	}
	return t
}

// Has reports whether bit b is set.
func (t Type) Has(b int) bool { return b >= 0 && b < 24 && t&(1<<(23-b)) != 0 }

// wide are the bits of 8-octet fields; every other bit from 0 to 21 is a 4-octet field (those
// not yet defined included: Linux fills them with Unavailable). Bit 22 is variable, bit 23
// reserved.
var (
	wideBits  = Bits(BitHopLimitNodeIDWide, BitInterfacesWide, BitNamespaceDataWide)
	shortBits = Type(1<<24-1) &^ wideBits &^ Bits(BitOpaqueState, 23)
)

// NodeLen is the size of one hop's entry in 4-octet units, without the opaque state snapshot:
// what Linux requires the header's NodeLen to be.
func (t Type) NodeLen() int {
	return bits.OnesCount32(uint32(t&shortBits)) + 2*bits.OnesCount32(uint32(t&wideBits))
}

// Trace is a Pre-allocated Trace option.
type Trace struct {
	Namespace uint16
	NodeLen   uint8 // 4-octet units per entry (5 bits)
	Flags     uint8 // 4 bits; FlagOverflow
	// Remaining is the free space left, in 4-octet units (7 bits).
	Remaining uint8
	Type      Type
	// Data is the node data area as on the wire: Remaining×4 free octets, then the entries.
	Data []byte
}

// NewTrace pre-allocates room for nodes entries of typ in namespace ns. The opaque state
// snapshot (bit 22) is not supported here, nor is room of more than 127 4-octet units.
func NewTrace(ns uint16, typ Type, nodes int) (Trace, error) {
	if typ>>24 != 0 || typ.Has(23) {
		return Trace{}, fmt.Errorf("trace type %#06x: bits beyond 22 set", uint32(typ))
	}
	if typ.Has(BitOpaqueState) {
		return Trace{}, errors.New("trace type: the opaque state snapshot (bit 22) is not supported")
	}
	n := typ.NodeLen()
	if n == 0 {
		return Trace{}, errors.New("trace type: no field selected")
	}
	if most := MaxNodes(typ); nodes < 1 || nodes > most {
		return Trace{}, fmt.Errorf("%d nodes of %d octets: room for 1 to %d", nodes, 4*n, most)
	}
	return Trace{Namespace: ns, NodeLen: uint8(n), Remaining: uint8(n * nodes), Type: typ, Data: make([]byte, 4*n*nodes)}, nil
}

// MaxNodes is the most entries of typ one option can pre-allocate: the option's length is one
// octet and RemainingLen seven bits.
func MaxNodes(typ Type) int {
	n := typ.NodeLen()
	if n == 0 {
		return 0
	}
	return min(maxRemaining, (255-headerLen)/4) / n
}

// Overflow reports whether a hop found no room for its entry.
func (t *Trace) Overflow() bool { return t.Flags&FlagOverflow != 0 }

// Len is the option's size on the wire, type and length octets included.
func (t *Trace) Len() int { return 2 + headerLen + len(t.Data) }

// AppendBinary appends the Hop-by-Hop option (type, length, data).
func (t *Trace) AppendBinary(b []byte) ([]byte, error) {
	if len(t.Data)%4 != 0 || int(t.Remaining)*4 > len(t.Data) || t.NodeLen > 0x1f || t.Flags > 0xf || t.Remaining > maxRemaining || t.Type>>24 != 0 {
		return b, errors.New("ioam: inconsistent trace")
	}
	if headerLen+len(t.Data) > 255 {
		return b, fmt.Errorf("ioam: option of %d octets, at most 255", headerLen+len(t.Data))
	}
	b = append(b, OptionType, byte(headerLen+len(t.Data)), 0, TraceOptionType)
	b = binary.BigEndian.AppendUint16(b, t.Namespace)
	b = binary.BigEndian.AppendUint16(b, uint16(t.NodeLen)<<11|uint16(t.Flags)<<7|uint16(t.Remaining))
	b = binary.BigEndian.AppendUint32(b, uint32(t.Type)<<8)
	return append(b, t.Data...), nil
}

// Errors of Parse.
var (
	ErrShort    = errors.New("ioam: option truncated")
	ErrNotTrace = errors.New("ioam: not a Pre-allocated Trace option")
)

// Parse reads a Pre-allocated Trace option from b, which starts at its option type; it returns
// the trace (Data aliases b) and the option's length on the wire.
func Parse(b []byte) (Trace, int, error) {
	if len(b) < 2 {
		return Trace{}, 0, ErrShort
	}
	if b[0] != OptionType {
		return Trace{}, 0, fmt.Errorf("ioam: option type %#02x, want %#02x", b[0], OptionType)
	}
	n := 2 + int(b[1])
	if len(b) < n || n < 2+headerLen {
		return Trace{}, 0, ErrShort
	}
	if b[3] != TraceOptionType {
		return Trace{}, n, ErrNotTrace
	}
	lens := binary.BigEndian.Uint16(b[6:])
	t := Trace{
		Namespace: binary.BigEndian.Uint16(b[4:]),
		NodeLen:   uint8(lens >> 11),
		Flags:     uint8(lens>>7) & 0xf,
		Remaining: uint8(lens & 0x7f),
		Type:      Type(binary.BigEndian.Uint32(b[8:]) >> 8),
		Data:      b[2+headerLen : n],
	}
	if len(t.Data)%4 != 0 {
		return t, n, fmt.Errorf("ioam: node data of %d octets, not a multiple of 4", len(t.Data))
	}
	if int(t.Remaining)*4 > len(t.Data) {
		return t, n, fmt.Errorf("ioam: RemainingLen %d (4-octet units) beyond the %d octets of node data", t.Remaining, len(t.Data))
	}
	return t, n, nil
}

// Entry is one hop's record. A field the trace type does not ask for is absent (its Has bit
// false); one Linux could not fill or does not support is listed in Unsupported by its bit.
type Entry struct {
	// HopLimit is the hop limit as the hop received the packet (bit 0 or 8), NodeID the node's
	// id (24 bits with bit 0, 56 with bit 8).
	HopLimit uint8
	NodeID   uint64
	// Ingress and Egress interface ids (16 bits with bit 1, 32 with bit 9).
	Ingress, Egress uint32
	// Seconds and Fraction of the receive time (bits 2 and 3; Linux: realtime, microseconds).
	Seconds, Fraction uint32
	// NamespaceData (bit 5, or bit 10 wide), QueueDepth (bit 6, bytes in the egress queue).
	NamespaceData uint64
	QueueDepth    uint32
	// Unsupported lists the bits whose field read Unavailable (all ones).
	Unsupported []int
}

// Entries returns the entries the hops filled, the first hop first. It fails on a trace whose
// NodeLen does not match its type, or whose filled area is not a whole number of entries.
func (t *Trace) Entries() ([]Entry, error) {
	n := int(t.NodeLen)
	if n == 0 || n != t.Type.NodeLen() {
		return nil, fmt.Errorf("ioam: NodeLen %d, the trace type %#06x needs %d", n, uint32(t.Type), t.Type.NodeLen())
	}
	if t.Type.Has(BitOpaqueState) {
		return nil, errors.New("ioam: opaque state snapshots (bit 22) are not decoded")
	}
	filled := t.Data[int(t.Remaining)*4:]
	if len(filled)%(4*n) != 0 {
		return nil, fmt.Errorf("ioam: %d octets filled, not a whole number of %d-octet entries", len(filled), 4*n)
	}
	out := make([]Entry, len(filled)/(4*n))
	for i := range out {
		// The last entry in the area is the first hop's.
		off := len(filled) - (i+1)*4*n
		out[i] = t.entry(filled[off : off+4*n])
	}
	return out, nil
}

// entry decodes one entry, whose length matches t.Type.
func (t *Trace) entry(b []byte) Entry {
	var e Entry
	u32 := func(bit int) (uint32, bool) {
		v := binary.BigEndian.Uint32(b)
		b = b[4:]
		if v == Unavailable {
			e.Unsupported = append(e.Unsupported, bit)
			return 0, false
		}
		return v, true
	}
	for bit := 0; bit < 22; bit++ {
		if !t.Type.Has(bit) {
			continue
		}
		switch bit {
		case BitHopLimitNodeID:
			v := binary.BigEndian.Uint32(b)
			b = b[4:]
			e.HopLimit, e.NodeID = uint8(v>>24), uint64(v&0xffffff)
		case BitInterfaces:
			e.Ingress, e.Egress = uint32(binary.BigEndian.Uint16(b)), uint32(binary.BigEndian.Uint16(b[2:]))
			if e.Ingress == 0xffff && e.Egress == 0xffff {
				e.Unsupported = append(e.Unsupported, bit)
			}
			b = b[4:]
		case BitTimestampSeconds:
			e.Seconds, _ = u32(bit)
		case BitTimestampFraction:
			e.Fraction, _ = u32(bit)
		case BitNamespaceData:
			v, _ := u32(bit)
			e.NamespaceData = uint64(v)
		case BitQueueDepth:
			e.QueueDepth, _ = u32(bit)
		case BitHopLimitNodeIDWide:
			v := binary.BigEndian.Uint64(b)
			b = b[8:]
			e.HopLimit, e.NodeID = uint8(v>>56), v&(1<<56-1)
		case BitInterfacesWide:
			e.Ingress, e.Egress = binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
			if e.Ingress == Unavailable && e.Egress == Unavailable {
				e.Unsupported = append(e.Unsupported, bit)
			}
			b = b[8:]
		case BitNamespaceDataWide:
			e.NamespaceData = binary.BigEndian.Uint64(b)
			b = b[8:]
		default: // transit delay, checksum complement, buffer occupancy, bits 12–21
			u32(bit)
		}
	}
	return e
}

// AppendHopByHop appends an IPv6 Hop-by-Hop Options header that carries t and is followed by
// next: the IOAM option is preceded by a PadN of two octets so that it starts 4n-aligned when
// the header follows the 40-octet IPv6 header (Linux drops a trace that does not), and padded
// to a multiple of 8 octets.
func AppendHopByHop(b []byte, next uint8, t *Trace) ([]byte, error) {
	size := 4 + t.Len()
	pad := hbh.PadLen(size)
	start := len(b)
	b = append(b, next, byte((size+pad)/8-1), 1, 0) // PadN of 2
	b, err := t.AppendBinary(b)
	if err != nil {
		return b[:start], err
	}
	return hbh.Pad(b, pad), nil
}

// Record is what a trace held when it came back: the entries of the hops that filled one, in
// hop order, and what the header says of those that did not.
type Record struct {
	Namespace uint16
	Type      Type
	// Overflow is set when a hop found no room for its entry (RFC 9197 §4.4.1): the trace
	// pre-allocated fewer entries than the path has IOAM hops.
	Overflow bool
	// Free is the number of entries still free.
	Free    int
	Entries []Entry
}

// Record decodes the trace into a Record (which shares nothing with t's data).
func (t *Trace) Record() (Record, error) {
	es, err := t.Entries()
	if err != nil {
		return Record{}, err
	}
	return Record{Namespace: t.Namespace, Type: t.Type, Overflow: t.Overflow(), Free: int(t.Remaining) / int(t.NodeLen), Entries: es}, nil
}

// HasTime reports whether the entry carries a receive time (bits 2 and 3 asked for and filled).
func (r *Record) HasTime(e *Entry) bool {
	return r.Type.Has(BitTimestampSeconds) && r.Type.Has(BitTimestampFraction) &&
		!e.Unsupports(BitTimestampSeconds) && !e.Unsupports(BitTimestampFraction)
}

// Unsupports reports whether the hop said it does not support bit b (the field read all ones).
func (e *Entry) Unsupports(b int) bool {
	for _, u := range e.Unsupported {
		if u == b {
			return true
		}
	}
	return false
}

// BitName names a trace-type bit as RFC 9197 §4.4.1 does, shortened.
func BitName(b int) string {
	switch b {
	case BitHopLimitNodeID:
		return "hop_limit_node_id"
	case BitInterfaces:
		return "interfaces"
	case BitTimestampSeconds:
		return "timestamp_seconds"
	case BitTimestampFraction:
		return "timestamp_fraction"
	case BitTransitDelay:
		return "transit_delay"
	case BitNamespaceData:
		return "namespace_data"
	case BitQueueDepth:
		return "queue_depth"
	case BitChecksumComplement:
		return "checksum_complement"
	case BitHopLimitNodeIDWide:
		return "hop_limit_node_id_wide"
	case BitInterfacesWide:
		return "interfaces_wide"
	case BitNamespaceDataWide:
		return "namespace_data_wide"
	case BitBufferOccupancy:
		return "buffer_occupancy"
	case BitOpaqueState:
		return "opaque_state"
	}
	return fmt.Sprintf("bit%d", b)
}

// Time is the entry's receive time as Linux writes it: POSIX seconds and microseconds of the
// hop's realtime clock (net/ipv6/ioam6.c). Valid only when Record.HasTime says so.
func (e *Entry) Time() time.Time {
	return time.Unix(int64(e.Seconds), int64(e.Fraction)*int64(time.Microsecond))
}

// ParseType reads a trace type as a user writes it: a comma-separated list of bit names
// (BitName's, e.g. "hop_limit_node_id,interfaces,timestamp_seconds,timestamp_fraction") or bit
// numbers (0-21), or the 24 bits as one hexadecimal number ("0xf00000").
func ParseType(s string) (Type, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		v, err := strconv.ParseUint(s[2:], 16, 24)
		if err != nil {
			return 0, fmt.Errorf("trace type %q: not a 24-bit hexadecimal number", s)
		}
		return Type(v), nil
	}
	var t Type
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		bit := -1
		if n, err := strconv.Atoi(f); err == nil {
			bit = n
		} else {
			for b := 0; b < 24; b++ {
				if BitName(b) == f {
					bit = b
				}
			}
		}
		if bit < 0 || bit > 21 {
			return 0, fmt.Errorf("trace type: %q is not a bit name (%s) or number 0-21", f, strings.Join(bitNames(), ", "))
		}
		t |= Bits(bit)
	}
	return t, nil
}

func bitNames() []string {
	var out []string
	for b := 0; b < 12; b++ {
		out = append(out, BitName(b))
	}
	return out
}

// Names lists the bits set in t by name, lowest bit number first.
func (t Type) Names() []string {
	var out []string
	for b := 0; b < 24; b++ {
		if t.Has(b) {
			out = append(out, BitName(b))
		}
	}
	return out
}
