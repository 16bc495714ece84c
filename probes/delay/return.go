package delay

import (
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/srv6oam/srv6oam/oam/srh"
)

// parseReturn reads the Probe TLV and the Timestamp Slots TLV from the routing header a
// returning probe carried. It returns the slots TLV's value (aliasing rthdr); errors name what is
// wrong.
func parseReturn(reg srh.Registry, rthdr []byte) (srh.Probe, []byte, error) {
	var h srh.SRH
	if err := h.DecodeFromBytes(rthdr, gopacket.NilDecodeFeedback); err != nil {
		return srh.Probe{}, nil, fmt.Errorf("routing header of a returning probe: %w", err)
	}
	p, err := reg.Probe(&h)
	if err != nil {
		return srh.Probe{}, nil, fmt.Errorf("returning probe: %w", err)
	}
	t, ok := h.FindTLV(reg.SlotsType)
	if !ok {
		return srh.Probe{}, nil, fmt.Errorf("returning probe: timestamp slots TLV (type %d): %w", reg.SlotsType, srh.ErrNoTLV)
	}
	if _, err := srh.ParseSlots(t.Value); err != nil {
		return srh.Probe{}, nil, fmt.Errorf("returning probe: %w", err)
	}
	return p, t.Value, nil
}
