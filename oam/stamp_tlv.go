package oam

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// STAMP TLVs (RFC 8972 §4, RFC 9503): they follow the 44-octet base packet of both test
// packets. Each is a flags octet, a type octet and a 16-bit length of the value alone. A
// Session-Reflector returns every TLV at the length it came with: it fills in those it knows,
// flags those it does not (U), and stops at a malformed one (M), copying the rest. The reply is
// exactly as long as the test packet. Byte diagrams: docs/wire-format.md, "STAMP TLVs".

// STAMP TLV flags (RFC 8972 §4; IANA "STAMP TLV Flags").
const (
	STAMPFlagUnrecognized uint8 = 0x80 // U: the reflector did not understand (or could not honour) the TLV
	STAMPFlagMalformed    uint8 = 0x40 // M: the TLV's length is wrong for its type or runs past the packet
	STAMPFlagIntegrity    uint8 = 0x20 // I: the HMAC did not verify
)

// STAMPTLVType is a STAMP TLV type (IANA "STAMP TLV Types").
type STAMPTLVType uint8

// The TLV types srv6oam sends, reflects or names.
const (
	STAMPTLVExtraPadding      STAMPTLVType = 1  // RFC 8972 §4.1
	STAMPTLVLocation          STAMPTLVType = 2  // RFC 8972 §4.2
	STAMPTLVTimestampInfo     STAMPTLVType = 3  // RFC 8972 §4.3
	STAMPTLVClassOfService    STAMPTLVType = 4  // RFC 8972 §4.4
	STAMPTLVDirectMeasurement STAMPTLVType = 5  // RFC 8972 §4.5
	STAMPTLVAccessReport      STAMPTLVType = 6  // RFC 8972 §4.6
	STAMPTLVFollowUp          STAMPTLVType = 7  // RFC 8972 §4.7
	STAMPTLVHMAC              STAMPTLVType = 8  // RFC 8972 §4.8
	STAMPTLVDestinationNode   STAMPTLVType = 9  // RFC 9503 §3
	STAMPTLVReturnPath        STAMPTLVType = 10 // RFC 9503 §4
)

var stampTLVNames = map[STAMPTLVType]string{
	STAMPTLVExtraPadding: "Extra Padding", STAMPTLVLocation: "Location", STAMPTLVTimestampInfo: "Timestamp Information",
	STAMPTLVClassOfService: "Class of Service", STAMPTLVDirectMeasurement: "Direct Measurement",
	STAMPTLVAccessReport: "Access Report", STAMPTLVFollowUp: "Follow-Up Telemetry", STAMPTLVHMAC: "HMAC",
	STAMPTLVDestinationNode: "Destination Node Address", STAMPTLVReturnPath: "Return Path",
}

func (t STAMPTLVType) String() string {
	if n, ok := stampTLVNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// Location sub-TLV types (RFC 8972 §4.2). A sender asks with the generic ones (zeros); the
// reflector answers with the specific one of the same length.
const (
	stampLocSourceMAC   = 1
	stampLocSourceEUI64 = 3
	stampLocDestIP      = 4
	stampLocDestIPv6    = 6
	stampLocSourceIP    = 7
	stampLocSourceIPv6  = 9
)

// Return Path sub-TLV types (RFC 9503 §4.1).
const (
	stampRPControlCode     = 1
	stampRPReturnAddress   = 2
	stampRPSRMPLS          = 3
	stampRPSRv6SegmentList = 4
)

// Synchronisation sources and timestamping methods of the Timestamp Information TLV
// (RFC 8972 §4.3; IANA registries).
const (
	STAMPSyncNTP       uint8 = 1
	STAMPSyncPTP       uint8 = 2
	STAMPSyncSSU       uint8 = 3
	STAMPSyncGNSS      uint8 = 4
	STAMPSyncFreeRun   uint8 = 5
	STAMPMethodHW      uint8 = 1
	STAMPMethodSWLocal uint8 = 2
	STAMPMethodControl uint8 = 3
)

// STAMPTLV is one TLV as it is on the wire. Value aliases the packet.
type STAMPTLV struct {
	Flags uint8
	Type  STAMPTLVType
	Value []byte
}

// STAMPTLVHeaderLen is the size of a TLV's flags, type and length.
const STAMPTLVHeaderLen = 4

// AppendSTAMPTLV appends one TLV.
func AppendSTAMPTLV(b []byte, flags uint8, typ STAMPTLVType, value []byte) []byte {
	b = append(b, flags, uint8(typ), byte(len(value)>>8), byte(len(value)))
	return append(b, value...)
}

// WalkSTAMPTLVs calls fn for every whole TLV of area (the bytes after the base packet), with
// its offset in area, until fn returns false. It returns the offset of the first bytes that are
// not a whole TLV (len(area) when every byte is): a header whose length runs past the end.
func WalkSTAMPTLVs(area []byte, fn func(off int, t STAMPTLV) bool) int {
	off := 0
	for len(area)-off >= STAMPTLVHeaderLen {
		n := int(binary.BigEndian.Uint16(area[off+2:]))
		if off+STAMPTLVHeaderLen+n > len(area) {
			return off
		}
		t := STAMPTLV{Flags: area[off], Type: STAMPTLVType(area[off+1]), Value: area[off+STAMPTLVHeaderLen : off+STAMPTLVHeaderLen+n]}
		if !fn(off, t) {
			return len(area)
		}
		off += STAMPTLVHeaderLen + n
	}
	return off
}

// STAMPTLVRequest is what a Session-Sender asks of the reflector with TLVs. Zero values ask for
// nothing.
type STAMPTLVRequest struct {
	// Location asks the reflector for the addresses and ports it saw (a NAT or a wrong
	// return path shows there).
	Location bool
	// TimestampInfo asks how the reflector takes T2 and T3 and what its clock follows.
	TimestampInfo bool
	// CoS asks for the reply's DSCP to be DSCP (0-63) and reports the DSCP and ECN the test
	// packet arrived with.
	CoS  bool
	DSCP uint8
	// DirectMeasurement carries the count of test packets sent, this one included; a
	// stateful reflector returns its receive and transmit counts: loss per direction.
	DirectMeasurement bool
	// FollowUp asks a stateful reflector for the sequence and real transmit time of its
	// previous reply.
	FollowUp bool
	// DestinationNode is the reflector that should answer (RFC 9503; invalid: none).
	DestinationNode netip.Addr
	// ReturnAddress and ReturnSegments ask for the reply to go to that address and through
	// that SRv6 segment list (RFC 9503 Return Path; the reflector answers only addresses it
	// allows). NoReply asks for no reply at all (Control Code 0).
	ReturnAddress  netip.Addr
	ReturnSegments []netip.Addr
	NoReply        bool
	// HMACKey, when set, appends an HMAC TLV (HMAC-SHA-256 truncated to 128 bits over the
	// sequence number and the TLVs before it); the reply's HMAC is checked with the same key.
	HMACKey []byte
}

// Empty reports whether the request asks for nothing.
func (r *STAMPTLVRequest) Empty() bool {
	return !r.Location && !r.TimestampInfo && !r.CoS && !r.DirectMeasurement && !r.FollowUp &&
		!r.DestinationNode.IsValid() && !r.ReturnAddress.IsValid() && len(r.ReturnSegments) == 0 && !r.NoReply &&
		len(r.HMACKey) == 0
}

// STAMPHMACLen is the length of the HMAC TLV's value.
const STAMPHMACLen = 16

// AppendTLVs appends the request's TLVs (the HMAC TLV, when asked for, is written zero: the
// sender fills it per packet with SealSTAMPHMAC). sent is the count for Direct Measurement
// (SetSTAMPSentCount changes it per packet).
func (r *STAMPTLVRequest) AppendTLVs(b []byte, sent uint32) ([]byte, error) {
	var z [16]byte
	if r.Location {
		var v []byte
		v = append(v, 0, 0, 0, 0) // destination and source ports: the reflector's to fill
		v = AppendSTAMPTLV(v, 0, stampLocDestIP, z[:])
		v = AppendSTAMPTLV(v, 0, stampLocSourceIP, z[:])
		b = AppendSTAMPTLV(b, 0, STAMPTLVLocation, v)
	}
	if r.TimestampInfo {
		b = AppendSTAMPTLV(b, 0, STAMPTLVTimestampInfo, z[:4])
	}
	if r.CoS {
		if r.DSCP > 63 {
			return nil, fmt.Errorf("STAMP Class of Service: DSCP %d: want 0-63", r.DSCP)
		}
		b = AppendSTAMPTLV(b, 0, STAMPTLVClassOfService, []byte{r.DSCP << 2, 0, 0, 0})
	}
	if r.DirectMeasurement {
		var v [12]byte
		binary.BigEndian.PutUint32(v[0:], sent)
		b = AppendSTAMPTLV(b, 0, STAMPTLVDirectMeasurement, v[:])
	}
	if r.FollowUp {
		b = AppendSTAMPTLV(b, 0, STAMPTLVFollowUp, z[:16])
	}
	if r.DestinationNode.IsValid() {
		a := r.DestinationNode.Unmap()
		b = AppendSTAMPTLV(b, 0, STAMPTLVDestinationNode, a.AsSlice())
	}
	if r.NoReply && (r.ReturnAddress.IsValid() || len(r.ReturnSegments) > 0) {
		return nil, fmt.Errorf("STAMP Return Path: no reply and a return address or segment list exclude each other (RFC 9503 §4)")
	}
	if r.NoReply || r.ReturnAddress.IsValid() || len(r.ReturnSegments) > 0 {
		var v []byte
		if r.NoReply {
			v = AppendSTAMPTLV(v, 0, stampRPControlCode, z[:4])
		}
		if r.ReturnAddress.IsValid() {
			v = AppendSTAMPTLV(v, 0, stampRPReturnAddress, r.ReturnAddress.Unmap().AsSlice())
		}
		if len(r.ReturnSegments) > 0 {
			if len(r.ReturnSegments) > 64 {
				return nil, fmt.Errorf("STAMP Return Path: %d segments: at most 64", len(r.ReturnSegments))
			}
			var segs []byte
			for _, s := range r.ReturnSegments {
				if !s.Is6() || s.Is4In6() {
					return nil, fmt.Errorf("STAMP Return Path: segment %v is not IPv6", s)
				}
				a := s.As16()
				segs = append(segs, a[:]...)
			}
			v = AppendSTAMPTLV(v, 0, stampRPSRv6SegmentList, segs)
		}
		b = AppendSTAMPTLV(b, 0, STAMPTLVReturnPath, v)
	}
	if len(r.HMACKey) > 0 {
		b = AppendSTAMPTLV(b, 0, STAMPTLVHMAC, z[:STAMPHMACLen])
	}
	return b, nil
}

// stampHMAC is HMAC-SHA-256 truncated to 128 bits over the sequence number and the TLVs before
// the HMAC TLV (RFC 8972 §4.8).
func stampHMAC(key []byte, seq []byte, before []byte, out []byte) {
	m := hmac.New(sha256.New, key)
	m.Write(seq[:4])
	m.Write(before)
	var sum [sha256.Size]byte
	copy(out, m.Sum(sum[:0])[:STAMPHMACLen])
}

// SealSTAMPHMAC fills the value of the HMAC TLV at hmacOff (its header's offset in pkt's TLV
// area) for pkt, a whole test packet or reply. It reports false when there is no HMAC TLV
// there.
func SealSTAMPHMAC(key, pkt []byte, hmacOff int) bool {
	area := pkt[STAMPPacketSize:]
	if hmacOff < 0 || hmacOff+STAMPTLVHeaderLen+STAMPHMACLen > len(area) || STAMPTLVType(area[hmacOff+1]) != STAMPTLVHMAC {
		return false
	}
	stampHMAC(key, pkt, area[:hmacOff], area[hmacOff+STAMPTLVHeaderLen:hmacOff+STAMPTLVHeaderLen+STAMPHMACLen])
	return true
}

// verifySTAMPHMAC checks the HMAC TLV at hmacOff of pkt; one of the wrong length fails.
func verifySTAMPHMAC(key, pkt []byte, hmacOff int) bool {
	area := pkt[STAMPPacketSize:]
	if binary.BigEndian.Uint16(area[hmacOff+2:]) != STAMPHMACLen {
		return false
	}
	var want [STAMPHMACLen]byte
	stampHMAC(key, pkt, area[:hmacOff], want[:])
	return hmac.Equal(want[:], area[hmacOff+STAMPTLVHeaderLen:hmacOff+STAMPTLVHeaderLen+STAMPHMACLen])
}

// FindSTAMPHMAC returns the offset in the TLV area of pkt of its HMAC TLV's header, -1 without
// one.
func FindSTAMPHMAC(pkt []byte) int {
	if len(pkt) <= STAMPPacketSize {
		return -1
	}
	at := -1
	WalkSTAMPTLVs(pkt[STAMPPacketSize:], func(off int, t STAMPTLV) bool {
		if t.Type == STAMPTLVHMAC {
			at = off
			return false
		}
		return true
	})
	return at
}

// STAMPSession is a stateful reflector's state of one session (RFC 8972 §3: the SSID with the
// addresses and ports): its own sequence numbers and counters.
type STAMPSession struct {
	// Next is the Sequence Number of the session's next reply (from 0).
	Next uint32
	// Received and Sent count test packets received and replies sent, this one included once
	// counted.
	Received, Sent uint32
	// PrevSeq and PrevTx are the sequence number and real transmit time of the previous
	// reply (HavePrev: there was one), for the Follow-Up Telemetry TLV.
	PrevSeq  uint32
	PrevTx   STAMPTimestamp
	HavePrev bool
}

// STAMPReflectEnv is what a reflector knows of a test packet when it answers its TLVs.
type STAMPReflectEnv struct {
	// Src and Dst are the test packet's addresses and ports (the reflector's are Dst).
	Src, Dst netip.AddrPort
	// TClass is the test packet's traffic class (DSCP and ECN), -1 when unknown.
	TClass int
	// SyncSource and the timestamping methods of T2 (In) and T3 (Out) for the Timestamp
	// Information TLV.
	SyncSource, MethodIn, MethodOut uint8
	// AllowDSCP says whether a reply may carry the DSCP a Class of Service TLV asks for (nil:
	// any).
	AllowDSCP func(dscp uint8) bool
	// IsLocal says whether an address is the reflector's own (Destination Node Address).
	IsLocal func(netip.Addr) bool
	// AllowReturn says whether a reply may be sent to an address a Return Path TLV names;
	// AllowSegment whether it may be sent through a SID a Return Path's segment list names
	// (nil: through none).
	AllowReturn  func(netip.Addr) bool
	AllowSegment func(netip.Addr) bool
	// Session is the stateful reflector's session (nil: stateless).
	Session *STAMPSession
	// HMACKey verifies and seals HMAC TLVs (nil: an HMAC TLV is not recognised).
	HMACKey []byte
}

// STAMPReflectAction is what the reply must honour, from the TLVs.
type STAMPReflectAction struct {
	// DSCP is the reply's DSCP (-1: the socket's default).
	DSCP int
	// Source is the reply's source address a Destination Node Address TLV named (invalid:
	// the address the test packet was sent to).
	Source netip.Addr
	// NoReply: the sender asked for none (Return Path, Control Code 0).
	NoReply bool
	// SameLink: reply through the interface the test packet came in on (Control Code 1).
	SameLink bool
	// ReturnAddr is where the reply goes instead of the sender's address (invalid: the
	// sender's); ReturnSegments the SRv6 segment list it goes through (empty: none). They
	// alias the reply.
	ReturnAddr     netip.Addr
	ReturnSegments []byte
	// Unrecognized counts TLVs returned with the U flag, Malformed is set when processing
	// stopped at a malformed TLV, IntegrityFailed when the HMAC did not verify.
	Unrecognized    int
	Malformed       bool
	IntegrityFailed bool
	// HMACOff is the offset in the TLV area of the HMAC TLV to seal once the reply is
	// complete (-1: none).
	HMACOff int
}

// ReflectSTAMPTLVs answers, in place, the TLVs of reply: a copy of the test packet (the same
// length), whose base packet the reflector has already written (its sequence number is what
// the reply's HMAC covers). test is the test packet as received. The reply's HMAC TLV, when
// there is one, is sealed by the caller with SealSTAMPHMAC(env.HMACKey, reply, act.HMACOff)
// after the last change to the reply's sequence number or TLVs.
func ReflectSTAMPTLVs(test, reply []byte, env *STAMPReflectEnv) STAMPReflectAction {
	act := STAMPReflectAction{DSCP: -1, HMACOff: -1}
	if len(reply) <= STAMPPacketSize || len(test) != len(reply) {
		return act
	}
	area := reply[STAMPPacketSize:]
	// RFC 8972 §4.8: the HMAC is verified before any TLV is used; on failure every TLV goes
	// back with I set and nothing else is done.
	if hoff := FindSTAMPHMAC(test); hoff >= 0 && env.HMACKey != nil && binary.BigEndian.Uint16(test[STAMPPacketSize+hoff+2:]) == STAMPHMACLen {
		if !stampHMACPlaced(test[STAMPPacketSize:], hoff) || !verifySTAMPHMAC(env.HMACKey, test, hoff) {
			act.IntegrityFailed = true
			WalkSTAMPTLVs(area, func(off int, t STAMPTLV) bool {
				area[off] = STAMPFlagIntegrity
				return true
			})
			return act
		}
	}
	returnPathSeen := false
	end := WalkSTAMPTLVs(area, func(off int, t STAMPTLV) bool {
		if t.Type == 0 && t.Flags == 0 && len(t.Value) == 0 && allZero(area[off:]) {
			return false // zero padding of a sender without RFC 8972, returned as it came
		}
		flags := uint8(0)
		switch t.Type {
		case STAMPTLVExtraPadding, STAMPTLVAccessReport:
			if t.Type == STAMPTLVAccessReport && len(t.Value) != 4 {
				flags = STAMPFlagMalformed
			}
		case STAMPTLVLocation:
			flags = reflectLocation(t.Value, env)
		case STAMPTLVTimestampInfo:
			if len(t.Value) < 4 {
				flags = STAMPFlagMalformed
				break
			}
			t.Value[0], t.Value[1], t.Value[2], t.Value[3] = env.SyncSource, env.MethodIn, env.SyncSource, env.MethodOut
		case STAMPTLVClassOfService:
			if len(t.Value) != 4 {
				flags = STAMPFlagMalformed
				break
			}
			act.DSCP = int(t.Value[0] >> 2)
			if refused := reflectCoS(t.Value, env); refused {
				// RP set: the reply keeps the DSCP the test packet came with.
				act.DSCP = -1
				if env.TClass >= 0 {
					act.DSCP = env.TClass >> 2
				}
			}
		case STAMPTLVDirectMeasurement:
			switch {
			case len(t.Value) != 12:
				flags = STAMPFlagMalformed
			case env.Session == nil:
				flags = STAMPFlagUnrecognized // a stateless reflector keeps no counts
			default:
				binary.BigEndian.PutUint32(t.Value[4:], env.Session.Received)
				binary.BigEndian.PutUint32(t.Value[8:], env.Session.Sent+1) // this reply included
			}
		case STAMPTLVFollowUp:
			if len(t.Value) != 16 {
				flags = STAMPFlagMalformed
				clear(t.Value)
				break
			}
			clear(t.Value) // a stateless reflector, or no previous reply: zeros (RFC 8972 §4.7)
			if s := env.Session; s != nil && s.HavePrev {
				binary.BigEndian.PutUint32(t.Value[0:], s.PrevSeq)
				binary.BigEndian.PutUint64(t.Value[4:], uint64(s.PrevTx))
				t.Value[12] = env.MethodOut
			}
		case STAMPTLVHMAC:
			switch {
			case len(t.Value) != STAMPHMACLen:
				flags = STAMPFlagMalformed
			case env.HMACKey == nil:
				flags = STAMPFlagUnrecognized // no key to check it with
			default:
				act.HMACOff = off
			}
		case STAMPTLVDestinationNode:
			a, ok := netip.AddrFromSlice(t.Value)
			switch {
			case !ok:
				flags = STAMPFlagMalformed
			case env.IsLocal == nil || !env.IsLocal(a.Unmap()):
				flags = STAMPFlagUnrecognized // RFC 9503 §3: not the intended destination
			default:
				act.Source = a.Unmap() // RFC 9503 §3: the reply's source
			}
		case STAMPTLVReturnPath:
			if returnPathSeen { // RFC 9503 §4: only the first is processed
				flags = STAMPFlagUnrecognized
				break
			}
			returnPathSeen = true
			flags = reflectReturnPath(t.Value, env, &act)
		default:
			flags = STAMPFlagUnrecognized
		}
		area[off] = flags
		if flags&STAMPFlagUnrecognized != 0 {
			act.Unrecognized++
		}
		if flags&STAMPFlagMalformed != 0 {
			act.Malformed = true
			return false // RFC 8972 §4: processing stops, the rest is copied as it came
		}
		return true
	})
	if end < len(area) && len(area)-end >= STAMPTLVHeaderLen {
		area[end] = STAMPFlagMalformed // a TLV whose length runs past the packet
		act.Malformed = true
	}
	if act.Malformed {
		act.HMACOff = -1
	}
	return act
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// stampHMACPlaced: RFC 8972 §4.8 puts the HMAC TLV after every other TLV but Extra Padding.
func stampHMACPlaced(area []byte, hoff int) bool {
	ok := true
	WalkSTAMPTLVs(area, func(off int, t STAMPTLV) bool {
		if off > hoff && t.Type != STAMPTLVExtraPadding {
			ok = false
		}
		return ok
	})
	return ok
}

func reflectLocation(v []byte, env *STAMPReflectEnv) uint8 {
	if len(v) < 4 {
		return STAMPFlagMalformed
	}
	binary.BigEndian.PutUint16(v[0:], env.Dst.Port())
	binary.BigEndian.PutUint16(v[2:], env.Src.Port())
	flags := uint8(0)
	end := WalkSTAMPTLVs(v[4:], func(off int, t STAMPTLV) bool {
		sub := v[4+off:]
		var sf uint8
		switch t.Type {
		case stampLocDestIP, stampLocSourceIP:
			if len(t.Value) != 16 {
				sf = STAMPFlagMalformed
				break
			}
			a, typ := env.Dst.Addr(), uint8(stampLocDestIPv6)
			if t.Type == stampLocSourceIP {
				a, typ = env.Src.Addr(), stampLocSourceIPv6
			}
			if a.Unmap().Is4() {
				typ-- // the IPv4 sub-TLV: address then 12 octets MBZ
				clear(t.Value)
				a4 := a.Unmap().As4()
				copy(t.Value, a4[:])
			} else {
				a16 := a.As16()
				copy(t.Value, a16[:])
			}
			sub[1] = typ
		case stampLocSourceMAC:
			if len(t.Value) != 8 {
				sf = STAMPFlagMalformed
				break
			}
			// A UDP socket does not see the link layer: EUI-64 zeroed, as RFC 8972 §4.2.2
			// answers when there is no source MAC.
			sub[1] = stampLocSourceEUI64
			clear(t.Value)
		default:
			sf = STAMPFlagUnrecognized
		}
		sub[0] = sf
		if sf&STAMPFlagMalformed != 0 {
			flags = STAMPFlagMalformed
			return false
		}
		return true
	})
	if end < len(v)-4 {
		return STAMPFlagMalformed
	}
	return flags
}

// reflectCoS fills the Class of Service TLV's value and reports whether local policy refused
// the DSCP it asked for (RP).
func reflectCoS(v []byte, env *STAMPReflectEnv) bool {
	dscp1 := v[0] >> 2
	tc := env.TClass
	if tc < 0 {
		tc = 0
	}
	dscp2, ecn := uint8(tc)>>2, uint8(tc)&0x03
	rp := uint8(0)
	if env.AllowDSCP != nil && !env.AllowDSCP(dscp1) {
		rp = 1
	}
	// DSCP1 (6) | DSCP2 (6) | ECN (2) | RP (2) | Reserved (16)
	v[0] = dscp1<<2 | dscp2>>4
	v[1] = (dscp2&0x0f)<<4 | ecn<<2 | rp
	v[2], v[3] = 0, 0
	return rp != 0
}

func reflectReturnPath(v []byte, env *STAMPReflectEnv, act *STAMPReflectAction) uint8 {
	var control, addr, segs []byte
	flags := uint8(0)
	end := WalkSTAMPTLVs(v, func(off int, t STAMPTLV) bool {
		var sf uint8
		switch t.Type {
		case stampRPControlCode:
			if len(t.Value) != 4 {
				sf = STAMPFlagMalformed
			}
			control = t.Value
		case stampRPReturnAddress:
			if len(t.Value) != 4 && len(t.Value) != 16 {
				sf = STAMPFlagMalformed
			}
			addr = t.Value
		case stampRPSRv6SegmentList:
			if len(t.Value) == 0 || len(t.Value)%16 != 0 {
				sf = STAMPFlagMalformed
			}
			segs = t.Value
		default: // SR-MPLS label stacks and unknown sub-TLVs: this reflector cannot honour them
			sf = STAMPFlagUnrecognized
		}
		v[off] = sf
		if sf != 0 {
			flags = sf
		}
		return sf&STAMPFlagMalformed == 0
	})
	if end < len(v) || flags&STAMPFlagMalformed != 0 {
		return STAMPFlagMalformed
	}
	if flags != 0 {
		return STAMPFlagUnrecognized
	}
	if control != nil {
		// RFC 9503 §4.1.1: the control code overrides every other sub-TLV.
		if binary.BigEndian.Uint32(control)&1 == 0 {
			act.NoReply = true
		} else {
			act.SameLink = true
		}
		return 0
	}
	if addr != nil {
		a, _ := netip.AddrFromSlice(addr)
		a = a.Unmap()
		if env.AllowReturn == nil || !env.AllowReturn(a) || !a.Is6() {
			return STAMPFlagUnrecognized // a reflector is nobody's amplifier toward a third party
		}
		act.ReturnAddr = a
	}
	for i := 0; i+16 <= len(segs); i += 16 {
		// The reply goes to the first SID: a segment list may steer replies only through SIDs
		// the reflector's operator allows, never toward an arbitrary address.
		if env.AllowSegment == nil || !env.AllowSegment(netip.AddrFrom16([16]byte(segs[i:]))) {
			act.ReturnAddr = netip.Addr{}
			return STAMPFlagUnrecognized
		}
	}
	act.ReturnSegments = segs
	return 0
}

// STAMPReplyTLVs is what a reply's TLVs say, decoded for the Session-Sender.
type STAMPReplyTLVs struct {
	// Location: the addresses and ports the reflector saw (LocationOK: it filled them).
	LocationOK               bool
	SeenSrc, SeenDst         netip.AddrPort
	TimestampInfoOK          bool
	SyncSource               uint8
	MethodIn, MethodOut      uint8
	CoSOK                    bool
	DSCPAsked, DSCPArrived   uint8
	ECNArrived               uint8
	DSCPRefused              bool
	DirectOK                 bool
	SenderTx, ReflRx, ReflTx uint32
	FollowUpOK               bool
	FollowUpSeq              uint32
	FollowUpTx               STAMPTimestamp
	FollowUpMethod           uint8
	DestinationNodeConfirmed bool // the DNA TLV came back without U
	ReturnPathHonoured       bool // the Return Path TLV came back without U
	ReturnPathAsked          bool
	DestinationNodeAsked     bool
	// Unrecognized are the types that came back with U; Malformed when one came back with M;
	// IntegrityFailed when the reflector could not verify our HMAC (I) or, with a key, the
	// reply's HMAC does not verify (HMACChecked: it did).
	Unrecognized    []STAMPTLVType
	Malformed       bool
	IntegrityFailed bool
	HMACChecked     bool
}

// ParseSTAMPReplyTLVs decodes the TLVs of reply (a whole reply packet). key checks the reply's
// HMAC TLV when set. Bytes that are not whole TLVs (a reflector without RFC 8972 that pads
// with zeros) decode to nothing.
func ParseSTAMPReplyTLVs(reply, key []byte) STAMPReplyTLVs {
	var r STAMPReplyTLVs
	if len(reply) <= STAMPPacketSize {
		return r
	}
	area := reply[STAMPPacketSize:]
	malformed := false
	WalkSTAMPTLVs(area, func(_ int, t STAMPTLV) bool {
		malformed = malformed || t.Flags&STAMPFlagMalformed != 0
		return !malformed
	})
	if malformed {
		// The reflector stopped at a malformed TLV and sealed nothing: M, not an HMAC
		// failure, is what happened.
		r.Malformed = true
		return r
	}
	if hoff := FindSTAMPHMAC(reply); hoff >= 0 && key != nil && area[hoff]&STAMPFlagUnrecognized == 0 {
		r.HMACChecked = true
		if !verifySTAMPHMAC(key, reply, hoff) {
			r.IntegrityFailed = true
			return r // RFC 8972 §4.8: no TLV is used
		}
	}
	WalkSTAMPTLVs(area, func(off int, t STAMPTLV) bool {
		if t.Type == 0 && len(t.Value) == 0 && t.Flags == 0 && allZero(area[off:]) {
			return false // zero padding, not TLVs
		}
		if t.Flags&STAMPFlagIntegrity != 0 {
			r.IntegrityFailed = true
			return false
		}
		if t.Flags&STAMPFlagMalformed != 0 {
			r.Malformed = true
			return false
		}
		if t.Type == STAMPTLVDestinationNode {
			r.DestinationNodeAsked = true
		}
		if t.Type == STAMPTLVReturnPath {
			r.ReturnPathAsked = true
		}
		if t.Flags&STAMPFlagUnrecognized != 0 {
			r.Unrecognized = append(r.Unrecognized, t.Type)
			return true
		}
		v := t.Value
		switch t.Type {
		case STAMPTLVLocation:
			if len(v) < 4 {
				break
			}
			r.LocationOK = true
			dport, sport := binary.BigEndian.Uint16(v[0:]), binary.BigEndian.Uint16(v[2:])
			var src, dst netip.Addr
			WalkSTAMPTLVs(v[4:], func(_ int, s STAMPTLV) bool {
				if s.Flags != 0 || len(s.Value) != 16 {
					return true
				}
				switch s.Type {
				case stampLocDestIPv6:
					dst = netip.AddrFrom16([16]byte(s.Value))
				case stampLocSourceIPv6:
					src = netip.AddrFrom16([16]byte(s.Value))
				case stampLocDestIPv6 - 1:
					dst = netip.AddrFrom4([4]byte(s.Value[:4]))
				case stampLocSourceIPv6 - 1:
					src = netip.AddrFrom4([4]byte(s.Value[:4]))
				}
				return true
			})
			r.SeenSrc, r.SeenDst = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
		case STAMPTLVTimestampInfo:
			if len(v) >= 4 {
				r.TimestampInfoOK = true
				r.SyncSource, r.MethodIn, r.MethodOut = v[0], v[1], v[3]
			}
		case STAMPTLVClassOfService:
			if len(v) == 4 {
				r.CoSOK = true
				r.DSCPAsked = v[0] >> 2
				r.DSCPArrived = (v[0]&0x03)<<4 | v[1]>>4
				r.ECNArrived = (v[1] >> 2) & 0x03
				r.DSCPRefused = v[1]&0x03 != 0
			}
		case STAMPTLVDirectMeasurement:
			if len(v) == 12 {
				r.DirectOK = true
				r.SenderTx, r.ReflRx, r.ReflTx = binary.BigEndian.Uint32(v[0:]), binary.BigEndian.Uint32(v[4:]), binary.BigEndian.Uint32(v[8:])
			}
		case STAMPTLVFollowUp:
			if len(v) == 16 {
				r.FollowUpSeq, r.FollowUpTx, r.FollowUpMethod = binary.BigEndian.Uint32(v[0:]), STAMPTimestamp(binary.BigEndian.Uint64(v[4:])), v[12]
				r.FollowUpOK = r.FollowUpTx != 0
			}
		case STAMPTLVDestinationNode:
			r.DestinationNodeConfirmed = true
		case STAMPTLVReturnPath:
			r.ReturnPathHonoured = true
		}
		return true
	})
	return r
}

// ParseItem adds to r what one item of a TLV list asks, as srv6-ping's --stamp-tlv and
// a monitor job's stamp.tlvs spell them: location, timestamp-info, direct, follow-up,
// cos=DSCP, dna=ADDR.
func (r *STAMPTLVRequest) ParseItem(item string) error {
	name, val, hasVal := strings.Cut(strings.TrimSpace(item), "=")
	switch {
	case name == "location" && !hasVal:
		r.Location = true
	case name == "timestamp-info" && !hasVal:
		r.TimestampInfo = true
	case name == "direct" && !hasVal:
		r.DirectMeasurement = true
	case name == "follow-up" && !hasVal:
		r.FollowUp = true
	case name == "cos" && hasVal:
		d, err := strconv.Atoi(val)
		if err != nil || d < 0 || d > 63 {
			return fmt.Errorf("cos=%s: a DSCP is 0 to 63", val)
		}
		r.CoS, r.DSCP = true, uint8(d)
	case name == "dna" && hasVal:
		a, err := netip.ParseAddr(val)
		if err != nil || !a.Is6() || a.Is4In6() {
			return fmt.Errorf("dna=%s: want the reflector's IPv6 address", val)
		}
		r.DestinationNode = a
	default:
		return fmt.Errorf("%q: want location, timestamp-info, direct, follow-up, cos=DSCP or dna=ADDR", item)
	}
	return nil
}
