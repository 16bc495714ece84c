package output

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/gopacket/gopacket"

	"github.com/srv6oam/srv6oam/oam/srh"
)

// The packet an ICMPv6 error quotes, decoded header by header as Wireshark names them (its
// display-filter prefixes): what a router sent back of the probe — outer IPv6, Hop-by-Hop
// options, the SRH with its segments and TLVs, an inner IPv6 header, the Echo Request.

// JSONQuote is a decoded quote.
type JSONQuote struct {
	// Bytes the error quoted.
	Bytes  int              `json:"bytes"`
	Layers []JSONQuoteLayer `json:"layers"`
	// Truncated: the quote ends inside a header (Error says which and why).
	Truncated bool   `json:"truncated"`
	Error     string `json:"error,omitempty"`
}

// JSONQuoteLayer is one header. Name is Wireshark's filter prefix: ipv6, ipv6.hopopts,
// ipv6.routing (ipv6.routing.srh fields for a Segment Routing Header), ipv6.dstopts,
// ipv6.fraghdr, icmpv6, udp, tcp, data.
type JSONQuoteLayer struct {
	Name string `json:"name"`
	// ipv6
	Src           string  `json:"src,omitempty"`
	Dst           string  `json:"dst,omitempty"`
	HopLimit      *int    `json:"hlim,omitempty"`
	FlowLabel     *uint32 `json:"flow,omitempty"`
	TrafficClass  *int    `json:"tclass,omitempty"`
	PayloadLength *int    `json:"plen,omitempty"`
	// Next header of ipv6 and of the extension headers.
	NextHeader *int `json:"nxt,omitempty"`
	// ipv6.hopopts, ipv6.dstopts: the options (type, length, Wireshark's name).
	Options []JSONQuoteOption `json:"options,omitempty"`
	// ipv6.routing
	RoutingType  *int           `json:"type,omitempty"`
	SegmentsLeft *int           `json:"segleft,omitempty"`
	LastEntry    *int           `json:"lasten,omitempty"`
	Flags        *int           `json:"flags,omitempty"`
	Tag          *int           `json:"tag,omitempty"`
	Segments     []string       `json:"addr,omitempty"` // wire order: Segment List[0] first
	TLVs         []JSONQuoteTLV `json:"tlvs,omitempty"`
	// icmpv6
	ICMPType *int `json:"icmp_type,omitempty"`
	ICMPCode *int `json:"icmp_code,omitempty"`
	EchoID   *int `json:"echo_identifier,omitempty"`
	EchoSeq  *int `json:"echo_sequence_number,omitempty"`
	// udp, tcp
	SrcPort *int `json:"srcport,omitempty"`
	DstPort *int `json:"dstport,omitempty"`
	// Length of a layer whose contents are not decoded further (data), or of an extension
	// header.
	Length *int `json:"len,omitempty"`
}

// JSONQuoteOption is one Hop-by-Hop or Destination option.
type JSONQuoteOption struct {
	Type   int    `json:"type"`
	Length int    `json:"length"`
	Name   string `json:"name"`
}

// JSONQuoteTLV is one SRH TLV.
type JSONQuoteTLV struct {
	Type   int `json:"type"`
	Length int `json:"length"`
}

// optionName names a Hop-by-Hop or Destination option as Wireshark does.
func optionName(t byte) string {
	switch t {
	case 0:
		return "Pad1"
	case 1:
		return "PadN"
	case 5:
		return "Router Alert"
	case 0x31:
		return "IOAM"
	case 0x32:
		return "Path Tracing"
	case 0xc2:
		return "Jumbo Payload"
	}
	return fmt.Sprintf("Unknown (0x%02x)", t)
}

// DecodeQuote decodes a quoted packet, from its outer IPv6 header. It never fails: what cannot
// be read ends the layers, with Truncated or Error saying why.
func DecodeQuote(b []byte) *JSONQuote {
	q := &JSONQuote{Bytes: len(b), Layers: []JSONQuoteLayer{}}
	next := 41 // the quote starts with an IPv6 header
	for {
		switch next {
		case 41:
			if len(b) < 40 {
				q.Truncated, q.Error = true, fmt.Sprintf("ipv6: %d bytes, the header needs 40", len(b))
				return q
			}
			if b[0]>>4 != 6 {
				q.Error = fmt.Sprintf("ipv6: version %d", b[0]>>4)
				return q
			}
			fl := binary.BigEndian.Uint32(b[0:4]) & 0xfffff
			l := JSONQuoteLayer{Name: "ipv6", Src: netip.AddrFrom16([16]byte(b[8:24])).String(), Dst: netip.AddrFrom16([16]byte(b[24:40])).String(),
				HopLimit: ptr(int(b[7])), FlowLabel: &fl, TrafficClass: ptr(int(binary.BigEndian.Uint16(b[0:2])>>4) & 0xff),
				PayloadLength: ptr(int(binary.BigEndian.Uint16(b[4:6]))), NextHeader: ptr(int(b[6]))}
			q.Layers = append(q.Layers, l)
			next, b = int(b[6]), b[40:]
		case 0, 60: // Hop-by-Hop, Destination options
			name := "ipv6.hopopts"
			if next == 60 {
				name = "ipv6.dstopts"
			}
			n, ok := extLen(b)
			if !ok {
				q.Truncated, q.Error = true, fmt.Sprintf("%s: the quote ends inside it", name)
				return q
			}
			l := JSONQuoteLayer{Name: name, NextHeader: ptr(int(b[0])), Length: ptr(n), Options: []JSONQuoteOption{}}
			for o := 2; o < n; {
				if b[o] == 0 {
					l.Options = append(l.Options, JSONQuoteOption{Type: 0, Length: 0, Name: "Pad1"})
					o++
					continue
				}
				if o+2 > n || o+2+int(b[o+1]) > n {
					q.Layers = append(q.Layers, l)
					q.Error = fmt.Sprintf("%s: option at %d overruns the header", name, o)
					return q
				}
				l.Options = append(l.Options, JSONQuoteOption{Type: int(b[o]), Length: int(b[o+1]), Name: optionName(b[o])})
				o += 2 + int(b[o+1])
			}
			q.Layers = append(q.Layers, l)
			next, b = int(b[0]), b[n:]
		case 43:
			n, ok := extLen(b)
			if !ok {
				q.Truncated, q.Error = true, "ipv6.routing: the quote ends inside it"
				return q
			}
			l := JSONQuoteLayer{Name: "ipv6.routing", NextHeader: ptr(int(b[0])), Length: ptr(n), RoutingType: ptr(int(b[2])), SegmentsLeft: ptr(int(b[3]))}
			if b[2] == srh.RoutingType {
				var h srh.SRH
				if err := h.DecodeFromBytes(b[:n], gopacket.NilDecodeFeedback); err != nil {
					q.Layers = append(q.Layers, l)
					q.Error = "ipv6.routing.srh: " + err.Error()
					return q
				}
				l.LastEntry, l.Flags, l.Tag = ptr(int(h.LastEntry)), ptr(int(h.Flags)), ptr(int(h.Tag))
				for i := len(h.Segments) - 1; i >= 0; i-- {
					l.Segments = append(l.Segments, h.Segments[i].String())
				}
				for _, t := range h.TLVs {
					l.TLVs = append(l.TLVs, JSONQuoteTLV{Type: int(t.Type), Length: len(t.Value)})
				}
			}
			q.Layers = append(q.Layers, l)
			next, b = int(b[0]), b[n:]
		case 44:
			if len(b) < 8 {
				q.Truncated, q.Error = true, "ipv6.fraghdr: the quote ends inside it"
				return q
			}
			q.Layers = append(q.Layers, JSONQuoteLayer{Name: "ipv6.fraghdr", NextHeader: ptr(int(b[0])), Length: ptr(8)})
			next, b = int(b[0]), b[8:]
		case 58:
			if len(b) < 4 {
				q.Truncated, q.Error = true, "icmpv6: the quote ends inside it"
				return q
			}
			l := JSONQuoteLayer{Name: "icmpv6", ICMPType: ptr(int(b[0])), ICMPCode: ptr(int(b[1]))}
			if (b[0] == 128 || b[0] == 129) && len(b) >= 8 {
				l.EchoID, l.EchoSeq = ptr(int(binary.BigEndian.Uint16(b[4:6]))), ptr(int(binary.BigEndian.Uint16(b[6:8])))
			}
			q.Layers = append(q.Layers, l)
			if len(b) > 8 {
				q.Layers = append(q.Layers, JSONQuoteLayer{Name: "data", Length: ptr(len(b) - 8)})
			}
			return q
		case 17, 6:
			name := "udp"
			if next == 6 {
				name = "tcp"
			}
			if len(b) < 4 {
				q.Truncated, q.Error = true, name+": the quote ends inside it"
				return q
			}
			q.Layers = append(q.Layers, JSONQuoteLayer{Name: name, SrcPort: ptr(int(binary.BigEndian.Uint16(b[0:2]))), DstPort: ptr(int(binary.BigEndian.Uint16(b[2:4])))})
			return q
		case 59: // No Next Header
			return q
		default:
			q.Layers = append(q.Layers, JSONQuoteLayer{Name: "data", NextHeader: ptr(next), Length: ptr(len(b))})
			return q
		}
		if len(q.Layers) > 32 {
			q.Error = "more than 32 headers"
			return q
		}
	}
}

// extLen is the length of the extension header at b (8 × (Hdr Ext Len + 1)), when all of it
// is there.
func extLen(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	n := 8 * (int(b[1]) + 1)
	return n, n <= len(b)
}

// QuoteLines renders a decoded quote as indented lines, Wireshark's header names first.
func QuoteLines(q *JSONQuote, indent string) []string {
	var out []string
	for _, l := range q.Layers {
		var s string
		switch l.Name {
		case "ipv6":
			s = fmt.Sprintf("Internet Protocol Version 6, Src: %s, Dst: %s, Hop Limit: %d, Flow Label: 0x%05x, Payload Length: %d, Next Header: %d",
				l.Src, l.Dst, *l.HopLimit, *l.FlowLabel, *l.PayloadLength, *l.NextHeader)
		case "ipv6.hopopts", "ipv6.dstopts":
			name := "IPv6 Hop-by-Hop Option"
			if l.Name == "ipv6.dstopts" {
				name = "Destination Options for IPv6"
			}
			opts := make([]string, len(l.Options))
			for i, o := range l.Options {
				opts[i] = fmt.Sprintf("%s (%d bytes)", o.Name, o.Length)
			}
			s = fmt.Sprintf("%s, Length: %d: %s", name, *l.Length, strings.Join(opts, ", "))
		case "ipv6.routing":
			if *l.RoutingType == int(srh.RoutingType) && l.LastEntry != nil {
				s = fmt.Sprintf("Routing Header for IPv6 (Segment Routing), Segments Left: %d, Last Entry: %d, Flags: 0x%02x, Tag: %d, Segments: %s",
					*l.SegmentsLeft, *l.LastEntry, *l.Flags, *l.Tag, strings.Join(l.Segments, " "))
				for _, t := range l.TLVs {
					s += fmt.Sprintf(", TLV type %d (%d bytes)", t.Type, t.Length)
				}
			} else {
				s = fmt.Sprintf("Routing Header for IPv6, Type: %d, Segments Left: %d, Length: %d", *l.RoutingType, *l.SegmentsLeft, *l.Length)
			}
		case "ipv6.fraghdr":
			s = "Fragment Header for IPv6"
		case "icmpv6":
			s = fmt.Sprintf("Internet Control Message Protocol v6, Type: %d, Code: %d", *l.ICMPType, *l.ICMPCode)
			if l.EchoID != nil {
				s += fmt.Sprintf(", Identifier: 0x%04x, Sequence: %d", *l.EchoID, *l.EchoSeq)
			}
		case "udp", "tcp":
			s = fmt.Sprintf("%s, Src Port: %d, Dst Port: %d", strings.ToUpper(l.Name), *l.SrcPort, *l.DstPort)
		default:
			s = fmt.Sprintf("Data (%d bytes)", *l.Length)
		}
		out = append(out, indent+s)
	}
	if q.Error != "" {
		out = append(out, indent+"("+q.Error+")")
	}
	return out
}
