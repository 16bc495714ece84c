// Package pt encodes and decodes SRv6 Path Tracing (draft-filsfils-ippm-path-tracing, formerly
// draft-filsfils-spring-path-tracing): the Hop-by-Hop Path Tracing option whose Midpoint
// Compressed Data (MCD) stack every PT midpoint pushes its 3-octet record onto, and the SRH
// Path Tracing TLV in which the source puts its full transmit timestamp. It is pure: bytes in,
// values out.
//
// The codes and layouts are those the implementations agree on (Linux's netgroup srv6-pt
// patches, VPP's sr_pt, SAI's path-tracing port attributes); IANA has assigned none yet:
//
//	Hop-by-Hop header with the PT option (option at 4n+2, no padding with 12 MCDs):
//	 0               1               2               3
//	+---------------+---------------+---------------+---------------+
//	|  Next Header  | Hdr Ext Len=4 |  Option 0x32  | Opt Len = 36  |
//	+---------------+---------------+---------------+---------------+
//	|            MCD 1 (the latest midpoint)        |   MCD 2 ...   |
//	+---------------+---------------+---------------+---------------+
//	|   ...                                    ... MCD 12 (oldest)  |
//	+---------------+---------------+---------------+---------------+
//
//	MCD (3 octets):
//	+-----------------------+-------+---------------+
//	|  OIF (12 bits)        |  OIL  |  TTS (8 bits) |
//	+-----------------------+-------+---------------+
//
//	SRH Path Tracing TLV (source node information, 16 octets):
//	+---------------+---------------+-----------------------+-------+
//	|  Type = 128   |  Length = 14  |  IF ID (12 bits)      | IF LD |
//	+---------------+---------------+-----------------------+-------+
//	|                  T64: seconds (32 bits)                       |
//	|                  T64: nanoseconds (32 bits)                   |
//	+-------------------------------+-------------------------------+
//	|          Session ID           |        Sequence Number        |
//	+-------------------------------+-------------------------------+
//
// A midpoint shifts the stack by one MCD towards its end (the oldest record falls off a full
// stack) and writes its own at the front: OIF, the outgoing interface's id; OIL, its load;
// TTS, eight bits of the nanoseconds field of its clock at transmission, which bits the
// interface's timestamp template says.
package pt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/srv6oam/srv6oam/oam/hbh"
)

const (
	// OptionType is the Hop-by-Hop option type of Path Tracing: 0x32, "skip if unknown", data
	// may change en route.
	OptionType = 0x32
	// TLVType is the SRH TLV type of the source's Path Tracing TLV; TLVLen its Length field.
	TLVType = 128
	TLVLen  = 14
	// TLVSize is the whole TLV, type and length included.
	TLVSize = 2 + TLVLen
	// MCDSize is the size of one Midpoint Compressed Data.
	MCDSize = 3
	// DefaultMCDs is the stack the implementations pre-allocate and the one Linux's PT kernel
	// accepts: 12 MCDs, 36 octets, a Hop-by-Hop header of 40 octets.
	DefaultMCDs = 12
	// MaxMCDs is the largest stack an option holds (its length is one octet).
	MaxMCDs = 255 / MCDSize
	// MaxInterfaceID is the largest interface id an MCD holds (12 bits); 0 is left for "none".
	MaxInterfaceID = 0xfff
	// MaxLoad is the largest load (4 bits).
	MaxLoad = 0xf
)

// ErrShort is returned for bytes that end before what they announce.
var ErrShort = errors.New("path tracing: truncated")

// MCD is one midpoint's record.
type MCD struct {
	Interface uint16 // outgoing interface id, 12 bits
	Load      uint8  // outgoing interface load, 4 bits
	TTS       uint8  // truncated timestamp
}

// Empty reports whether no midpoint wrote m: a pre-allocated MCD is all zeros.
func (m MCD) Empty() bool { return m == MCD{} }

// Put writes m into b[:3].
func (m MCD) Put(b []byte) {
	_ = b[2]
	binary.BigEndian.PutUint16(b, (m.Interface&MaxInterfaceID)<<4|uint16(m.Load&MaxLoad))
	b[2] = m.TTS
}

// DecodeMCD reads an MCD from b[:3].
func DecodeMCD(b []byte) MCD {
	v := binary.BigEndian.Uint16(b)
	return MCD{Interface: v >> 4, Load: uint8(v & MaxLoad), TTS: b[2]}
}

// Option is a Hop-by-Hop Path Tracing option. Stack holds the MCDs, the latest first; decoded,
// it aliases the bytes it was read from.
type Option struct {
	Stack []byte
}

// NewOption makes an option with room for n MCDs, all empty.
func NewOption(n int) (Option, error) {
	if n < 1 || n > MaxMCDs {
		return Option{}, fmt.Errorf("path tracing option: %d MCDs: want 1 to %d", n, MaxMCDs)
	}
	return Option{Stack: make([]byte, n*MCDSize)}, nil
}

// Len is the option's size, type and length octets included.
func (o *Option) Len() int { return 2 + len(o.Stack) }

// Cap is the number of MCDs the stack holds.
func (o *Option) Cap() int { return len(o.Stack) / MCDSize }

// MCD returns the i-th MCD of the stack, 0 the latest.
func (o *Option) MCD(i int) MCD { return DecodeMCD(o.Stack[i*MCDSize:]) }

// Push does what a midpoint does: shift the stack one MCD towards its end, dropping the
// oldest, and write m at the front.
func (o *Option) Push(m MCD) {
	copy(o.Stack[MCDSize:], o.Stack[:len(o.Stack)-MCDSize])
	m.Put(o.Stack)
}

// Hops returns the MCDs midpoints wrote in path order (the first midpoint first): the
// non-empty ones from the front of the stack. Full says the stack's last MCD is written, so
// older records may have fallen off.
func (o *Option) Hops() (hops []MCD, full bool) {
	n := 0
	for n < o.Cap() && !o.MCD(n).Empty() {
		n++
	}
	hops = make([]MCD, n)
	for i := range n {
		hops[n-1-i] = o.MCD(i)
	}
	return hops, n == o.Cap() && n > 0
}

// AppendBinary appends the option (type, length, stack).
func (o *Option) AppendBinary(b []byte) ([]byte, error) {
	if len(o.Stack) == 0 || len(o.Stack)%MCDSize != 0 || len(o.Stack) > 255 {
		return b, fmt.Errorf("path tracing option: stack of %d octets: want a multiple of %d, 3 to 255", len(o.Stack), MCDSize)
	}
	b = append(b, OptionType, byte(len(o.Stack)))
	return append(b, o.Stack...), nil
}

// ParseOption reads a Path Tracing option at the start of b (its type octet) and returns it
// and its size. Stack aliases b.
func ParseOption(b []byte) (Option, int, error) {
	if len(b) < 2 {
		return Option{}, 0, fmt.Errorf("path tracing option: %w: %d octets", ErrShort, len(b))
	}
	if b[0] != OptionType {
		return Option{}, 0, fmt.Errorf("path tracing option: type %#02x, want %#02x", b[0], OptionType)
	}
	n := int(b[1])
	if n == 0 || n%MCDSize != 0 {
		return Option{}, 0, fmt.Errorf("path tracing option: length %d: want a non-zero multiple of %d", n, MCDSize)
	}
	if len(b) < 2+n {
		return Option{}, 0, fmt.Errorf("path tracing option: %w: %d octets of %d", ErrShort, len(b), 2+n)
	}
	return Option{Stack: b[2 : 2+n : 2+n]}, 2 + n, nil
}

// HopByHopLen is the size of the Hop-by-Hop header AppendHopByHop writes for o.
func HopByHopLen(o *Option) int {
	size := 2 + o.Len()
	return size + hbh.PadLen(size)
}

// AppendHopByHop appends an IPv6 Hop-by-Hop header that carries o and is followed by next: the
// option right after the header's two octets (4n+2 from the IPv6 header, the alignment the
// draft gives), then padding to a multiple of 8 octets (none for the default 12 MCDs).
func AppendHopByHop(b []byte, next uint8, o *Option) ([]byte, error) {
	size := 2 + o.Len()
	pad := hbh.PadLen(size)
	start := len(b)
	b = append(b, next, byte((size+pad)/8-1))
	b, err := o.AppendBinary(b)
	if err != nil {
		return b[:start], err
	}
	return hbh.Pad(b, pad), nil
}

// FindOption walks the options of a Hop-by-Hop header (b starts at its next-header octet and
// holds the whole header) and returns the Path Tracing option; ok is false when there is none.
// Options that overrun the header, and a PT option that does not parse, are errors.
func FindOption(b []byte) (o Option, ok bool, err error) {
	opt, ok, err := hbh.Find(b, func(opt []byte) bool { return opt[0] == OptionType })
	if errors.Is(err, hbh.ErrShort) {
		return Option{}, false, fmt.Errorf("hop-by-hop header: %w", ErrShort)
	}
	if err != nil || !ok {
		return Option{}, false, err
	}
	if o, _, err = ParseOption(opt); err != nil {
		return Option{}, false, err
	}
	return o, true, nil
}

// Timestamp is the 64-bit timestamp of the source TLV: seconds (the low 32 bits of PTP's 48)
// and nanoseconds.
type Timestamp struct {
	Seconds     uint32
	Nanoseconds uint32
}

// TimestampOf is t as a Timestamp.
func TimestampOf(t time.Time) Timestamp {
	return Timestamp{Seconds: uint32(t.Unix()), Nanoseconds: uint32(t.Nanosecond())}
}

// Time is ts as a time.Time in the era of ref (the 32-bit seconds wrap every 136 years: the
// one nearest ref is taken).
func (ts Timestamp) Time(ref time.Time) time.Time {
	hi := ref.Unix() &^ 0xffffffff
	s := hi | int64(ts.Seconds)
	if d := s - ref.Unix(); d > 1<<31 {
		s -= 1 << 32
	} else if d < -(1 << 31) {
		s += 1 << 32
	}
	return time.Unix(s, int64(ts.Nanoseconds))
}

// SourceTLV is the source's SRH Path Tracing TLV.
type SourceTLV struct {
	Interface uint16 // the source's outgoing interface id, 12 bits
	Load      uint8  // its load, 4 bits
	T64       Timestamp
	Session   uint16
	Sequence  uint16
}

// AppendBinary appends the TLV (type, length, value: 16 octets, which keeps an SRH 8-octet
// aligned).
func (s *SourceTLV) AppendBinary(b []byte) []byte {
	var v [TLVSize]byte
	v[0], v[1] = TLVType, TLVLen
	binary.BigEndian.PutUint16(v[2:], (s.Interface&MaxInterfaceID)<<4|uint16(s.Load&MaxLoad))
	binary.BigEndian.PutUint32(v[4:], s.T64.Seconds)
	binary.BigEndian.PutUint32(v[8:], s.T64.Nanoseconds)
	binary.BigEndian.PutUint16(v[12:], s.Session)
	binary.BigEndian.PutUint16(v[14:], s.Sequence)
	return append(b, v[:]...)
}

// ParseSourceTLV reads the TLV at the start of b (its type octet).
func ParseSourceTLV(b []byte) (SourceTLV, error) {
	if len(b) < 2 {
		return SourceTLV{}, fmt.Errorf("path tracing TLV: %w: %d octets", ErrShort, len(b))
	}
	if b[0] != TLVType || b[1] != TLVLen {
		return SourceTLV{}, fmt.Errorf("path tracing TLV: type %d length %d, want type %d length %d", b[0], b[1], TLVType, TLVLen)
	}
	if len(b) < TLVSize {
		return SourceTLV{}, fmt.Errorf("path tracing TLV: %w: %d octets of %d", ErrShort, len(b), TLVSize)
	}
	v := binary.BigEndian.Uint16(b[2:])
	return SourceTLV{
		Interface: v >> 4, Load: uint8(v & MaxLoad),
		T64:      Timestamp{Seconds: binary.BigEndian.Uint32(b[4:]), Nanoseconds: binary.BigEndian.Uint32(b[8:])},
		Session:  binary.BigEndian.Uint16(b[12:]),
		Sequence: binary.BigEndian.Uint16(b[14:]),
	}, nil
}

// Template is a timestamp template: which eight bits of the nanoseconds field a midpoint
// puts in TTS. The four are those of SAI's SAI_PORT_PATH_TRACING_TIMESTAMP_TYPE (bits 8-15,
// 12-19, 16-23, 20-27), which VPP and SONiC use too; 3 is their default.
type Template uint8

const (
	Template1 Template = 1 // bits 8-15: 256 ns resolution, wraps every 65.536 µs
	Template2 Template = 2 // bits 12-19: 4.096 µs, wraps every 1.048576 ms
	Template3 Template = 3 // bits 16-23: 65.536 µs, wraps every 16.777216 ms
	Template4 Template = 4 // bits 20-27: 1.048576 ms, wraps every 268.435456 ms
)

// DefaultTemplate is the template of SAI, SONiC and VPP when none is configured.
const DefaultTemplate = Template3

// Valid reports whether t is one of the four templates.
func (t Template) Valid() bool { return t >= Template1 && t <= Template4 }

// Shift is the position of TTS's lowest bit in the nanoseconds field.
func (t Template) Shift() uint { return 4 + 4*uint(t) }

// Resolution is the time one unit of TTS stands for.
func (t Template) Resolution() time.Duration { return time.Duration(1) << t.Shift() }

// Wrap is the period after which TTS repeats within a second.
func (t Template) Wrap() time.Duration { return time.Duration(1) << (t.Shift() + 8) }

// Truncate is TTS for a clock reading whose nanoseconds field is nsec.
func (t Template) Truncate(nsec uint32) uint8 { return uint8(nsec >> t.Shift()) }

// ParseTemplate reads a template by number (1-4).
func ParseTemplate(s string) (Template, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || !Template(n).Valid() {
		return 0, fmt.Errorf("timestamp template %q: want 1 (256 ns), 2 (4.096 µs), 3 (65.536 µs) or 4 (1.048576 ms)", s)
	}
	return Template(n), nil
}

// Unwrap finds when a midpoint wrote tts, knowing it wrote it between from and to (the
// probe's transmission and its return, say): the earliest such time whose nanoseconds field
// truncates to tts, and how many such times the window holds. One is an exact answer (to the
// template's resolution: the time returned is the start of the TTS unit); none says the
// midpoint's clock disagrees with the window's; more than one says the template wraps within
// the window and the hop is ambiguous.
func (t Template) Unwrap(tts uint8, from, to time.Time) (time.Time, int) {
	if !t.Valid() || to.Before(from) {
		return time.Time{}, 0
	}
	shift := t.Shift()
	unit := int64(1) << shift
	period := int64(1) << (shift + 8)
	offset := int64(tts) << shift
	var first time.Time
	n := 0
	for s := from.Unix(); s <= to.Unix(); s++ {
		lo, hi := int64(0), int64(1e9-1)
		if s == from.Unix() {
			// A TTS unit that began before from may still hold the midpoint's reading.
			lo = max(0, int64(from.Nanosecond())-unit+1)
		}
		if s == to.Unix() {
			hi = int64(to.Nanosecond())
		}
		if lo > hi {
			continue
		}
		// Times s + k·period + offset with lo ≤ value ≤ hi.
		k0 := ceilDiv(lo-offset, period)
		k1 := floorDiv(hi-offset, period)
		if k1 < k0 {
			continue
		}
		if n == 0 {
			first = time.Unix(s, k0*period+offset)
		}
		n += int(k1 - k0 + 1)
		if n > 1 {
			return first, n
		}
	}
	return first, n
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }
