package oam

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Agent reports: the UDP datagrams srv6-agent sends to a collector, one or more records (one per
// probe an End function timestamped) behind a header that names the node and the state of its
// clock. Layout and byte diagram: docs/wire-format.md, section "Agent report".

// ReportMagic opens every report datagram ("S6AR").
const ReportMagic uint32 = 0x53364152

// ReportVersion is the version this package encodes and the only one it decodes.
const ReportVersion = 1

// Sizes of the fixed parts of a report.
const (
	ReportHeaderSize = 24
	ReportRecordSize = 48 // without the captured bytes that may follow
	// MaxReportSize keeps a report in one unfragmented datagram on any IPv6 path:
	// 1280 (minimum MTU) - 40 (IPv6) - 8 (UDP).
	MaxReportSize = 1232
)

// Clock flags in the report header.
const (
	clockFlagSynchronised = 0x80
)

// Record flags.
const (
	recordFlagSlotWritten = 0x80
)

// ClockState is the reporting node's clock as adjtimex(2) describes it.
type ClockState struct {
	// Synchronised is true when the kernel considers the clock synchronised (STA_UNSYNC clear
	// and adjtimex did not return TIME_ERROR).
	Synchronised bool
	// State is adjtimex's return value: TIME_OK 0, TIME_INS 1, TIME_DEL 2, TIME_OOP 3,
	// TIME_WAIT 4, TIME_ERROR 5.
	State uint8
	// EstErrorMicros and MaxErrorMicros are the kernel's estimated and maximum error, in
	// microseconds, as set by the NTP/PTP daemon.
	EstErrorMicros uint32
	MaxErrorMicros uint32
}

// ReportRecord is one probe as one node saw it.
type ReportRecord struct {
	SID            netip.Addr // the segment the node processed
	Session        uint32
	Sequence       uint32
	TimestampNs    uint64 // CLOCK_TAI at the node
	SenderTxNs     uint64 // the prober's TX timestamp from the Probe TLV
	IngressIfindex uint32
	SegmentsLeft   uint8
	SlotWritten    bool   // the node also wrote the timestamp into the packet
	Capture        []byte // first bytes of the packet when the probe asked; at most 255
}

// Report is one decoded datagram.
type Report struct {
	NodeID  uint32
	Clock   ClockState
	Records []ReportRecord
}

// ReportError is a decode error naming the field at fault.
type ReportError struct {
	Record int // index of the record, -1 for the header
	Field  string
	Reason string
}

func (e *ReportError) Error() string {
	if e.Record < 0 {
		return fmt.Sprintf("agent report: header: %s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("agent report: record %d: %s: %s", e.Record, e.Field, e.Reason)
}

// ReportBuilder writes a report into a buffer it owns and reuses, one record at a time, so that a
// batch can grow until the datagram is full. The zero value is ready after Reset.
type ReportBuilder struct {
	buf   []byte
	count int
}

// Reset starts a new report for nodeID with clock state clock, dropping any records.
func (b *ReportBuilder) Reset(nodeID uint32, clock ClockState) {
	if cap(b.buf) < MaxReportSize {
		b.buf = make([]byte, 0, MaxReportSize)
	}
	b.buf = b.buf[:ReportHeaderSize]
	h := b.buf
	binary.BigEndian.PutUint32(h[0:], ReportMagic)
	h[4] = ReportVersion
	h[5] = 0
	if clock.Synchronised {
		h[5] = clockFlagSynchronised
	}
	h[6] = clock.State
	h[7] = 0
	binary.BigEndian.PutUint32(h[8:], nodeID)
	binary.BigEndian.PutUint32(h[12:], clock.EstErrorMicros)
	binary.BigEndian.PutUint32(h[16:], clock.MaxErrorMicros)
	binary.BigEndian.PutUint16(h[20:], 0)
	binary.BigEndian.PutUint16(h[22:], 0)
	b.count = 0
}

// Fits reports whether a record with captureLen captured bytes still fits in the datagram.
func (b *ReportBuilder) Fits(captureLen int) bool {
	return len(b.buf)+ReportRecordSize+captureLen <= MaxReportSize
}

// Add appends rec. It returns false, leaving the report unchanged, when the record does not fit
// (see Fits) or its capture is longer than 255 bytes or its SID is not IPv6.
func (b *ReportBuilder) Add(rec *ReportRecord) bool {
	if len(rec.Capture) > 255 || !rec.SID.Is6() || !b.Fits(len(rec.Capture)) || b.count == 0xffff {
		return false
	}
	n := len(b.buf)
	b.buf = b.buf[:n+ReportRecordSize]
	r := b.buf[n:]
	sid := rec.SID.As16()
	copy(r[0:16], sid[:])
	binary.BigEndian.PutUint32(r[16:], rec.Session)
	binary.BigEndian.PutUint32(r[20:], rec.Sequence)
	binary.BigEndian.PutUint64(r[24:], rec.TimestampNs)
	binary.BigEndian.PutUint64(r[32:], rec.SenderTxNs)
	binary.BigEndian.PutUint32(r[40:], rec.IngressIfindex)
	r[44] = rec.SegmentsLeft
	r[45] = 0
	if rec.SlotWritten {
		r[45] = recordFlagSlotWritten
	}
	binary.BigEndian.PutUint16(r[46:], uint16(len(rec.Capture)))
	b.buf = append(b.buf, rec.Capture...)
	b.count++
	binary.BigEndian.PutUint16(b.buf[20:], uint16(b.count))
	return true
}

// Count is the number of records added since Reset.
func (b *ReportBuilder) Count() int { return b.count }

// Bytes is the encoded report; valid until the next Reset or Add.
func (b *ReportBuilder) Bytes() []byte { return b.buf }

// AppendBinary appends the encoding of r to dst. It fails when the report would not fit in
// MaxReportSize or a record cannot be encoded.
func (r *Report) AppendBinary(dst []byte) ([]byte, error) {
	var b ReportBuilder
	b.buf = dst[len(dst):]
	if cap(b.buf) < MaxReportSize {
		b.buf = make([]byte, 0, MaxReportSize)
	}
	b.Reset(r.NodeID, r.Clock)
	for i := range r.Records {
		rec := &r.Records[i]
		if !b.Add(rec) {
			switch {
			case !rec.SID.Is6():
				return dst, fmt.Errorf("agent report: record %d: sid %v: not an IPv6 address", i, rec.SID)
			case len(rec.Capture) > 255:
				return dst, fmt.Errorf("agent report: record %d: capture: %d bytes, at most 255", i, len(rec.Capture))
			default:
				return dst, fmt.Errorf("agent report: record %d: does not fit in %d bytes", i, MaxReportSize)
			}
		}
	}
	return append(dst, b.Bytes()...), nil
}

// UnmarshalBinary decodes a report, reusing r.Records' backing array. Captured bytes alias data.
// Every malformation is a *ReportError naming the field.
func (r *Report) UnmarshalBinary(data []byte) error {
	if len(data) < ReportHeaderSize {
		return &ReportError{-1, "length", fmt.Sprintf("%d bytes, want at least %d", len(data), ReportHeaderSize)}
	}
	if m := binary.BigEndian.Uint32(data[0:]); m != ReportMagic {
		return &ReportError{-1, "magic", fmt.Sprintf("%#08x, want %#08x", m, ReportMagic)}
	}
	if data[4] != ReportVersion {
		return &ReportError{-1, "version", fmt.Sprintf("%d, want %d", data[4], ReportVersion)}
	}
	if data[5]&^clockFlagSynchronised != 0 {
		return &ReportError{-1, "clock flags", fmt.Sprintf("%#02x has unknown bits", data[5])}
	}
	if data[6] > 5 {
		return &ReportError{-1, "clock state", fmt.Sprintf("%d, want 0..5 (adjtimex TIME_*)", data[6])}
	}
	r.Clock = ClockState{
		Synchronised:   data[5]&clockFlagSynchronised != 0,
		State:          data[6],
		EstErrorMicros: binary.BigEndian.Uint32(data[12:]),
		MaxErrorMicros: binary.BigEndian.Uint32(data[16:]),
	}
	r.NodeID = binary.BigEndian.Uint32(data[8:])
	count := int(binary.BigEndian.Uint16(data[20:]))
	if count == 0 {
		return &ReportError{-1, "count", "0 records"}
	}
	if max := (len(data) - ReportHeaderSize) / ReportRecordSize; count > max {
		return &ReportError{-1, "count", fmt.Sprintf("%d records, but only %d bytes follow the header", count, len(data)-ReportHeaderSize)}
	}
	r.Records = r.Records[:0]
	off := ReportHeaderSize
	for i := 0; i < count; i++ {
		if len(data)-off < ReportRecordSize {
			return &ReportError{i, "length", fmt.Sprintf("%d bytes left, want %d", len(data)-off, ReportRecordSize)}
		}
		d := data[off : off+ReportRecordSize]
		if d[45]&^recordFlagSlotWritten != 0 {
			return &ReportError{i, "flags", fmt.Sprintf("%#02x has unknown bits", d[45])}
		}
		capLen := int(binary.BigEndian.Uint16(d[46:]))
		if capLen > 255 {
			return &ReportError{i, "capture len", fmt.Sprintf("%d, at most 255", capLen)}
		}
		off += ReportRecordSize
		if len(data)-off < capLen {
			return &ReportError{i, "capture", fmt.Sprintf("capture len %d but %d bytes left", capLen, len(data)-off)}
		}
		r.Records = append(r.Records, ReportRecord{
			SID:            netip.AddrFrom16([16]byte(d[0:16])),
			Session:        binary.BigEndian.Uint32(d[16:]),
			Sequence:       binary.BigEndian.Uint32(d[20:]),
			TimestampNs:    binary.BigEndian.Uint64(d[24:]),
			SenderTxNs:     binary.BigEndian.Uint64(d[32:]),
			IngressIfindex: binary.BigEndian.Uint32(d[40:]),
			SegmentsLeft:   d[44],
			SlotWritten:    d[45]&recordFlagSlotWritten != 0,
			Capture:        data[off : off+capLen : off+capLen],
		})
		off += capLen
	}
	if off != len(data) {
		return &ReportError{-1, "length", fmt.Sprintf("%d trailing bytes after %d records", len(data)-off, count)}
	}
	return nil
}
