package srh

import (
	"sync"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var registerOnce sync.Once

// Register makes gopacket.NewPacket decode IPv6 next header 43 with routing type 4 as an *SRH
// (and go on to the SRH's next header); other routing types keep gopacket's generic
// IPv6Routing decoder. gopacket dispatches next header 43 through two global tables, the
// decoder of layers.LayerTypeIPv6Routing (used after the IPv6 header) and
// layers.IPProtocolMetadata (used after other extension headers); Register changes both, once,
// so call it at start-up (main, TestMain) before any goroutine decodes packets. A
// DecodingLayerParser does not need it: add an *SRH to the parser.
func Register() {
	registerOnce.Do(func() {
		meta := layers.IPProtocolMetadata[layers.IPProtocolIPv6Routing]
		generic := meta.DecodeWith
		dispatch := gopacket.DecodeFunc(func(data []byte, p gopacket.PacketBuilder) error {
			if len(data) >= 3 && data[2] == RoutingType {
				return decodeSRH(data, p)
			}
			return generic.Decode(data, p)
		})
		meta.DecodeWith = dispatch
		layers.IPProtocolMetadata[layers.IPProtocolIPv6Routing] = meta
		gopacket.OverrideLayerType(int(layers.LayerTypeIPv6Routing), gopacket.LayerTypeMetadata{
			Name:    layers.LayerTypeIPv6Routing.String(),
			Decoder: dispatch,
		})
	})
}

// ChecksumLayer returns the network layer to pass to an upper layer's
// SetNetworkLayerForChecksum when s sits between ip and that layer (insert/inline mode): a
// copy of ip whose destination is the final segment, which RFC 8200 §8.1 puts in the
// pseudo-header while Segments Left > 0. Without segments it returns ip. The copy lives in s:
// it is valid until the next ChecksumLayer call and does not allocate.
//
// In encapsulation mode the upper layer sits behind the inner IPv6 header: pass that one.
func (s *SRH) ChecksumLayer(ip *layers.IPv6) gopacket.NetworkLayer {
	final, ok := s.FinalSegment()
	if !ok {
		return ip
	}
	s.pseudoDst = final.As16()
	s.pseudo = layers.IPv6{
		Version:    6,
		NextHeader: layers.IPProtocolNoNextHeader,
		SrcIP:      ip.SrcIP,
		DstIP:      s.pseudoDst[:],
	}
	return &s.pseudo
}
