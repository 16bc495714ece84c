package probes

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/srv6oam/srv6oam/oam/srh"
)

// ICMPv6 types srv6oam cares about (RFC 4443).
const (
	ICMPv6DestUnreachable uint8 = 1
	ICMPv6PacketTooBig    uint8 = 2
	ICMPv6TimeExceeded    uint8 = 3
	ICMPv6ParamProblem    uint8 = 4
	ICMPv6EchoRequest     uint8 = 128
	ICMPv6EchoReply       uint8 = 129

	// ParamProblemSRUpperLayer is Parameter Problem code 4, "SR Upper-layer Header Error"
	// (RFC 8754 §4.3.1.1.1): a segment endpoint got an SRH with Segments Left 0 and an upper
	// layer it cannot process.
	ParamProblemSRUpperLayer uint8 = 4
)

// IPv6 next-header values the quote walker follows.
const (
	protoHopByHop = 0
	protoIPv6     = 41
	protoRouting  = 43
	protoFragment = 44
	protoICMPv6   = 58
	protoNoNext   = 59
	protoDestOpts = 60
)

// ICMPv6Message is an ICMPv6 message as ParseICMPv6 saw it.
type ICMPv6Message struct {
	Type, Code uint8
	// Echo identifier and sequence (Echo Request/Reply only).
	ID, Seq uint16
	// Body is what follows the 8-byte header: the echo payload, or the quoted packet.
	Body []byte
	// Info is the second 32-bit word of an error: MTU (Packet Too Big) or pointer (Parameter
	// Problem).
	Info uint32
	// Quote is the decoded invoking packet of an error (IsError).
	Quote Quote
}

// IsError reports whether the message is an ICMPv6 error (types 0-127).
func (m *ICMPv6Message) IsError() bool { return m.Type < 128 }

// Quote is what srv6oam reads from the packet quoted in an ICMPv6 error: enough to find the probe
// (echo identifier and sequence, possibly inside an encapsulated packet) and to say which
// segment was active when the error was raised.
type Quote struct {
	// Outer IPv6 header of the quoted packet.
	Src, Dst  netip.Addr
	FlowLabel uint32
	HopLimit  uint8
	// HopByHop is the outer header's Hop-by-Hop Options header as quoted (nil without one, or
	// when the quote cuts it): where an IOAM trace travels (ioam.FindTrace). It points into the
	// message.
	HopByHop []byte
	// HasSRH is set when the quote holds a complete SRH; SRH is then valid until the next parse.
	HasSRH bool
	SRH    srh.SRH
	// Inner IPv6 header (encapsulation mode: the SRH's next header is 41).
	Encapsulated       bool
	InnerSrc, InnerDst netip.Addr
	// Echo Request identifier and sequence, when the quote reaches that far; EchoData is as
	// much of its data as the quote holds.
	HasEcho  bool
	ID, Seq  uint16
	EchoData []byte
	// FinalDst is where the quoted probe was finally going: the inner destination (encap), the
	// final segment (insert), or Dst (no SRH).
	FinalDst netip.Addr
}

// ActiveSegment returns the index (in travel order) and address of the segment the quoted packet
// was heading for, from the quoted SRH; ok is false when the quote has no SRH.
func (q *Quote) ActiveSegment() (index int, sid netip.Addr, ok bool) {
	if !q.HasSRH {
		return -1, netip.Addr{}, false
	}
	sid, ok = q.SRH.ActiveSegment()
	if !ok {
		return -1, netip.Addr{}, false
	}
	return len(q.SRH.Segments) - 1 - int(q.SRH.SegmentsLeft), sid, true
}

// ErrTruncated is wrapped when a message is too short for its type.
var ErrTruncated = errors.New("truncated")

// ParseICMPv6 decodes an ICMPv6 message as a raw ICMPv6 socket returns it (no IPv6 header). For an
// error it decodes the quoted packet as far as the quote goes; a short quote is not an error
// (Quote.HasEcho stays false), a message too short for its own header is. m's slices point into b.
func ParseICMPv6(b []byte, m *ICMPv6Message) error {
	hadSegs := m.Quote.SRH.Segments
	hadTLVs := m.Quote.SRH.TLVs
	*m = ICMPv6Message{}
	// Keep the SRH's slices so that decoding reuses them (0 allocations once warmed).
	m.Quote.SRH.Segments = hadSegs[:0]
	m.Quote.SRH.TLVs = hadTLVs[:0]
	if len(b) < 8 {
		return fmt.Errorf("ICMPv6 message: %w: %d bytes, the header needs 8", ErrTruncated, len(b))
	}
	m.Type, m.Code = b[0], b[1]
	m.Body = b[8:]
	switch {
	case m.Type == ICMPv6EchoRequest || m.Type == ICMPv6EchoReply:
		m.ID = binary.BigEndian.Uint16(b[4:])
		m.Seq = binary.BigEndian.Uint16(b[6:])
	case m.Type < 128:
		m.Info = binary.BigEndian.Uint32(b[4:])
		parseQuote(m.Body, &m.Quote)
	}
	return nil
}

// clampPayload is where the quoted IPv6 packet starting at b ends: its Payload Length says, when
// the quote holds more (RFC 4884 pads a quote to 128 bytes and appends extensions after it);
// len(b) when it holds less, or for a jumbogram (Payload Length 0).
func clampPayload(b []byte) int {
	if pl := int(binary.BigEndian.Uint16(b[4:6])); pl > 0 && 40+pl < len(b) {
		return 40 + pl
	}
	return len(b)
}

// parseQuote decodes as much of the invoking packet as the quote holds.
func parseQuote(b []byte, q *Quote) {
	if len(b) < 40 || b[0]>>4 != 6 {
		return
	}
	q.Src = netip.AddrFrom16([16]byte(b[8:24]))
	q.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	q.FinalDst = q.Dst
	q.FlowLabel = binary.BigEndian.Uint32(b[0:4]) & 0xfffff
	q.HopLimit = b[7]
	next := b[6]
	b = b[40:clampPayload(b)]
	inner := false
	for hops := 0; hops < 16; hops++ {
		switch next {
		case protoHopByHop, protoDestOpts, protoRouting:
			if len(b) < 2 {
				return
			}
			l := (int(b[1]) + 1) * 8
			if len(b) < l {
				return
			}
			if next == protoHopByHop && hops == 0 {
				q.HopByHop = b[:l]
			}
			if next == protoRouting && b[2] == srh.RoutingType && !inner {
				if err := q.SRH.DecodeFromBytes(b[:l], gopacket.NilDecodeFeedback); err == nil {
					q.HasSRH = true
					if f, ok := q.SRH.FinalSegment(); ok {
						q.FinalDst = f
					}
				}
			}
			next = b[0]
			b = b[l:]
		case protoFragment:
			if len(b) < 8 {
				return
			}
			if binary.BigEndian.Uint16(b[2:])&0xfff8 != 0 {
				return // not the first fragment: no upper-layer header here
			}
			next = b[0]
			b = b[8:]
		case protoIPv6:
			if inner || len(b) < 40 {
				return
			}
			inner = true
			q.Encapsulated = true
			q.InnerSrc = netip.AddrFrom16([16]byte(b[8:24]))
			q.InnerDst = netip.AddrFrom16([16]byte(b[24:40]))
			q.FinalDst = q.InnerDst
			next = b[6]
			b = b[40:clampPayload(b)]
		case protoICMPv6:
			if len(b) < 8 || b[0] != ICMPv6EchoRequest {
				return
			}
			q.HasEcho = true
			q.ID = binary.BigEndian.Uint16(b[4:])
			q.Seq = binary.BigEndian.Uint16(b[6:])
			q.EchoData = b[8:]
			return
		default:
			return
		}
	}
}

// DescribeError renders an ICMPv6 error the way iputils ping does ("Destination unreachable: No
// route", "Time exceeded: Hop limit", "Parameter problem: Wrong header field at 42"), with RFC
// 8754's "SR Upper-layer Header Error" for Parameter Problem code 4.
func DescribeError(typ, code uint8, info uint32) string {
	switch typ {
	case ICMPv6DestUnreachable:
		s := "Destination unreachable: "
		switch code {
		case 0:
			return s + "No route"
		case 1:
			return s + "Administratively prohibited"
		case 2:
			return s + "Beyond scope of source address"
		case 3:
			return s + "Address unreachable"
		case 4:
			return s + "Port unreachable"
		case 5:
			return s + "Source address failed ingress/egress policy"
		case 6:
			return s + "Reject route to destination"
		}
		return fmt.Sprintf("%sUnknown code %d", s, code)
	case ICMPv6PacketTooBig:
		if code != 0 {
			return fmt.Sprintf("Packet too big: mtu=%d, code=%d", info, code)
		}
		return fmt.Sprintf("Packet too big: mtu=%d", info)
	case ICMPv6TimeExceeded:
		switch code {
		case 0:
			return "Time exceeded: Hop limit"
		case 1:
			return "Time exceeded: Defragmentation failure"
		}
		return fmt.Sprintf("Time exceeded: code %d", code)
	case ICMPv6ParamProblem:
		s := "Parameter problem: "
		switch code {
		case 0:
			s += "Wrong header field "
		case 1:
			s += "Unknown header "
		case 2:
			s += "Unknown option "
		case ParamProblemSRUpperLayer:
			s += "SR Upper-layer Header Error "
		default:
			s += fmt.Sprintf("code %d ", code)
		}
		return fmt.Sprintf("%sat %d", s, info)
	}
	return fmt.Sprintf("Bad ICMP type: %d", typ)
}
