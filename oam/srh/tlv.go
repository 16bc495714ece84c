package srh

import (
	"fmt"
)

// TLV type codes this package knows by default. PadN and HMAC are RFC 8754's; the OAM codes
// are srv6oam's experimental defaults (docs/wire-format.md) and live in a Registry so that a
// deployment can move them.
const (
	TypePadN         uint8 = 4
	TypeHMAC         uint8 = 5
	DefaultTypeProbe uint8 = 124
	DefaultTypeSlots uint8 = 252
)

// TLV is one SRH TLV: its type and its value (the bytes after the Length field, so the Length
// field is len(Value)). On decode Value is a view into the packet: unknown TLVs are kept and
// serialized again byte for byte.
type TLV struct {
	Type  uint8
	Value []byte
}

// FindTLV returns the first TLV of the given type.
func (s *SRH) FindTLV(typ uint8) (TLV, bool) {
	for _, t := range s.TLVs {
		if t.Type == typ {
			return t, true
		}
	}
	return TLV{}, false
}

// TLVSpec describes a TLV type a Registry knows beyond the built-in ones.
type TLVSpec struct {
	// Name is printed in errors and by String helpers.
	Name string
	// Validate checks a value of this type; nil accepts any value.
	Validate func(value []byte) error
}

// Registry maps TLV type codes to what they mean. It is a plain value: build one with
// DefaultRegistry, change the codes or add Extra entries while setting up, then treat it as
// read-only (a copy shares Extra).
type Registry struct {
	// ProbeType is the code of the Probe TLV (default 124).
	ProbeType uint8
	// SlotsType is the code of the Timestamp Slots TLV (default 252).
	SlotsType uint8
	// Extra holds further TLV types. PadN, HMAC, ProbeType and SlotsType take precedence.
	Extra map[uint8]TLVSpec
}

// DefaultRegistry returns the registry with srv6oam's default codes.
func DefaultRegistry() Registry {
	return Registry{ProbeType: DefaultTypeProbe, SlotsType: DefaultTypeSlots}
}

// Name returns a readable name for a TLV type code.
func (r Registry) Name(typ uint8) string {
	switch typ {
	case TypePadN:
		return "PadN"
	case TypeHMAC:
		return "HMAC"
	case r.ProbeType:
		return "Probe"
	case r.SlotsType:
		return "Timestamp Slots"
	}
	if spec, ok := r.Extra[typ]; ok && spec.Name != "" {
		return spec.Name
	}
	return fmt.Sprintf("TLV type %d", typ)
}

// Validate checks the value of a TLV whose type the registry knows; unknown types pass.
func (r Registry) Validate(t TLV) error {
	var err error
	switch t.Type {
	case TypePadN:
		return nil
	case TypeHMAC:
		_, err = ParseHMAC(t.Value)
	case r.ProbeType:
		_, err = ParseProbe(t.Value)
	case r.SlotsType:
		_, err = ParseSlots(t.Value)
	default:
		if spec, ok := r.Extra[t.Type]; ok && spec.Validate != nil {
			err = spec.Validate(t.Value)
		}
	}
	if err != nil {
		return fmt.Errorf("%s TLV: %w", r.Name(t.Type), err)
	}
	return nil
}

// Check validates every TLV of s and the order srv6oam relies on: an HMAC TLV only as the last
// TLV (where Linux reads it) and with FlagHMAC set; a Probe TLV only as the first TLV, with the
// Slots TLV, if any, right after it.
func (r Registry) Check(s *SRH) error {
	for i, t := range s.TLVs {
		if err := r.Validate(t); err != nil {
			return fmt.Errorf("TLV %d: %w", i, err)
		}
		switch t.Type {
		case TypeHMAC:
			if i != len(s.TLVs)-1 {
				return fieldErr("TLV", "HMAC TLV at position %d of %d: Linux reads it from the last 40 bytes only", i, len(s.TLVs))
			}
			if s.Flags&FlagHMAC == 0 {
				return fieldErr("Flags", "an HMAC TLV is present but the H-flag (0x08) is clear: Linux ignores the TLV")
			}
		case r.ProbeType:
			if i != 0 {
				return fieldErr("TLV", "Probe TLV at position %d: End functions look for it first", i)
			}
		case r.SlotsType:
			if i != 1 || s.TLVs[0].Type != r.ProbeType {
				return fieldErr("TLV", "Timestamp Slots TLV at position %d: it must follow the Probe TLV", i)
			}
		}
	}
	return nil
}

// Probe finds and decodes the Probe TLV of s. It wraps ErrNoTLV when there is none.
func (r Registry) Probe(s *SRH) (Probe, error) {
	t, ok := s.FindTLV(r.ProbeType)
	if !ok {
		return Probe{}, fmt.Errorf("probe TLV (type %d): %w", r.ProbeType, ErrNoTLV)
	}
	return ParseProbe(t.Value)
}

// Slots finds the Timestamp Slots TLV of s and returns a view of it (writes through to the
// packet bytes). It wraps ErrNoTLV when there is none.
func (r Registry) Slots(s *SRH) (Slots, error) {
	t, ok := s.FindTLV(r.SlotsType)
	if !ok {
		return Slots{}, fmt.Errorf("timestamp slots TLV (type %d): %w", r.SlotsType, ErrNoTLV)
	}
	return ParseSlots(t.Value)
}

// ProbeTLV encodes p as a Probe TLV with the registry's code. It allocates the value; to send
// many probes, keep the TLV and rewrite its value in place with p.MarshalTo(tlv.Value).
func (r Registry) ProbeTLV(p Probe) TLV {
	v := make([]byte, ProbeValueLen)
	p.MarshalTo(v)
	return TLV{Type: r.ProbeType, Value: v}
}

// SlotsTLV returns a Timestamp Slots TLV with n empty slots (n ≤ MaxSlots), one per segment:
// pass the number of segments of the list.
func (r Registry) SlotsTLV(n int) (TLV, error) {
	if n < 1 || n > MaxSlots {
		return TLV{}, fieldErr("Slots", "%d slots, want 1 to %d", n, MaxSlots)
	}
	v := make([]byte, SlotsHeaderLen+n*SlotLen)
	v[0] = uint8(n)
	return TLV{Type: r.SlotsType, Value: v}, nil
}
