package srh

import (
	"encoding/binary"
	"net/netip"
)

// Probe TLV layout (docs/wire-format.md): 38 value bytes, 40 with type and length. The Probe
// TLV flags are defined here only: End.OAM (bpf/end_oam.c) tests R and C, the agent N.
const (
	ProbeValueLen = 38
	// ProbeVersion is the only version End functions act on.
	ProbeVersion uint8 = 1
	// ProbeReport (R) asks nodes to report the probe out-of-band to ReportTo.
	ProbeReport uint8 = 0x80
	// ProbeCapture (C) asks nodes to append the first CaptureLen packet bytes to the report.
	ProbeCapture uint8 = 0x40
	// ProbeNextHops (N) asks the node's agent to add its FIB next hops toward the next segment
	// to the report (oam.NextHops). It needs R, and C with a capture of at least the IPv6
	// header: the agent reads the next segment from the destination address of the packet as
	// the node forwarded it.
	ProbeNextHops uint8 = 0x20
)

// Probe is the value of the Probe TLV, written once by the prober and never rewritten.
type Probe struct {
	// Version is ProbeVersion; MarshalTo writes ProbeVersion when it is 0.
	Version uint8
	// Flags: ProbeReport, ProbeCapture, ProbeNextHops.
	Flags uint8
	// Session identifies one run (one srv6-ping, one monitor job).
	Session uint32
	// Sequence is the probe number within the session.
	Sequence uint32
	// TxTimestamp is CLOCK_TAI in nanoseconds, taken just before sending.
	TxTimestamp uint64
	// ReportTo is the collector's address; the zero Addr or :: means "no report".
	ReportTo netip.Addr
	// ReportPort is the collector's UDP port.
	ReportPort uint16
	// CaptureLen is how many packet bytes to append to a report when ProbeCapture is set.
	CaptureLen uint8
}

// MarshalTo writes the 38-byte value of p into value[:ProbeValueLen] (value must be that long;
// shorter is a *FieldError) without allocating.
func (p *Probe) MarshalTo(value []byte) error {
	if len(value) < ProbeValueLen {
		return fieldErr("Probe", "value buffer of %d bytes, need %d", len(value), ProbeValueLen)
	}
	v := value[:ProbeValueLen]
	v[0] = p.Version
	if v[0] == 0 {
		v[0] = ProbeVersion
	}
	v[1] = p.Flags
	binary.BigEndian.PutUint32(v[2:6], p.Session)
	binary.BigEndian.PutUint32(v[6:10], p.Sequence)
	binary.BigEndian.PutUint64(v[10:18], p.TxTimestamp)
	a := p.ReportTo.As16()
	copy(v[18:34], a[:])
	binary.BigEndian.PutUint16(v[34:36], p.ReportPort)
	v[36] = p.CaptureLen
	v[37] = 0
	return nil
}

// ParseProbe decodes the value of a Probe TLV. A value of the wrong length or an unknown
// version is a *FieldError.
func ParseProbe(value []byte) (Probe, error) {
	if len(value) != ProbeValueLen {
		return Probe{}, fieldErr("Probe Length", "%d, want %d", len(value), ProbeValueLen)
	}
	if value[0] != ProbeVersion {
		return Probe{}, fieldErr("Probe Version", "%d, want %d", value[0], ProbeVersion)
	}
	return Probe{
		Version:     value[0],
		Flags:       value[1],
		Session:     binary.BigEndian.Uint32(value[2:6]),
		Sequence:    binary.BigEndian.Uint32(value[6:10]),
		TxTimestamp: binary.BigEndian.Uint64(value[10:18]),
		ReportTo:    netip.AddrFrom16([16]byte(value[18:34])),
		ReportPort:  binary.BigEndian.Uint16(value[34:36]),
		CaptureLen:  value[36],
	}, nil
}

// Timestamp Slots TLV layout (docs/wire-format.md).
const (
	// SlotsHeaderLen is the value bytes before the first slot: N, flags, 4 reserved.
	SlotsHeaderLen = 6
	// SlotLen is the size of one slot.
	SlotLen = 16
	// MaxSlots is the most slots the one-byte TLV length allows: 6 + 16*15 = 246.
	MaxSlots = 15
	// SlotWritten (W) marks a slot an End function has filled.
	SlotWritten uint8 = 0x80
)

// Slots is a view of a Timestamp Slots TLV value. Slot i belongs to Segment List[i] in WIRE
// order (slot 0 is the final segment): the End function that processes Segment List[k] sees
// Segments Left = k-1 and writes slot k. SetSlot writes through to the underlying bytes.
type Slots struct {
	value []byte
}

// Slot is one timestamp slot.
type Slot struct {
	// NodeID is the writing node's identity; 0 means unwritten.
	NodeID uint32
	// Flags: SlotWritten.
	Flags uint8
	// SegmentsLeft is Segments Left as the End function saw it (after the kernel's decrement).
	SegmentsLeft uint8
	// Timestamp is bpf_ktime_get_tai_ns() when the End function ran.
	Timestamp uint64
}

// Written reports whether an End function filled the slot.
func (s Slot) Written() bool { return s.Flags&SlotWritten != 0 }

// ParseSlots checks the value of a Timestamp Slots TLV (length 6+16N, N in the first byte,
// 1 ≤ N ≤ 15) and returns a view of it.
func ParseSlots(value []byte) (Slots, error) {
	if len(value) < SlotsHeaderLen || (len(value)-SlotsHeaderLen)%SlotLen != 0 {
		return Slots{}, fieldErr("Slots Length", "%d, want 6 + 16*N", len(value))
	}
	n := (len(value) - SlotsHeaderLen) / SlotLen
	if int(value[0]) != n {
		return Slots{}, fieldErr("Slots N", "%d, but the length holds %d slots", value[0], n)
	}
	if n == 0 || n > MaxSlots {
		return Slots{}, fieldErr("Slots N", "%d, want 1 to %d", n, MaxSlots)
	}
	return Slots{value: value}, nil
}

// Len returns the number of slots.
func (s Slots) Len() int {
	if len(s.value) < SlotsHeaderLen {
		return 0
	}
	return (len(s.value) - SlotsHeaderLen) / SlotLen
}

// Slot returns slot i (wire index). An index out of range is a *FieldError.
func (s Slots) Slot(i int) (Slot, error) {
	if i < 0 || i >= s.Len() {
		return Slot{}, fieldErr("Slots", "slot %d out of range (%d slots)", i, s.Len())
	}
	b := s.value[SlotsHeaderLen+i*SlotLen:]
	return Slot{
		NodeID:       binary.BigEndian.Uint32(b[0:4]),
		Flags:        b[4],
		SegmentsLeft: b[5],
		Timestamp:    binary.BigEndian.Uint64(b[8:16]),
	}, nil
}

// SetSlot writes slot i (wire index) in place, as an End function would.
func (s Slots) SetSlot(i int, v Slot) error {
	if i < 0 || i >= s.Len() {
		return fieldErr("Slots", "slot %d out of range (%d slots)", i, s.Len())
	}
	b := s.value[SlotsHeaderLen+i*SlotLen:]
	binary.BigEndian.PutUint32(b[0:4], v.NodeID)
	b[4] = v.Flags
	b[5] = v.SegmentsLeft
	b[6], b[7] = 0, 0
	binary.BigEndian.PutUint64(b[8:16], v.Timestamp)
	return nil
}
