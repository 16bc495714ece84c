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
	recordFlagNextHops    = 0x40
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
	// NextHops is the node's FIB next hops toward the next segment, when the probe set N;
	// nil otherwise.
	NextHops *NextHops
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

// Fits reports whether a record with captureLen captured bytes (and no next hops) still fits in
// the datagram.
func (b *ReportBuilder) Fits(captureLen int) bool {
	return len(b.buf)+ReportRecordSize+captureLen <= MaxReportSize
}

// FitsRecord reports whether rec, capture and next hops included, still fits in the datagram.
func (b *ReportBuilder) FitsRecord(rec *ReportRecord) bool {
	return len(b.buf)+rec.encodedSize() <= MaxReportSize
}

func (rec *ReportRecord) encodedSize() int {
	n := ReportRecordSize + len(rec.Capture)
	if rec.NextHops != nil {
		n += NextHopsHeaderSize + NextHopSize*len(rec.NextHops.Hops)
	}
	return n
}

// Add appends rec. It returns false, leaving the report unchanged, when the record does not fit
// (see FitsRecord), its capture is longer than 255 bytes, its SID is not IPv6 or its next hops
// do not validate (NextHops.Validate).
func (b *ReportBuilder) Add(rec *ReportRecord) bool {
	if len(rec.Capture) > 255 || !rec.SID.Is6() || !b.FitsRecord(rec) || b.count == 0xffff {
		return false
	}
	if rec.NextHops != nil && rec.NextHops.Validate() != nil {
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
	if rec.NextHops != nil {
		r[45] |= recordFlagNextHops
	}
	binary.BigEndian.PutUint16(r[46:], uint16(len(rec.Capture)))
	b.buf = append(b.buf, rec.Capture...)
	if rec.NextHops != nil {
		b.buf = rec.NextHops.appendBinary(b.buf)
	}
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
			case rec.NextHops != nil && rec.NextHops.Validate() != nil:
				return dst, fmt.Errorf("agent report: record %d: %w", i, rec.NextHops.Validate())
			default:
				return dst, fmt.Errorf("agent report: record %d: does not fit in %d bytes", i, MaxReportSize)
			}
		}
	}
	return append(dst, b.Bytes()...), nil
}

// UnmarshalBinary decodes a report, reusing r.Records' backing array. Captured bytes alias data;
// next hops are allocated (only records of probes that set N have them).
// Every malformation is a *ReportError naming the field.
func (r *Report) UnmarshalBinary(data []byte) error {
	if len(data) < ReportHeaderSize {
		return &ReportError{-1, "length", fmt.Sprintf("%d bytes, want at least %d", len(data), ReportHeaderSize)}
	}
	if len(data) > MaxReportSize {
		return &ReportError{-1, "length", fmt.Sprintf("%d bytes, at most %d", len(data), MaxReportSize)}
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
		if d[45]&^(recordFlagSlotWritten|recordFlagNextHops) != 0 {
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
		capOff := off
		off += capLen
		var nh *NextHops
		if d[45]&recordFlagNextHops != 0 {
			nh = new(NextHops)
			n, err := nh.decode(data[off:])
			if err != nil {
				err.Record = i
				return err
			}
			off += n
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
			Capture:        data[capOff : capOff+capLen : capOff+capLen],
			NextHops:       nh,
		})
	}
	if off != len(data) {
		return &ReportError{-1, "length", fmt.Sprintf("%d trailing bytes after %d records", len(data)-off, count)}
	}
	return nil
}

// Next hops: the block a record carries after its captured bytes when its flag N is set, the
// node's FIB route toward the next segment with all its multipath next hops. Layout and byte
// diagram: docs/wire-format.md, section "Next hops".

// Sizes of the next-hop block.
const (
	NextHopsHeaderSize = 40
	NextHopSize        = 40
	// MaxNextHops bounds the next hops of one record; a route with more sets Truncated.
	MaxNextHops = 16
)

// NextHopStatus says what the node's FIB lookup found.
type NextHopStatus uint8

// Next-hop statuses; only NextHopsOK comes with next hops.
const (
	NextHopsOK            NextHopStatus = 0 // a forwarding route; Hops holds its next hops
	NextHopsNoRoute       NextHopStatus = 1 // no route, or an unreachable/prohibit/blackhole one
	NextHopsLocal         NextHopStatus = 2 // the next segment is an address or a SID (seg6local) of this node
	NextHopsNoDestination NextHopStatus = 3 // the probe's capture did not hold its IPv6 header
	NextHopsLimited       NextHopStatus = 4 // the agent's lookup budget was spent; not looked up
	NextHopsError         NextHopStatus = 5 // the lookup failed otherwise
)

var nextHopStatusNames = [...]string{"ok", "no-route", "local", "no-destination", "limited", "error"}

func (s NextHopStatus) String() string {
	if int(s) < len(nextHopStatusNames) {
		return nextHopStatusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Next-hop block flags and next-hop flags.
const (
	nextHopsFlagTruncated    = 0x80
	nextHopsFlagSelectedOnly = 0x40
	nextHopsFlagOutputLookup = 0x20
	nextHopFlagDead          = 0x80
	nextHopFlagLinkDown      = 0x40
	nextHopFlagOnLink        = 0x20
)

// NextHops is one node's answer to "where do you send this probe next": the route its FIB
// matched for the next segment, with every next hop of a multipath route.
type NextHops struct {
	// Destination is the address looked up: the next segment, i.e. the IPv6 destination of the
	// probe as the node forwarded it. Unspecified (::) with NextHopsNoDestination.
	Destination netip.Addr
	Status      NextHopStatus
	// Prefix is the matched route's destination, and Table its routing table (NextHopsOK only).
	Prefix netip.Prefix
	Table  uint32
	// Truncated: the route has more than MaxNextHops next hops; Hops holds the first ones.
	Truncated bool
	// SelectedOnly: the kernel could not return the whole matched route (RTM_F_FIB_MATCH), so
	// Hops is the one next hop it selected for this lookup, not every equal-cost one.
	SelectedOnly bool
	// OutputLookup: the lookup from the probe's ingress interface failed (not for want of a
	// route: the interface gone, say), and this is the answer of an output lookup (no ingress
	// interface) instead; with any status a lookup gives (ok, no-route, local, error).
	OutputLookup bool
	Hops         []NextHop
}

// NextHop is one next hop of a route.
type NextHop struct {
	// Gateway is the neighbour's address; unspecified (::) for a directly connected route.
	Gateway netip.Addr
	// Ifindex and Ifname are the outgoing interface (node-local).
	Ifindex uint32
	Ifname  string
	// Weight is the next hop's share of a multipath route, 1 to 256 (iproute2's "weight").
	Weight uint16
	// Dead, LinkDown and OnLink are the kernel's RTNH_F_DEAD, RTNH_F_LINKDOWN, RTNH_F_ONLINK.
	Dead, LinkDown, OnLink bool
}

// Validate checks what the decoder would reject, so that the encoder never writes it.
func (n *NextHops) Validate() error {
	switch {
	case n.Status > NextHopsError:
		return fmt.Errorf("next hops: status %d unknown", n.Status)
	case !n.Destination.Is6() || n.Destination.Zone() != "":
		return fmt.Errorf("next hops: destination %v: not an IPv6 address", n.Destination)
	case n.Status == NextHopsOK && (len(n.Hops) == 0 || !n.Prefix.IsValid() || !n.Prefix.Addr().Is6() || n.Prefix.Addr().Zone() != "" || n.Prefix != n.Prefix.Masked()):
		return fmt.Errorf("next hops: status ok wants an IPv6 prefix (masked) and at least one next hop, got %v and %d", n.Prefix, len(n.Hops))
	case n.Status != NextHopsOK && (len(n.Hops) != 0 || n.Prefix.IsValid() || n.Table != 0 || n.Truncated || n.SelectedOnly):
		return fmt.Errorf("next hops: status %v comes without next hops, prefix, table or flags", n.Status)
	case n.OutputLookup && (n.Status == NextHopsNoDestination || n.Status == NextHopsLimited):
		return fmt.Errorf("next hops: status %v comes without a lookup (output lookup flag set)", n.Status)
	case len(n.Hops) > MaxNextHops:
		return fmt.Errorf("next hops: %d, at most %d (set Truncated)", len(n.Hops), MaxNextHops)
	}
	for i := range n.Hops {
		h := &n.Hops[i]
		switch {
		case !h.Gateway.Is6() || h.Gateway.Zone() != "":
			return fmt.Errorf("next hop %d: gateway %v: not an IPv6 address (:: when directly connected)", i, h.Gateway)
		case h.Ifindex == 0:
			return fmt.Errorf("next hop %d: interface index 0", i)
		case h.Weight < 1 || h.Weight > 256:
			return fmt.Errorf("next hop %d: weight %d, want 1 to 256", i, h.Weight)
		case !validIfname(h.Ifname):
			return fmt.Errorf("next hop %d: interface name %q: want 1 to 15 bytes without NUL", i, h.Ifname)
		}
	}
	return nil
}

// validIfname: Linux interface names are 1 to IFNAMSIZ-1 bytes; the wire has room for 16 with
// NUL padding.
func validIfname(s string) bool {
	if len(s) == 0 || len(s) > 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return false
		}
	}
	return true
}

func (n *NextHops) appendBinary(dst []byte) []byte {
	off := len(dst)
	dst = append(dst, make([]byte, NextHopsHeaderSize+NextHopSize*len(n.Hops))...)
	h := dst[off:]
	dest := n.Destination.As16()
	copy(h[0:16], dest[:])
	if n.Status == NextHopsOK {
		p := n.Prefix.Addr().As16()
		copy(h[16:32], p[:])
		h[32] = uint8(n.Prefix.Bits())
	}
	h[33] = uint8(n.Status)
	if n.Truncated {
		h[34] |= nextHopsFlagTruncated
	}
	if n.SelectedOnly {
		h[34] |= nextHopsFlagSelectedOnly
	}
	if n.OutputLookup {
		h[34] |= nextHopsFlagOutputLookup
	}
	h[35] = uint8(len(n.Hops))
	binary.BigEndian.PutUint32(h[36:], n.Table)
	for i := range n.Hops {
		nh := &n.Hops[i]
		e := h[NextHopsHeaderSize+NextHopSize*i:]
		gw := nh.Gateway.As16()
		copy(e[0:16], gw[:])
		binary.BigEndian.PutUint32(e[16:], nh.Ifindex)
		binary.BigEndian.PutUint16(e[20:], nh.Weight)
		if nh.Dead {
			e[22] |= nextHopFlagDead
		}
		if nh.LinkDown {
			e[22] |= nextHopFlagLinkDown
		}
		if nh.OnLink {
			e[22] |= nextHopFlagOnLink
		}
		copy(e[24:40], nh.Ifname)
	}
	return dst
}

// decode reads a next-hop block from the start of data and returns its length. Errors name the
// field; the caller sets the record index.
func (n *NextHops) decode(data []byte) (int, *ReportError) {
	if len(data) < NextHopsHeaderSize {
		return 0, &ReportError{Field: "next hops", Reason: fmt.Sprintf("%d bytes left, want %d", len(data), NextHopsHeaderSize)}
	}
	h := data[:NextHopsHeaderSize]
	status := NextHopStatus(h[33])
	if status > NextHopsError {
		return 0, &ReportError{Field: "next hops status", Reason: fmt.Sprintf("%d unknown", h[33])}
	}
	if h[34]&^(nextHopsFlagTruncated|nextHopsFlagSelectedOnly|nextHopsFlagOutputLookup) != 0 {
		return 0, &ReportError{Field: "next hops flags", Reason: fmt.Sprintf("%#02x has unknown bits", h[34])}
	}
	count := int(h[35])
	if count > MaxNextHops {
		return 0, &ReportError{Field: "next hops count", Reason: fmt.Sprintf("%d, at most %d", count, MaxNextHops)}
	}
	*n = NextHops{
		Destination:  netip.AddrFrom16([16]byte(h[0:16])),
		Status:       status,
		Table:        binary.BigEndian.Uint32(h[36:]),
		Truncated:    h[34]&nextHopsFlagTruncated != 0,
		SelectedOnly: h[34]&nextHopsFlagSelectedOnly != 0,
		OutputLookup: h[34]&nextHopsFlagOutputLookup != 0,
	}
	if n.OutputLookup && (status == NextHopsNoDestination || status == NextHopsLimited) {
		return 0, &ReportError{Field: "next hops flags", Reason: fmt.Sprintf("output lookup with status %v, which comes without a lookup", status)}
	}
	if status == NextHopsOK {
		if h[32] > 128 {
			return 0, &ReportError{Field: "next hops prefix len", Reason: fmt.Sprintf("%d, at most 128", h[32])}
		}
		n.Prefix = netip.PrefixFrom(netip.AddrFrom16([16]byte(h[16:32])), int(h[32]))
		if n.Prefix != n.Prefix.Masked() {
			return 0, &ReportError{Field: "next hops prefix", Reason: fmt.Sprintf("%v has host bits set", n.Prefix)}
		}
		if count == 0 {
			return 0, &ReportError{Field: "next hops count", Reason: "0 with status ok"}
		}
	} else {
		for _, b := range h[16:33] {
			if b != 0 {
				return 0, &ReportError{Field: "next hops prefix", Reason: fmt.Sprintf("set with status %v", status)}
			}
		}
		if count != 0 || h[34]&^nextHopsFlagOutputLookup != 0 || n.Table != 0 {
			return 0, &ReportError{Field: "next hops count", Reason: fmt.Sprintf("status %v comes without next hops, flags or table", status)}
		}
	}
	size := NextHopsHeaderSize + NextHopSize*count
	if len(data) < size {
		return 0, &ReportError{Field: "next hops", Reason: fmt.Sprintf("%d next hops need %d bytes, %d left", count, size, len(data))}
	}
	if count > 0 {
		n.Hops = make([]NextHop, count)
	}
	for i := range n.Hops {
		e := data[NextHopsHeaderSize+NextHopSize*i:][:NextHopSize]
		if e[22]&^(nextHopFlagDead|nextHopFlagLinkDown|nextHopFlagOnLink) != 0 || e[23] != 0 {
			return 0, &ReportError{Field: "next hop flags", Reason: fmt.Sprintf("next hop %d: %#02x %#02x has unknown bits", i, e[22], e[23])}
		}
		name := e[24:40]
		end := 0
		for end < len(name) && name[end] != 0 {
			end++
		}
		for _, b := range name[end:] {
			if b != 0 {
				return 0, &ReportError{Field: "next hop ifname", Reason: fmt.Sprintf("next hop %d: bytes after the NUL", i)}
			}
		}
		nh := NextHop{
			Gateway:  netip.AddrFrom16([16]byte(e[0:16])),
			Ifindex:  binary.BigEndian.Uint32(e[16:]),
			Weight:   binary.BigEndian.Uint16(e[20:]),
			Dead:     e[22]&nextHopFlagDead != 0,
			LinkDown: e[22]&nextHopFlagLinkDown != 0,
			OnLink:   e[22]&nextHopFlagOnLink != 0,
		}
		switch {
		case end == 0 || end > 15:
			return 0, &ReportError{Field: "next hop ifname", Reason: fmt.Sprintf("next hop %d: %d bytes, want 1 to 15", i, end)}
		case nh.Ifindex == 0:
			return 0, &ReportError{Field: "next hop ifindex", Reason: fmt.Sprintf("next hop %d: 0", i)}
		case nh.Weight < 1 || nh.Weight > 256:
			return 0, &ReportError{Field: "next hop weight", Reason: fmt.Sprintf("next hop %d: %d, want 1 to 256", i, nh.Weight)}
		}
		nh.Ifname = string(name[:end])
		n.Hops[i] = nh
	}
	return size, nil
}
