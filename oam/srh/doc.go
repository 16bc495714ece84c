// Package srh is the IPv6 Segment Routing Header (RFC 8754) as a gopacket layer.
//
// It owns the SRH's wire format and nothing else: decoding with validation as strict as
// Linux's seg6_validate_srh, serialization, the TLVs that live in the SRH (PadN, HMAC, and
// srv6oam's Probe and Timestamp Slots TLVs, see docs/wire-format.md), and the HMAC computed
// exactly the way Linux's seg6_hmac_compute does, so that a node with seg6_require_hmac=1
// accepts what this package signs. It imports nothing else of srv6oam.
//
// # Segment order
//
// The API takes and returns segments in TRAVEL ORDER: SRH.Segments[0] is the first segment the
// packet visits, SRH.Segments[len-1] is the final destination. On the wire the list is
// reversed (Segment List[0] is the final segment); the codec does the reversal. Segments Left
// keeps its wire meaning: it indexes the wire list, so the active segment is
// Segments[len(Segments)-1-SegmentsLeft] (see SRH.ActiveSegment).
//
// # Decoding
//
// With a gopacket.DecodingLayerParser no registration is needed: an *SRH answers for
// layers.LayerTypeIPv6Routing, which is what an IPv6 layer hands on for next header 43, and
// decodes with 0 allocations. With gopacket.NewPacket call Register once (from main or
// TestMain, before decoding): it makes next header 43 decode routing type 4 as an *SRH and
// leaves other routing types to gopacket's generic decoder.
//
// # Serializing
//
// SerializeTo with FixLengths computes Hdr Ext Len and Last Entry and pads the TLV area to a
// multiple of 8 bytes with PadN (Linux has no Pad1). For an upper-layer checksum over an SRH
// in insert (inline) mode, pass SRH.ChecksumLayer(ip6) to SetNetworkLayerForChecksum: the
// pseudo-header destination is the final segment (RFC 8200 §8.1).
package srh
