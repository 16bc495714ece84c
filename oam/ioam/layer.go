package ioam

import (
	"errors"
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/srv6oam/srv6oam/oam/hbh"
)

// LayerTypeHopByHop is the gopacket layer type of a *HopByHop. Number 1755 is in the range
// gopacket leaves to applications (1000-1999), next to oam/srh's 1754.
var LayerTypeHopByHop = gopacket.RegisterLayerType(1755, gopacket.LayerTypeMetadata{
	Name:    "IOAMHopByHop",
	Decoder: gopacket.DecodeFunc(decodeHopByHop),
})

// HopByHop is an IPv6 Hop-by-Hop Options header as a gopacket layer, read and written for the
// IOAM Pre-allocated Trace option it may carry. Serialized, it holds the trace alone, padded
// as AppendHopByHop pads it (the option 4n-aligned behind a 40-octet IPv6 header). Decoded, it
// finds the first Pre-allocated Trace among the header's options; other options are skipped.
//
// gopacket's IPv6 layer decodes a Hop-by-Hop header behind it itself (FromIPv6 reads the trace
// there); a *HopByHop decodes for a parser that starts at the header (LayerTypeHopByHop), as a
// raw socket's IPV6_HOPOPTS control message or a quoted packet hands it over.
type HopByHop struct {
	layers.BaseLayer
	NextHeader layers.IPProtocol
	// HasTrace says whether the header carries a Pre-allocated Trace; Trace is that option (its
	// Data aliases the decoded bytes).
	HasTrace bool
	Trace    Trace
}

var hbhClass = gopacket.NewLayerClass([]gopacket.LayerType{layers.LayerTypeIPv6HopByHop, LayerTypeHopByHop})

// LayerType returns LayerTypeHopByHop.
func (h *HopByHop) LayerType() gopacket.LayerType { return LayerTypeHopByHop }

// CanDecode returns the layer types a *HopByHop decodes in a DecodingLayerParser.
func (h *HopByHop) CanDecode() gopacket.LayerClass { return hbhClass }

// NextLayerType is the layer of the header's next header.
func (h *HopByHop) NextLayerType() gopacket.LayerType { return h.NextHeader.LayerType() }

// DecodeFromBytes decodes a Hop-by-Hop header and the first Pre-allocated Trace in it. A header
// whose options do not parse, or whose trace option is malformed, is an error.
func (h *HopByHop) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 2 {
		df.SetTruncated()
		return fmt.Errorf("hop-by-hop header: %w: %d octets", ErrShort, len(data))
	}
	n := (int(data[1]) + 1) * 8
	if len(data) < n {
		df.SetTruncated()
		return fmt.Errorf("hop-by-hop header: %w: %d octets of %d", ErrShort, len(data), n)
	}
	tr, ok, err := FindTrace(data[:n])
	if err != nil {
		return err
	}
	h.NextHeader, h.HasTrace, h.Trace = layers.IPProtocol(data[0]), ok, tr
	h.Contents, h.Payload = data[:n], data[n:]
	return nil
}

func decodeHopByHop(data []byte, p gopacket.PacketBuilder) error {
	h := &HopByHop{}
	if err := h.DecodeFromBytes(data, p); err != nil {
		return err
	}
	p.AddLayer(h)
	return p.NextDecoder(h.NextHeader)
}

// SerializeTo writes the header with its trace (HasTrace must be set) in front of what b holds.
// With FixLengths nothing changes: the header's length is the trace's.
func (h *HopByHop) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	if !h.HasTrace {
		return errors.New("hop-by-hop header: no IOAM trace to serialize")
	}
	size := HopByHopLen(&h.Trace)
	buf, err := b.PrependBytes(size)
	if err != nil {
		return err
	}
	out, err := AppendHopByHop(buf[:0], uint8(h.NextHeader), &h.Trace)
	if err != nil {
		return err
	}
	if len(out) != size || &out[0] != &buf[0] {
		return fmt.Errorf("hop-by-hop header: %d octets written, %d expected", len(out), size)
	}
	return nil
}

// FromIPv6 returns the Pre-allocated Trace in the Hop-by-Hop header gopacket's IPv6 layer
// decoded (gopacket reads that header as part of the IPv6 layer, so a *HopByHop never sees
// it there); ok is false without a header or a trace in it.
func FromIPv6(ip *layers.IPv6) (Trace, bool, error) {
	if ip.HopByHop == nil {
		return Trace{}, false, nil
	}
	return FindTrace(ip.HopByHop.Contents)
}

// HopByHopLen is the size of the Hop-by-Hop header AppendHopByHop writes for t.
func HopByHopLen(t *Trace) int {
	size := 4 + t.Len()
	return size + hbh.PadLen(size)
}

// FindTrace walks the options of a Hop-by-Hop header (b starts at its next-header octet and
// holds the whole header) and returns the first Pre-allocated Trace option; ok is false when
// there is none. Options that overrun the header, and a trace option that does not parse, are
// errors; other IOAM option types (RFC 9197's Incremental Trace, POT, E2E) are skipped.
func FindTrace(b []byte) (tr Trace, ok bool, err error) {
	opt, ok, err := hbh.Find(b, func(opt []byte) bool {
		return opt[0] == OptionType && opt[1] >= 2 && opt[3] == TraceOptionType
	})
	if errors.Is(err, hbh.ErrShort) {
		return Trace{}, false, fmt.Errorf("hop-by-hop header: %w", ErrShort)
	}
	if err != nil || !ok {
		return Trace{}, false, err
	}
	if tr, _, err = Parse(opt); err != nil {
		return Trace{}, false, err
	}
	return tr, true, nil
}
