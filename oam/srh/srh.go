package srh

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Wire constants of RFC 8754 and Linux's uapi/linux/seg6.h.
const (
	// RoutingType is the IPv6 Routing Type of the SRH.
	RoutingType = 4
	// FixedLen is the length of the SRH before the Segment List.
	FixedLen = 8
	// MaxLen is the longest SRH: (255+1)*8 bytes, the most Hdr Ext Len can say.
	MaxLen = 2048
	// MaxSegments is the most segments an SRH without TLVs can hold.
	MaxSegments = (MaxLen - FixedLen) / 16

	// FlagOAM is the O-flag of RFC 9259 (bit 2 of Flags).
	FlagOAM uint8 = 0x20
	// FlagHMAC is the legacy H-flag (bit 4) that Linux still requires before it looks for an
	// HMAC TLV (sr_has_hmac in uapi/linux/seg6.h).
	FlagHMAC uint8 = 0x08
)

// LayerTypeSRH is the gopacket layer type of an *SRH. Number 1754 is in the range gopacket
// leaves to applications (1000-1999).
var LayerTypeSRH = gopacket.RegisterLayerType(1754, gopacket.LayerTypeMetadata{
	Name:    "SRH",
	Decoder: gopacket.DecodeFunc(decodeSRH),
})

// canDecode is what an *SRH answers for in a DecodingLayerParser: the type an IPv6 layer hands
// on for next header 43 (whether or not Register was called), and LayerTypeSRH for a parser
// that starts at the SRH.
var canDecode = gopacket.NewLayerClass([]gopacket.LayerType{layers.LayerTypeIPv6Routing, LayerTypeSRH})

// SRH is the Segment Routing Header. Its zero value, given Segments, serializes.
//
// Segments are in TRAVEL ORDER (first segment first); the wire order is the reverse. A decoded
// SRH's Segments and TLVs are reused by the next DecodeFromBytes, and TLV values are views into
// the decoded bytes: copy what must outlive the packet buffer.
type SRH struct {
	layers.BaseLayer

	// NextHeader is the header after the SRH: 41 (IPv6) in encapsulation mode, 58 (ICMPv6),
	// 17 (UDP), 59 (No Next Header) and so on.
	NextHeader layers.IPProtocol
	// HdrExtLen is the length in 8-byte units, not counting the first 8 bytes. Set by decode;
	// computed by SerializeTo when FixLengths is set, written as is otherwise.
	HdrExtLen uint8
	// SegmentsLeft indexes the WIRE list: the active segment is Segment List[SegmentsLeft],
	// i.e. Segments[len(Segments)-1-SegmentsLeft]. It equals len(Segments) only in a reduced SRH
	// that no segment endpoint has processed yet (see Reduced).
	SegmentsLeft uint8
	// LastEntry is the wire index of the last element of the Segment List (len(Segments)-1).
	// Set by decode; computed by SerializeTo when FixLengths is set, written as is otherwise.
	LastEntry uint8
	// Flags: FlagOAM, FlagHMAC; other bits are kept as they are.
	Flags uint8
	// Tag marks packets as part of a class or group (RFC 8754 §2).
	Tag uint16
	// Segments is the segment list in travel order: Segments[0] is visited first,
	// Segments[len-1] is the final segment.
	Segments []netip.Addr
	// TLVs in wire order, unknown ones included, kept byte for byte.
	TLVs []TLV

	// pseudo and pseudoDst back ChecksumLayer without allocating.
	pseudo    layers.IPv6
	pseudoDst [16]byte
}

// LayerType returns LayerTypeSRH.
func (s *SRH) LayerType() gopacket.LayerType { return LayerTypeSRH }

// CanDecode returns the layer types an *SRH decodes in a DecodingLayerParser:
// layers.LayerTypeIPv6Routing and LayerTypeSRH.
func (s *SRH) CanDecode() gopacket.LayerClass { return canDecode }

// NextLayerType returns the layer type of NextHeader.
func (s *SRH) NextLayerType() gopacket.LayerType { return s.NextHeader.LayerType() }

// Reduced reports whether the SRH is a reduced one (RFC 8986 H.Encaps.Red) that no segment
// endpoint has processed yet: Segments Left is Last Entry + 1, because the first segment was
// omitted from the list and lives only in the IPv6 destination address. Segments then holds
// the segments after the first. Once the first endpoint has decremented Segments Left a reduced
// SRH cannot be told apart from a full one whose first segment was already visited.
func (s *SRH) Reduced() bool { return int(s.SegmentsLeft) >= len(s.Segments) }

// ActiveSegment returns the segment Segments Left points at, the one the IPv6 destination
// address holds while the packet travels to it. ok is false in a reduced SRH that points at the
// omitted first segment, and for an out-of-range Segments Left.
func (s *SRH) ActiveSegment() (seg netip.Addr, ok bool) {
	i := len(s.Segments) - 1 - int(s.SegmentsLeft)
	if i < 0 || i >= len(s.Segments) {
		return netip.Addr{}, false
	}
	return s.Segments[i], true
}

// FinalSegment returns the last segment of the travel order (Segment List[0] on the wire), the
// destination of the upper-layer pseudo-header (RFC 8200 §8.1).
func (s *SRH) FinalSegment() (netip.Addr, bool) {
	if len(s.Segments) == 0 {
		return netip.Addr{}, false
	}
	return s.Segments[len(s.Segments)-1], true
}

// DecodeFromBytes decodes an SRH and checks it the way Linux's seg6_validate_srh does on
// receipt (reduced SRHs allowed). A malformed header yields a *FieldError and leaves s
// undefined. It allocates only when Segments or TLVs must grow beyond what an earlier decode
// left.
func (s *SRH) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < FixedLen {
		df.SetTruncated()
		return fieldErr("Hdr Ext Len", "truncated: the fixed part needs %d bytes, the packet has %d", FixedLen, len(data))
	}
	if data[2] != RoutingType {
		return fieldErr("Routing Type", "is %d, want %d (Segment Routing Header)", data[2], RoutingType)
	}
	hdrExtLen := data[1]
	length := (int(hdrExtLen) + 1) * 8
	if length > len(data) {
		df.SetTruncated()
		return fieldErr("Hdr Ext Len", "%d says %d bytes, the packet has %d", hdrExtLen, length, len(data))
	}
	lastEntry, segmentsLeft := data[4], data[3]
	// seg6_validate_srh: max_last_entry = hdrlen/2 - 1.
	if maxLastEntry := int(hdrExtLen)/2 - 1; int(lastEntry) > maxLastEntry {
		return fieldErr("Last Entry", "%d means %d segment(s) (%d bytes), Hdr Ext Len %d leaves room for %d",
			lastEntry, int(lastEntry)+1, (int(lastEntry)+1)*16, hdrExtLen, maxLastEntry+1)
	}
	if int(segmentsLeft) > int(lastEntry)+1 {
		return fieldErr("Segments Left", "%d exceeds Last Entry + 1 = %d", segmentsLeft, int(lastEntry)+1)
	}
	segEnd := FixedLen + (int(lastEntry)+1)*16

	// The TLV walk must end exactly at the header end; Linux knows no one-byte Pad1.
	tlvs := s.TLVs[:0]
	for off := segEnd; off < length; {
		if length-off < 2 {
			return fieldErr("TLV", "%d byte left at offset %d, a TLV needs at least 2 (type, length)", length-off, off)
		}
		end := off + 2 + int(data[off+1])
		if end > length {
			return fieldErr("TLV", "type %d at offset %d: length %d runs %d bytes past the header end (%d)",
				data[off], off, data[off+1], end-length, length)
		}
		tlvs = append(tlvs, TLV{Type: data[off], Value: data[off+2 : end : end]})
		off = end
	}

	segs := s.Segments[:0]
	for off := segEnd - 16; off >= FixedLen; off -= 16 {
		segs = append(segs, netip.AddrFrom16([16]byte(data[off:off+16])))
	}

	s.NextHeader = layers.IPProtocol(data[0])
	s.HdrExtLen = hdrExtLen
	s.SegmentsLeft = segmentsLeft
	s.LastEntry = lastEntry
	s.Flags = data[5]
	s.Tag = binary.BigEndian.Uint16(data[6:8])
	s.Segments = segs
	s.TLVs = tlvs
	s.Contents = data[:length:length]
	s.Payload = data[length:]
	return nil
}

// SerializeTo writes the SRH in front of what b holds. Segments are written in wire order
// (reversed). With opts.FixLengths, Hdr Ext Len and Last Entry are computed and stored back,
// and the TLV area is padded to a multiple of 8 bytes with one PadN TLV, placed before a
// trailing HMAC TLV (Linux reads the HMAC TLV from the last 40 bytes). Without FixLengths the
// fields and TLVs are written as they are, which can craft malformed headers on purpose.
func (s *SRH) SerializeTo(b gopacket.SerializeBuffer, opts gopacket.SerializeOptions) error {
	n := len(s.Segments)
	if n == 0 {
		return fieldErr("Segment List", "empty: an SRH carries at least one segment")
	}
	if n > 256 {
		return fieldErr("Segment List", "%d segments, Last Entry (8 bits) can index 256", n)
	}
	for i, seg := range s.Segments {
		if !seg.Is6() {
			return fieldErr("Segment List", "segment %d (%v) is not an IPv6 address", i, seg)
		}
	}
	tlvLen := 0
	for i, t := range s.TLVs {
		if len(t.Value) > 255 {
			return fieldErr("TLV", "TLV %d (type %d) has a %d-byte value, the length field holds 255", i, t.Type, len(t.Value))
		}
		tlvLen += 2 + len(t.Value)
	}
	hmacLast := len(s.TLVs) > 0 && s.TLVs[len(s.TLVs)-1].Type == TypeHMAC
	pad := 0
	if opts.FixLengths {
		if int(s.SegmentsLeft) > n {
			return fieldErr("Segments Left", "%d exceeds the %d segments (equal to it only in a reduced SRH)", s.SegmentsLeft, n)
		}
		for i, t := range s.TLVs[:max(len(s.TLVs)-1, 0)] {
			if t.Type == TypeHMAC {
				return fieldErr("TLV", "HMAC TLV at position %d of %d: Linux reads the HMAC TLV from the last 40 bytes of the SRH only, so it must be the last TLV", i, len(s.TLVs))
			}
		}
		if r := tlvLen % 8; r != 0 {
			pad = 8 - r
			if pad == 1 {
				pad = 9 // PadN is at least 2 bytes
			}
		}
	}
	length := FixedLen + 16*n + tlvLen + pad
	if opts.FixLengths {
		if length > MaxLen {
			return fieldErr("Hdr Ext Len", "the SRH would be %d bytes, at most %d fit", length, MaxLen)
		}
		s.HdrExtLen = uint8(length/8 - 1)
		s.LastEntry = uint8(n - 1)
	}
	buf, err := b.PrependBytes(length)
	if err != nil {
		return err
	}
	buf[0] = byte(s.NextHeader)
	buf[1] = s.HdrExtLen
	buf[2] = RoutingType
	buf[3] = s.SegmentsLeft
	buf[4] = s.LastEntry
	buf[5] = s.Flags
	binary.BigEndian.PutUint16(buf[6:8], s.Tag)
	for i, seg := range s.Segments {
		a := seg.As16()
		off := FixedLen + 16*(n-1-i)
		copy(buf[off:off+16], a[:])
	}
	off := FixedLen + 16*n
	for i, t := range s.TLVs {
		if pad > 0 && hmacLast && i == len(s.TLVs)-1 {
			off = putPadN(buf, off, pad)
		}
		buf[off] = t.Type
		buf[off+1] = uint8(len(t.Value))
		off += 2 + copy(buf[off+2:], t.Value)
	}
	if pad > 0 && !hmacLast {
		putPadN(buf, off, pad)
	}
	return nil
}

// AppendBinary appends the SRH, as SerializeTo with FixLengths writes it, to b: the bytes of a
// routing header for a socket option (IPV6_RTHDR) or a test.
func (s *SRH) AppendBinary(b []byte) ([]byte, error) {
	buf := gopacket.NewSerializeBuffer()
	if err := s.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		return b, err
	}
	return append(b, buf.Bytes()...), nil
}

// putPadN writes a PadN TLV of total length n (≥ 2) with a zero payload at buf[off:].
func putPadN(buf []byte, off, n int) int {
	buf[off] = TypePadN
	buf[off+1] = uint8(n - 2)
	clear(buf[off+2 : off+n])
	return off + n
}

// Len returns the serialized length of the SRH as SerializeTo with FixLengths writes it.
func (s *SRH) Len() int {
	tlvLen := 0
	for _, t := range s.TLVs {
		tlvLen += 2 + len(t.Value)
	}
	if r := tlvLen % 8; r != 0 {
		if r == 7 {
			tlvLen += 9
		} else {
			tlvLen += 8 - r
		}
	}
	return FixedLen + 16*len(s.Segments) + tlvLen
}

func decodeSRH(data []byte, p gopacket.PacketBuilder) error {
	s := &SRH{}
	if err := s.DecodeFromBytes(data, p); err != nil {
		return err
	}
	p.AddLayer(s)
	return p.NextDecoder(s.NextHeader)
}
