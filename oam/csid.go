package oam

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// SIDStructure is how compressed SIDs are laid out (RFC 8986 §3.1, RFC 9800): a locator block of
// BlockBits, then C-SIDs of CSIDBits each (a node's locator-node and function: NEXT-C-SID's
// "LNFL"). A container is an address of that block holding C-SIDs one after the other, the
// rest zero (End of Container). Linux's `End flavors next-csid lblen L nflen N` is
// SIDStructure{L, N}; the uSID form (F3216) is {32, 16}, Linux's default.
type SIDStructure struct {
	BlockBits, CSIDBits int
}

// USID is the uSID structure, F3216: a 32-bit block and 16-bit C-SIDs.
var USID = SIDStructure{BlockBits: 32, CSIDBits: 16}

// IsZero reports whether s is unset: the segments are read as whole SIDs.
func (s SIDStructure) IsZero() bool { return s == SIDStructure{} }

// String is "32/16" (block bits / C-SID bits), the form ParseSIDStructure reads.
func (s SIDStructure) String() string { return fmt.Sprintf("%d/%d", s.BlockBits, s.CSIDBits) }

// Validate checks s by the kernel's own rule (seg6_local.c): each length a multiple of 8 from 8
// to 120 bits, together at most 128.
func (s SIDStructure) Validate() error {
	for _, l := range []struct {
		name string
		v    int
	}{{"block", s.BlockBits}, {"C-SID", s.CSIDBits}} {
		if l.v < 8 || l.v > 120 || l.v%8 != 0 {
			return fmt.Errorf("SID structure %s: %s length %d bits: want a multiple of 8 from 8 to 120", s, l.name, l.v)
		}
	}
	if s.BlockBits+s.CSIDBits > 128 {
		return fmt.Errorf("SID structure %s: block and C-SID take %d bits, more than 128", s, s.BlockBits+s.CSIDBits)
	}
	return nil
}

// ParseSIDStructure reads "BLOCK/CSID" in bits ("32/16"), or "lblen=32,nflen=16" as Linux
// writes it.
func ParseSIDStructure(text string) (SIDStructure, error) {
	var s SIDStructure
	var a, b string
	if strings.Contains(text, "=") {
		for _, kv := range strings.Split(text, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			switch {
			case !ok:
				return s, fmt.Errorf("SID structure %q: %q is not key=value (want lblen=N,nflen=N)", text, kv)
			case k == "lblen":
				a = v
			case k == "nflen":
				b = v
			default:
				return s, fmt.Errorf("SID structure %q: unknown key %q (want lblen and nflen)", text, k)
			}
		}
		if a == "" || b == "" {
			return s, fmt.Errorf("SID structure %q: want both lblen and nflen", text)
		}
	} else {
		var ok bool
		if a, b, ok = strings.Cut(text, "/"); !ok {
			return s, fmt.Errorf("SID structure %q: want BLOCK/CSID bits, like 32/16", text)
		}
	}
	var err error
	if s.BlockBits, err = strconv.Atoi(strings.TrimSpace(a)); err != nil {
		return s, fmt.Errorf("SID structure %q: block length %q is not a number", text, a)
	}
	if s.CSIDBits, err = strconv.Atoi(strings.TrimSpace(b)); err != nil {
		return s, fmt.Errorf("SID structure %q: C-SID length %q is not a number", text, b)
	}
	return s, s.Validate()
}

// Slots is how many C-SIDs one container holds.
func (s SIDStructure) Slots() int { return (128 - s.BlockBits) / s.CSIDBits }

// Block is the locator block of a.
func (s SIDStructure) Block(a netip.Addr) netip.Prefix {
	return netip.PrefixFrom(a, s.BlockBits).Masked()
}

// CSIDs returns the C-SIDs a holds, in the order they are visited, up to the first all-zero one
// (End of Container). An address whose first C-SID is zero holds none.
func (s SIDStructure) CSIDs(a netip.Addr) []uint64 {
	v := addrBits(a)
	var out []uint64
	for i := 0; i < s.Slots(); i++ {
		c := field(v, s.BlockBits+i*s.CSIDBits, s.CSIDBits)
		if c == 0 {
			break
		}
		out = append(out, c)
	}
	return out
}

// Container packs csids after block into one address; they must fit and be non-zero.
func (s SIDStructure) Container(block netip.Prefix, csids []uint64) (netip.Addr, error) {
	if block.Bits() != s.BlockBits {
		return netip.Addr{}, fmt.Errorf("block %s: want a /%d for SID structure %s", block, s.BlockBits, s)
	}
	if len(csids) == 0 || len(csids) > s.Slots() {
		return netip.Addr{}, fmt.Errorf("%d C-SIDs: a container of structure %s holds 1 to %d", len(csids), s, s.Slots())
	}
	v := addrBits(block.Masked().Addr())
	for i, c := range csids {
		if c == 0 || c >= 1<<s.CSIDBits {
			return netip.Addr{}, fmt.Errorf("C-SID %d (%x): want 1 to %x (%d bits)", i+1, c, uint64(1)<<s.CSIDBits-1, s.CSIDBits)
		}
		setField(v, s.BlockBits+i*s.CSIDBits, s.CSIDBits, c)
	}
	return fromBits(v), nil
}

// Shift is what a node that consumes the first C-SID of a does (NEXT-C-SID, RFC 9800 §4.1):
// the C-SIDs after it move one slot forward, the last slot becomes zero.
func (s SIDStructure) Shift(a netip.Addr) netip.Addr {
	v := addrBits(a)
	n := s.Slots()
	for i := 0; i < n-1; i++ {
		setField(v, s.BlockBits+i*s.CSIDBits, s.CSIDBits, field(v, s.BlockBits+(i+1)*s.CSIDBits, s.CSIDBits))
	}
	setField(v, s.BlockBits+(n-1)*s.CSIDBits, s.CSIDBits, 0)
	return fromBits(v)
}

// CSIDAddr is the address a C-SID stands for on its own: block, the C-SID, zeros (the
// locator-node of the node that consumes it, fcbb:0:300:: for C-SID 0300 in fcbb:0::/32).
func (s SIDStructure) CSIDAddr(block netip.Prefix, csid uint64) netip.Addr {
	v := addrBits(block.Masked().Addr())
	setField(v, s.BlockBits, s.CSIDBits, csid)
	return fromBits(v)
}

// FormatCSID writes a C-SID in hex, zero-padded to its width ("0300"), as operators write it.
func (s SIDStructure) FormatCSID(c uint64) string {
	return fmt.Sprintf("%0*x", s.CSIDBits/4, c)
}

// IsContainer reports whether a reads as a container of s holding more than one C-SID, or one
// C-SID followed by zeros: every non-zero C-SID is followed only by non-zero ones until the
// first zero, after which everything is zero.
func (s SIDStructure) IsContainer(a netip.Addr) bool {
	if s.IsZero() {
		return false
	}
	v := addrBits(a)
	zero := false
	for i := 0; i < s.Slots(); i++ {
		c := field(v, s.BlockBits+i*s.CSIDBits, s.CSIDBits)
		if zero && c != 0 {
			return false
		}
		if c == 0 {
			if i == 0 {
				return false
			}
			zero = true
		}
	}
	// Bits after the last whole slot, if any, must be zero too.
	used := s.BlockBits + s.Slots()*s.CSIDBits
	return used == 128 || field(v, used, 128-used) == 0
}

// ErrNoCSIDs: a compressed segment list names a block but no C-SID.
var ErrNoCSIDs = errors.New("no C-SIDs after the block")

// ParseCompressed reads a compressed run: "BLOCK/LEN CSID,CSID,..." or "BLOCK/LEN{CSID,CSID,...}",
// the C-SIDs in hex ("fcbb:0::/32 0400,0300,0200,d46"). The block's length is the structure's
// block length; the C-SIDs' width is csidBits (0: from the widest C-SID written, rounded up to
// whole bytes: "0400" is 16 bits). The C-SIDs are packed into as few containers as hold them,
// in order: one segment each.
func ParseCompressed(text string, csidBits int) (SegmentList, SIDStructure, error) {
	t := strings.TrimSpace(text)
	var blockText, list string
	if i := strings.IndexByte(t, '{'); i >= 0 {
		if !strings.HasSuffix(t, "}") {
			return nil, SIDStructure{}, fmt.Errorf("compressed segments %q: no closing brace", text)
		}
		blockText, list = t[:i], t[i+1:len(t)-1]
	} else {
		var ok bool
		if blockText, list, ok = strings.Cut(t, " "); !ok {
			return nil, SIDStructure{}, fmt.Errorf("compressed segments %q: want BLOCK/LEN followed by C-SIDs, like \"fcbb:0::/32 0400,0300\"", text)
		}
	}
	block, err := netip.ParsePrefix(strings.TrimSpace(blockText))
	if err != nil || !block.Addr().Is6() || block.Addr().Is4In6() {
		return nil, SIDStructure{}, fmt.Errorf("compressed segments %q: block %q is not an IPv6 prefix", text, blockText)
	}
	if block.Masked() != block {
		return nil, SIDStructure{}, fmt.Errorf("compressed segments %q: block %s has bits set after its length (want %s)", text, block, block.Masked())
	}
	var csids []uint64
	width := 0
	for i, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		c, err := strconv.ParseUint(f, 16, 64)
		if err != nil || len(f) > 16 {
			return nil, SIDStructure{}, fmt.Errorf("compressed segments %q: C-SID %d %q is not a hex number", text, i+1, f)
		}
		if c == 0 {
			return nil, SIDStructure{}, fmt.Errorf("compressed segments %q: C-SID %d is zero (End of Container is implied)", text, i+1)
		}
		width = max(width, (len(f)+1)/2*8)
		csids = append(csids, c)
	}
	if len(csids) == 0 {
		return nil, SIDStructure{}, fmt.Errorf("compressed segments %q: %w", text, ErrNoCSIDs)
	}
	if csidBits == 0 {
		csidBits = width
	}
	s := SIDStructure{BlockBits: block.Bits(), CSIDBits: csidBits}
	if err := s.Validate(); err != nil {
		return nil, s, fmt.Errorf("compressed segments %q: %w", text, err)
	}
	if s.CSIDBits > 64 {
		return nil, s, fmt.Errorf("compressed segments %q: C-SIDs of %d bits: srv6oam reads C-SIDs of at most 64", text, s.CSIDBits)
	}
	var out SegmentList
	for len(csids) > 0 {
		n := min(len(csids), s.Slots())
		c, err := s.Container(block, csids[:n])
		if err != nil {
			return nil, s, fmt.Errorf("compressed segments %q: %w", text, err)
		}
		out = append(out, c)
		csids = csids[n:]
	}
	return out, s, nil
}

// u128 is an address as two 64-bit halves, for the bit fields of compressed SIDs. C-SIDs are read
// and written up to 64 bits wide (the kernel allows 120, RFC 9800 uses 16 and 32).
type u128 struct{ hi, lo uint64 }

func addrBits(a netip.Addr) *u128 {
	b := a.As16()
	var v u128
	for i := 0; i < 8; i++ {
		v.hi = v.hi<<8 | uint64(b[i])
		v.lo = v.lo<<8 | uint64(b[8+i])
	}
	return &v
}

func fromBits(v *u128) netip.Addr {
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[7-i] = byte(v.hi >> (8 * i))
		b[15-i] = byte(v.lo >> (8 * i))
	}
	return netip.AddrFrom16(b)
}

// field reads n bits (n ≤ 64) starting at bit off (0 = most significant).
func field(v *u128, off, n int) uint64 {
	if n == 0 {
		return 0
	}
	r := shr(*v, uint(128-off-n))
	return r.lo & ones(n)
}

// setField writes the low n bits (n ≤ 64) of c at bit off.
func setField(v *u128, off, n int, c uint64) {
	shift := uint(128 - off - n)
	m := shl(u128{lo: ones(n)}, shift)
	x := shl(u128{lo: c & ones(n)}, shift)
	v.hi = v.hi&^m.hi | x.hi
	v.lo = v.lo&^m.lo | x.lo
}

func ones(n int) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return 1<<uint(n) - 1
}

func shr(v u128, s uint) u128 {
	switch {
	case s == 0:
		return v
	case s >= 128:
		return u128{}
	case s >= 64:
		return u128{lo: v.hi >> (s - 64)}
	}
	return u128{hi: v.hi >> s, lo: v.lo>>s | v.hi<<(64-s)}
}

func shl(v u128, s uint) u128 {
	switch {
	case s == 0:
		return v
	case s >= 128:
		return u128{}
	case s >= 64:
		return u128{hi: v.lo << (s - 64)}
	}
	return u128{hi: v.hi<<s | v.lo>>(64-s), lo: v.lo << s}
}
