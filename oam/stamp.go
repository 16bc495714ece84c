package oam

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"
)

// STAMP test packets (RFC 8762), unauthenticated mode: the UDP payloads that a Session-Sender
// (probes/stamp) and srv6-agent's Session-Reflector exchange for two-way delay measurement
// without ICMP. Layout and byte diagram: docs/wire-format.md, section "STAMP".
//
// Timestamps are 64-bit values whose format the Z bit of the error estimate next to them names:
// NTP (Z = 0: 32-bit seconds since 1900 UTC, 32-bit fraction) or PTPv2 truncated (Z = 1: 32-bit
// seconds since 1970 TAI, 32-bit nanoseconds). srv6oam sends PTP timestamps taken on CLOCK_TAI,
// so that they compare directly with End.OAM's bpf_ktime_get_tai_ns().

// STAMPPort is the UDP port IANA assigned to STAMP (RFC 8762 §4.1).
const STAMPPort = 862

// STAMPPacketSize is the size of both unauthenticated test packets. A Session-Sender may pad its
// packet; the reflector's reply is then as long as the request, never longer.
const STAMPPacketSize = 44

// ntpEpochOffset is the number of seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const ntpEpochOffset = 2_208_988_800

// STAMPTimestamp is a raw 64-bit STAMP timestamp: seconds in the high 32 bits, the fraction
// (NTP) or nanoseconds (PTP) in the low 32 bits. Its format is the Z bit of the error estimate
// sent with it.
type STAMPTimestamp uint64

// PTPTimestamp encodes nanoseconds since the epoch of CLOCK_TAI (1970-01-01 TAI) in PTPv2
// truncated format.
func PTPTimestamp(taiNs int64) STAMPTimestamp {
	return STAMPTimestamp(uint64(taiNs/1e9)<<32 | uint64(taiNs%1e9))
}

// NTPTimestamp encodes a wall-clock (UTC) time in NTP format, era 0.
func NTPTimestamp(t time.Time) STAMPTimestamp {
	sec := uint64(t.Unix() + ntpEpochOffset)
	frac := (uint64(t.Nanosecond()) << 32) / 1e9
	return STAMPTimestamp(sec<<32 | frac)
}

// Seconds and Low are the two halves of the timestamp.
func (t STAMPTimestamp) Seconds() uint32 { return uint32(t >> 32) }
func (t STAMPTimestamp) Low() uint32     { return uint32(t) }

// Nanos converts the timestamp to nanoseconds since 1970-01-01 of its time scale: TAI for a PTP
// timestamp (ptp true), UTC for an NTP one.
func (t STAMPTimestamp) Nanos(ptp bool) int64 {
	if ptp {
		return int64(t.Seconds())*1e9 + int64(t.Low())
	}
	ns := (uint64(t.Low())*1e9 + 1<<31) >> 32
	return (int64(t.Seconds())-ntpEpochOffset)*1e9 + int64(ns)
}

// STAMPErrorEstimate is the 16-bit Error Estimate of RFC 4656 §4.1.2 as RFC 8762 §4.2.1 uses it:
//
//	 0                   1
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|S|Z|   Scale   |   Multiplier  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// S: the clock is synchronised to an external source; Z: the timestamp is PTP (1) or NTP (0);
// the error bound is Multiplier × 2^(Scale−32) seconds. Multiplier 0 is invalid.
type STAMPErrorEstimate uint16

const (
	errorEstimateSync = 0x8000
	errorEstimatePTP  = 0x4000
)

// NewSTAMPErrorEstimate returns the smallest error estimate that bounds bound (rounded up,
// saturating at the largest one, 255 × 2^31 s).
func NewSTAMPErrorEstimate(synchronised, ptp bool, bound time.Duration) STAMPErrorEstimate {
	var e STAMPErrorEstimate
	if synchronised {
		e |= errorEstimateSync
	}
	if ptp {
		e |= errorEstimatePTP
	}
	if bound < 0 {
		bound = 0
	}
	// The bound in units of 2^-32 s, rounded up: bound_ns × 2^32 / 10^9 (128-bit product).
	hi, lo := bits.Mul64(uint64(bound), 1<<32)
	units, rem := bits.Div64(hi, lo, 1e9)
	if rem != 0 {
		units++
	}
	units = max(units, 1)
	for scale := uint64(0); scale < 64; scale++ {
		mult := (units + (1 << scale) - 1) >> scale // ceil(units / 2^scale)
		if mult <= 255 {
			return e | STAMPErrorEstimate(scale<<8|mult)
		}
	}
	return e | 63<<8 | 255
}

// Synchronised is the S bit.
func (e STAMPErrorEstimate) Synchronised() bool { return e&errorEstimateSync != 0 }

// PTP is the Z bit: the timestamp next to this estimate is in PTPv2 format.
func (e STAMPErrorEstimate) PTP() bool { return e&errorEstimatePTP != 0 }

// Scale and Multiplier are the bound's fields.
func (e STAMPErrorEstimate) Scale() uint8      { return uint8(e>>8) & 0x3f }
func (e STAMPErrorEstimate) Multiplier() uint8 { return uint8(e) }

// Bound is the error bound, Multiplier × 2^(Scale−32) seconds, rounded up to a nanosecond and
// saturating at the largest time.Duration.
func (e STAMPErrorEstimate) Bound() time.Duration {
	s := float64(e.Multiplier()) * math.Ldexp(1, int(e.Scale())-32) * 1e9
	if s >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(math.Ceil(s))
}

func (e STAMPErrorEstimate) String() string {
	return fmt.Sprintf("S=%t Z=%t ±%v", e.Synchronised(), e.PTP(), e.Bound())
}

// STAMPError is a decode error naming the field at fault.
type STAMPError struct {
	Packet string // "test" or "reply"
	Field  string
	Reason string
}

func (e *STAMPError) Error() string {
	return fmt.Sprintf("STAMP %s packet: %s: %s", e.Packet, e.Field, e.Reason)
}

// STAMPTest is the Session-Sender test packet, unauthenticated mode (RFC 8762 §4.2.1).
type STAMPTest struct {
	Sequence      uint32
	Timestamp     STAMPTimestamp // the sender's transmit time
	ErrorEstimate STAMPErrorEstimate
	// SSID is the Session-Sender Identifier (RFC 8972 §3, octets 14-15; 0 when the sender
	// sets none): the reflector copies it into its reply, and the sender matches replies on it.
	SSID uint16
}

// MarshalTo writes p into b (at least STAMPPacketSize bytes) with the MBZ field zeroed, and
// returns STAMPPacketSize. Bytes of b beyond it are left alone (the caller's padding).
func (p *STAMPTest) MarshalTo(b []byte) (int, error) {
	if len(b) < STAMPPacketSize {
		return 0, fmt.Errorf("STAMP test packet: buffer of %d bytes, need %d", len(b), STAMPPacketSize)
	}
	be := binary.BigEndian
	be.PutUint32(b[0:], p.Sequence)
	be.PutUint64(b[4:], uint64(p.Timestamp))
	be.PutUint16(b[12:], uint16(p.ErrorEstimate))
	be.PutUint16(b[14:], p.SSID)
	clear(b[16:STAMPPacketSize])
	return STAMPPacketSize, nil
}

// UnmarshalBinary decodes a test packet. b may be longer (padding, or RFC 8972 TLVs, which are
// ignored). The MBZ field is ignored on receipt as RFC 8762 requires; a packet shorter than
// STAMPPacketSize, an error estimate with multiplier 0 (RFC 4656: corrupt) and a PTP timestamp
// with 10^9 or more nanoseconds are errors.
func (p *STAMPTest) UnmarshalBinary(b []byte) error {
	if err := checkLen("test", b); err != nil {
		return err
	}
	be := binary.BigEndian
	p.Sequence = be.Uint32(b[0:])
	p.Timestamp = STAMPTimestamp(be.Uint64(b[4:]))
	p.ErrorEstimate = STAMPErrorEstimate(be.Uint16(b[12:]))
	p.SSID = be.Uint16(b[14:])
	return checkTimestamp("test", "timestamp", "error estimate", p.Timestamp, p.ErrorEstimate)
}

// STAMPReply is the Session-Reflector test packet, unauthenticated mode (RFC 8762 §4.3.1).
type STAMPReply struct {
	Sequence            uint32
	Timestamp           STAMPTimestamp // the reflector's transmit time
	ErrorEstimate       STAMPErrorEstimate
	ReceiveTimestamp    STAMPTimestamp // when the reflector received the test packet
	SenderSequence      uint32
	SenderTimestamp     STAMPTimestamp
	SenderErrorEstimate STAMPErrorEstimate
	SenderTTL           uint8 // hop limit of the test packet as it reached the reflector
	// SSID is the Session-Sender Identifier copied from the test packet (RFC 8972 §3).
	SSID uint16
}

// MarshalTo writes r into b (at least STAMPPacketSize bytes) with the MBZ fields zeroed, and
// returns STAMPPacketSize.
func (r *STAMPReply) MarshalTo(b []byte) (int, error) {
	if len(b) < STAMPPacketSize {
		return 0, fmt.Errorf("STAMP reply packet: buffer of %d bytes, need %d", len(b), STAMPPacketSize)
	}
	be := binary.BigEndian
	be.PutUint32(b[0:], r.Sequence)
	be.PutUint64(b[4:], uint64(r.Timestamp))
	be.PutUint16(b[12:], uint16(r.ErrorEstimate))
	be.PutUint16(b[14:], r.SSID)
	be.PutUint64(b[16:], uint64(r.ReceiveTimestamp))
	be.PutUint32(b[24:], r.SenderSequence)
	be.PutUint64(b[28:], uint64(r.SenderTimestamp))
	be.PutUint16(b[36:], uint16(r.SenderErrorEstimate))
	be.PutUint16(b[38:], 0)
	b[40] = r.SenderTTL
	b[41], b[42], b[43] = 0, 0, 0
	return STAMPPacketSize, nil
}

// UnmarshalBinary decodes a reply, with the checks of STAMPTest.UnmarshalBinary on each of its
// three timestamps.
func (r *STAMPReply) UnmarshalBinary(b []byte) error {
	if err := checkLen("reply", b); err != nil {
		return err
	}
	be := binary.BigEndian
	r.Sequence = be.Uint32(b[0:])
	r.Timestamp = STAMPTimestamp(be.Uint64(b[4:]))
	r.ErrorEstimate = STAMPErrorEstimate(be.Uint16(b[12:]))
	r.SSID = be.Uint16(b[14:])
	r.ReceiveTimestamp = STAMPTimestamp(be.Uint64(b[16:]))
	r.SenderSequence = be.Uint32(b[24:])
	r.SenderTimestamp = STAMPTimestamp(be.Uint64(b[28:]))
	r.SenderErrorEstimate = STAMPErrorEstimate(be.Uint16(b[36:]))
	r.SenderTTL = b[40]
	return r.checkTimestamps()
}

// checkTimestamps checks the reply's three timestamps against their error estimates.
func (r *STAMPReply) checkTimestamps() error {
	if err := checkTimestamp("reply", "timestamp", "error estimate", r.Timestamp, r.ErrorEstimate); err != nil {
		return err
	}
	// The receive timestamp shares the reflector's error estimate (and so its format).
	if err := checkTimestamp("reply", "receive timestamp", "error estimate", r.ReceiveTimestamp, r.ErrorEstimate); err != nil {
		return err
	}
	return checkTimestamp("reply", "session-sender timestamp", "session-sender error estimate", r.SenderTimestamp, r.SenderErrorEstimate)
}

// stampFields are the fields of both packets by offset, to name the first one a short packet
// cuts.
var stampFields = [...]struct {
	end          int
	test, replyF string
}{
	{4, "sequence number", "sequence number"},
	{12, "timestamp", "timestamp"},
	{14, "error estimate", "error estimate"},
	{16, "SSID", "SSID"},
	{24, "MBZ", "receive timestamp"},
	{28, "MBZ", "session-sender sequence number"},
	{36, "MBZ", "session-sender timestamp"},
	{38, "MBZ", "session-sender error estimate"},
	{40, "MBZ", "MBZ"},
	{41, "MBZ", "session-sender TTL"},
	{44, "MBZ", "MBZ"},
}

func checkLen(packet string, b []byte) error {
	if len(b) >= STAMPPacketSize {
		return nil
	}
	for _, f := range stampFields {
		if len(b) < f.end {
			name := f.test
			if packet == "reply" {
				name = f.replyF
			}
			return &STAMPError{Packet: packet, Field: name, Reason: fmt.Sprintf("truncated: packet has %d bytes, want at least %d", len(b), STAMPPacketSize)}
		}
	}
	return nil
}

func checkTimestamp(packet, tsField, eeField string, ts STAMPTimestamp, ee STAMPErrorEstimate) error {
	if ee.Multiplier() == 0 {
		return &STAMPError{Packet: packet, Field: eeField, Reason: "multiplier 0 (RFC 4656 §4.1.2: the packet is corrupt)"}
	}
	if ee.PTP() && ts.Low() >= 1e9 {
		return &STAMPError{Packet: packet, Field: tsField, Reason: fmt.Sprintf("PTP nanoseconds %d, want < 10^9", ts.Low())}
	}
	return nil
}

// STAMPErrorEstimate encodes the clock state for a STAMP packet whose timestamps are PTP (TAI):
// S from Synchronised, the bound from the estimated error.
func (c ClockState) STAMPErrorEstimate() STAMPErrorEstimate { return c.STAMPErrorEstimateIn(true) }

// STAMPErrorEstimateIn is STAMPErrorEstimate for timestamps in PTP (ptp) or NTP format: the Z
// bit says which.
func (c ClockState) STAMPErrorEstimateIn(ptp bool) STAMPErrorEstimate {
	return NewSTAMPErrorEstimate(c.Synchronised, ptp, time.Duration(c.EstErrorMicros)*time.Microsecond)
}

// STAMPTimestampAt encodes taiNs (CLOCK_TAI nanoseconds) in PTP format, or in NTP format (UTC)
// given taiOffset, CLOCK_TAI less CLOCK_REALTIME.
func STAMPTimestampAt(taiNs int64, ptp bool, taiOffset time.Duration) STAMPTimestamp {
	if ptp {
		return PTPTimestamp(taiNs)
	}
	return NTPTimestamp(time.Unix(0, taiNs-int64(taiOffset)))
}

// STAMPAuthPacketSize is the size of both authenticated test packets (RFC 8762 §4.2.2,
// §4.3.2): the fields of the unauthenticated ones spread over 16-octet blocks, and an HMAC.
const STAMPAuthPacketSize = 112

// stampAuthHMACAt is where the HMAC starts: it covers the six blocks before it (96 octets).
const stampAuthHMACAt = 96

// ErrSTAMPIntegrity: an authenticated packet's HMAC does not verify with the key.
var ErrSTAMPIntegrity = errors.New("STAMP: HMAC does not verify (wrong key, or the packet was changed)")

// sealAuth writes the HMAC (HMAC-SHA-256 truncated to 128 bits, RFC 8762 §4.4) of b[:96]
// into b[96:112].
func sealAuth(key, b []byte) {
	m := hmac.New(sha256.New, key)
	m.Write(b[:stampAuthHMACAt])
	var sum [sha256.Size]byte
	copy(b[stampAuthHMACAt:STAMPAuthPacketSize], m.Sum(sum[:0]))
}

func verifyAuth(key, b []byte) bool {
	m := hmac.New(sha256.New, key)
	m.Write(b[:stampAuthHMACAt])
	var sum [sha256.Size]byte
	return hmac.Equal(m.Sum(sum[:0])[:16], b[stampAuthHMACAt:STAMPAuthPacketSize])
}

func checkAuthLen(packet string, b []byte) error {
	if len(b) < STAMPAuthPacketSize {
		return &STAMPError{Packet: packet, Field: "authenticated packet", Reason: fmt.Sprintf("truncated: %d bytes, want at least %d", len(b), STAMPAuthPacketSize)}
	}
	return nil
}

// MarshalAuthTo writes p into b (at least STAMPAuthPacketSize bytes) in authenticated mode
// (RFC 8762 §4.2.2; the SSID of RFC 8972 at octets 26-27) with its HMAC under key, and returns
// STAMPAuthPacketSize. Bytes beyond it are left alone.
//
//	 0: Sequence Number   4: MBZ (12)   16: Timestamp   24: Error Estimate   26: SSID
//	28: MBZ (68)   96: HMAC (16)
func (p *STAMPTest) MarshalAuthTo(b, key []byte) (int, error) {
	if len(b) < STAMPAuthPacketSize {
		return 0, fmt.Errorf("STAMP test packet: buffer of %d bytes, need %d", len(b), STAMPAuthPacketSize)
	}
	clear(b[:STAMPAuthPacketSize])
	be := binary.BigEndian
	be.PutUint32(b[0:], p.Sequence)
	be.PutUint64(b[16:], uint64(p.Timestamp))
	be.PutUint16(b[24:], uint16(p.ErrorEstimate))
	be.PutUint16(b[26:], p.SSID)
	sealAuth(key, b)
	return STAMPAuthPacketSize, nil
}

// UnmarshalAuth decodes an authenticated test packet whose HMAC verifies under key
// (ErrSTAMPIntegrity otherwise), with UnmarshalBinary's checks.
func (p *STAMPTest) UnmarshalAuth(b, key []byte) error {
	if err := checkAuthLen("test", b); err != nil {
		return err
	}
	if !verifyAuth(key, b) {
		return ErrSTAMPIntegrity
	}
	be := binary.BigEndian
	p.Sequence = be.Uint32(b[0:])
	p.Timestamp = STAMPTimestamp(be.Uint64(b[16:]))
	p.ErrorEstimate = STAMPErrorEstimate(be.Uint16(b[24:]))
	p.SSID = be.Uint16(b[26:])
	return checkTimestamp("test", "timestamp", "error estimate", p.Timestamp, p.ErrorEstimate)
}

// MarshalAuthTo writes r into b (at least STAMPAuthPacketSize bytes) in authenticated mode
// (RFC 8762 §4.3.2) with its HMAC under key:
//
//	 0: Sequence Number   4: MBZ (12)   16: Timestamp   24: Error Estimate   26: SSID
//	28: MBZ (4)   32: Receive Timestamp   40: MBZ (8)   48: Session-Sender Sequence Number
//	52: MBZ (12)   64: Session-Sender Timestamp   72: Session-Sender Error Estimate
//	74: MBZ (6)   80: Ses-Sender TTL   81: MBZ (15)   96: HMAC (16)
func (r *STAMPReply) MarshalAuthTo(b, key []byte) (int, error) {
	if len(b) < STAMPAuthPacketSize {
		return 0, fmt.Errorf("STAMP reply packet: buffer of %d bytes, need %d", len(b), STAMPAuthPacketSize)
	}
	clear(b[:STAMPAuthPacketSize])
	be := binary.BigEndian
	be.PutUint32(b[0:], r.Sequence)
	be.PutUint64(b[16:], uint64(r.Timestamp))
	be.PutUint16(b[24:], uint16(r.ErrorEstimate))
	be.PutUint16(b[26:], r.SSID)
	be.PutUint64(b[32:], uint64(r.ReceiveTimestamp))
	be.PutUint32(b[48:], r.SenderSequence)
	be.PutUint64(b[64:], uint64(r.SenderTimestamp))
	be.PutUint16(b[72:], uint16(r.SenderErrorEstimate))
	b[80] = r.SenderTTL
	sealAuth(key, b)
	return STAMPAuthPacketSize, nil
}

// UnmarshalAuth decodes an authenticated reply whose HMAC verifies under key
// (ErrSTAMPIntegrity otherwise), with UnmarshalBinary's checks.
func (r *STAMPReply) UnmarshalAuth(b, key []byte) error {
	if err := checkAuthLen("reply", b); err != nil {
		return err
	}
	if !verifyAuth(key, b) {
		return ErrSTAMPIntegrity
	}
	be := binary.BigEndian
	r.Sequence = be.Uint32(b[0:])
	r.Timestamp = STAMPTimestamp(be.Uint64(b[16:]))
	r.ErrorEstimate = STAMPErrorEstimate(be.Uint16(b[24:]))
	r.SSID = be.Uint16(b[26:])
	r.ReceiveTimestamp = STAMPTimestamp(be.Uint64(b[32:]))
	r.SenderSequence = be.Uint32(b[48:])
	r.SenderTimestamp = STAMPTimestamp(be.Uint64(b[64:]))
	r.SenderErrorEstimate = STAMPErrorEstimate(be.Uint16(b[72:]))
	r.SenderTTL = b[80]
	return r.checkTimestamps()
}
