package bpf

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// EventSize is the size of struct oam_event, the fixed part of every end_oam ring buffer record.
const EventSize = 80

// Event is one probe end_oam saw, decoded from a ring buffer record.
type Event struct {
	SID            netip.Addr // the segment the node processed
	ReportTo       netip.Addr // collector from the Probe TLV
	TimestampNs    uint64     // CLOCK_TAI when end_oam ran
	SenderTxNs     uint64     // the prober's TX timestamp
	Session        uint32
	Sequence       uint32
	IngressIfindex uint32
	NodeID         uint32
	PacketLen      uint32
	ReportPort     uint16
	SegmentsLeft   uint8 // after the kernel's decrement
	ProbeFlags     uint8
	SlotWritten    bool
	// Capture is the start of the packet (from the IPv6 header) when the probe asked for it. It
	// aliases the sample buffer given to DecodeEvent.
	Capture []byte
}

// DecodeEvent decodes a raw ring buffer record into ev without allocating. A record with a
// capture has room for 255 captured bytes, so sample may be longer than EventSize plus the capture.
func DecodeEvent(sample []byte, ev *Event) error {
	if len(sample) < EventSize {
		return fmt.Errorf("end_oam event: %d bytes, want at least %d", len(sample), EventSize)
	}
	le := binary.LittleEndian // bpfel objects only: the sample is in host order on amd64/arm64
	ev.SID = netip.AddrFrom16([16]byte(sample[0:16]))
	ev.ReportTo = netip.AddrFrom16([16]byte(sample[16:32]))
	ev.TimestampNs = le.Uint64(sample[32:])
	ev.SenderTxNs = le.Uint64(sample[40:])
	ev.Session = le.Uint32(sample[48:])
	ev.Sequence = le.Uint32(sample[52:])
	ev.IngressIfindex = le.Uint32(sample[56:])
	ev.NodeID = le.Uint32(sample[60:])
	ev.PacketLen = le.Uint32(sample[64:])
	ev.ReportPort = le.Uint16(sample[68:])
	capLen := int(le.Uint16(sample[70:]))
	ev.SegmentsLeft = sample[72]
	ev.ProbeFlags = sample[73]
	ev.SlotWritten = sample[74] != 0
	if EventSize+capLen > len(sample) {
		return fmt.Errorf("end_oam event: capture_len %d exceeds the %d bytes after the event", capLen, len(sample)-EventSize)
	}
	ev.Capture = sample[EventSize : EventSize+capLen]
	return nil
}
