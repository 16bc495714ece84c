package oam

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
)

var (
	tlvSender    = netip.MustParseAddrPort("[fc00:0:1::1]:40001")
	tlvReflector = netip.MustParseAddrPort("[fc00:0:4::100]:862")
)

// testPacket is a test packet of sequence seq carrying req's TLVs, sealed with req's key.
func testPacket(t *testing.T, seq uint32, req *STAMPTLVRequest, sentBefore uint32) []byte {
	t.Helper()
	pkt := make([]byte, STAMPPacketSize)
	tp := STAMPTest{Sequence: seq, ErrorEstimate: 0x0001, SSID: 7}
	if _, err := tp.MarshalTo(pkt); err != nil {
		t.Fatal(err)
	}
	pkt, err := req.AppendTLVs(pkt, sentBefore)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.HMACKey) > 0 && !SealSTAMPHMAC(req.HMACKey, pkt, FindSTAMPHMAC(pkt)) {
		t.Fatal("no HMAC TLV to seal")
	}
	return pkt
}

// reflectTest answers test as srv6-agent's reflector does: the reply is a copy, its base packet
// rewritten (sequence replySeq), its TLVs answered, its HMAC sealed.
func reflectTest(test []byte, replySeq uint32, env *STAMPReflectEnv) ([]byte, STAMPReflectAction) {
	reply := slices.Clone(test)
	r := STAMPReply{Sequence: replySeq, ErrorEstimate: 0x0001, SenderErrorEstimate: 0x0001, SSID: 7}
	r.MarshalTo(reply) //nolint:errcheck // 44 bytes at least
	act := ReflectSTAMPTLVs(test, reply, env)
	if act.HMACOff >= 0 {
		SealSTAMPHMAC(env.HMACKey, reply, act.HMACOff)
	}
	return reply, act
}

func tlvTypes(area []byte) []STAMPTLVType {
	var ts []STAMPTLVType
	WalkSTAMPTLVs(area, func(_ int, t STAMPTLV) bool { ts = append(ts, t.Type); return true })
	return ts
}

// TestSTAMPTLVRoundTrip: every TLV srv6oam sends, answered by a stateful reflector with a key
// and decoded by the sender, says what the reflector saw and did.
func TestSTAMPTLVRoundTrip(t *testing.T) {
	key := []byte("a shared STAMP key")
	seg := netip.MustParseAddr("fc00:0:3::e")
	req := STAMPTLVRequest{Location: true, TimestampInfo: true, CoS: true, DSCP: 46, DirectMeasurement: true, FollowUp: true,
		DestinationNode: tlvReflector.Addr(), ReturnSegments: []netip.Addr{seg}, HMACKey: key}
	test := testPacket(t, 5, &req, 5)
	if got, want := tlvTypes(test[STAMPPacketSize:]), []STAMPTLVType{STAMPTLVLocation, STAMPTLVTimestampInfo,
		STAMPTLVClassOfService, STAMPTLVDirectMeasurement, STAMPTLVFollowUp, STAMPTLVDestinationNode,
		STAMPTLVReturnPath, STAMPTLVHMAC}; !slices.Equal(got, want) {
		t.Fatalf("test packet TLVs %v, want %v", got, want)
	}
	sess := &STAMPSession{Next: 3, Received: 4, Sent: 3, PrevSeq: 2, PrevTx: PTPTimestamp(1_700_000_000_123_456_789), HavePrev: true}
	env := STAMPReflectEnv{Src: tlvSender, Dst: tlvReflector, TClass: 0xb9, // DSCP 46, ECN 1
		SyncSource: STAMPSyncPTP, MethodIn: STAMPMethodSWLocal, MethodOut: STAMPMethodSWLocal,
		IsLocal: func(a netip.Addr) bool { return a == tlvReflector.Addr() }, Session: sess, HMACKey: key,
		AllowSegment: func(a netip.Addr) bool { return a == seg }}
	reply, act := reflectTest(test, sess.Next, &env)
	if act.DSCP != 46 || act.NoReply || act.Unrecognized != 0 || act.Malformed || act.IntegrityFailed {
		t.Errorf("action %+v", act)
	}
	if act.Source != tlvReflector.Addr() || len(act.ReturnSegments) != 16 || netip.AddrFrom16([16]byte(act.ReturnSegments)) != seg {
		t.Errorf("action: source %v, return segments %x", act.Source, act.ReturnSegments)
	}
	got := ParseSTAMPReplyTLVs(reply, key)
	if !got.HMACChecked || got.IntegrityFailed || got.Malformed || len(got.Unrecognized) != 0 {
		t.Fatalf("reply TLVs %+v", got)
	}
	if !got.LocationOK || got.SeenSrc != tlvSender || got.SeenDst != tlvReflector {
		t.Errorf("Location: saw %v → %v", got.SeenSrc, got.SeenDst)
	}
	if !got.TimestampInfoOK || got.SyncSource != STAMPSyncPTP || got.MethodIn != STAMPMethodSWLocal || got.MethodOut != STAMPMethodSWLocal {
		t.Errorf("Timestamp Information %+v", got)
	}
	if !got.CoSOK || got.DSCPAsked != 46 || got.DSCPArrived != 46 || got.ECNArrived != 1 || got.DSCPRefused {
		t.Errorf("Class of Service: asked %d arrived %d ECN %d refused %v", got.DSCPAsked, got.DSCPArrived, got.ECNArrived, got.DSCPRefused)
	}
	if !got.DirectOK || got.SenderTx != 5 || got.ReflRx != 4 || got.ReflTx != 4 {
		t.Errorf("Direct Measurement %d/%d/%d, want 5/4/4", got.SenderTx, got.ReflRx, got.ReflTx)
	}
	if !got.FollowUpOK || got.FollowUpSeq != 2 || got.FollowUpTx != sess.PrevTx || got.FollowUpMethod != STAMPMethodSWLocal {
		t.Errorf("Follow-Up %d %v %d", got.FollowUpSeq, got.FollowUpTx, got.FollowUpMethod)
	}
	if !got.DestinationNodeConfirmed || !got.ReturnPathHonoured {
		t.Errorf("RFC 9503: destination confirmed %v, return path honoured %v", got.DestinationNodeConfirmed, got.ReturnPathHonoured)
	}
	// The reply's HMAC covers its sequence number: a reply altered on the way fails.
	bad := slices.Clone(reply)
	bad[3] ^= 1
	if r := ParseSTAMPReplyTLVs(bad, key); !r.IntegrityFailed {
		t.Error("a reply with its sequence number changed passed the HMAC check")
	}
}

// TestSTAMPTLVUnknownAndRefused: a TLV the reflector does not know, a stateless reflector's
// Direct Measurement, a DSCP local policy refuses, a destination that is not the reflector and
// a return address it may not send to all come back, the same length, flagged U (or RP).
func TestSTAMPTLVUnknownAndRefused(t *testing.T) {
	req := STAMPTLVRequest{CoS: true, DSCP: 10, DirectMeasurement: true, DestinationNode: netip.MustParseAddr("fc00:0:9::9"),
		ReturnAddress: netip.MustParseAddr("2001:db8::66")}
	test := testPacket(t, 1, &req, 0)
	test = AppendSTAMPTLV(test, 0, 200, []byte("vendor data"))
	env := STAMPReflectEnv{Src: tlvSender, Dst: tlvReflector, TClass: 0,
		AllowDSCP: func(d uint8) bool { return d == 0 }, IsLocal: func(netip.Addr) bool { return false },
		AllowReturn: func(a netip.Addr) bool { return a == tlvSender.Addr() }}
	reply, act := reflectTest(test, 1, &env)
	if act.Unrecognized != 4 || act.Malformed || act.DSCP != 0 || act.ReturnAddr.IsValid() {
		t.Errorf("action %+v, want 4 unrecognised (DM, DNA, Return Path, type 200), DSCP 0 kept", act)
	}
	got := ParseSTAMPReplyTLVs(reply, nil)
	if want := []STAMPTLVType{STAMPTLVDirectMeasurement, STAMPTLVDestinationNode, STAMPTLVReturnPath, 200}; !slices.Equal(got.Unrecognized, want) {
		t.Errorf("unrecognised %v, want %v", got.Unrecognized, want)
	}
	if !got.CoSOK || !got.DSCPRefused || got.DestinationNodeConfirmed || got.ReturnPathHonoured {
		t.Errorf("reply TLVs %+v", got)
	}
	// The unknown TLV's value is returned as it came.
	if !bytes.HasSuffix(reply, []byte("vendor data")) {
		t.Errorf("unknown TLV's value not copied: % x", reply[len(reply)-16:])
	}
}

// TestSTAMPTLVMalformed: a Timestamp Information TLV of the wrong length stops the processing;
// it comes back with M and everything after it as it came, and the sender reads M.
func TestSTAMPTLVMalformed(t *testing.T) {
	test := make([]byte, STAMPPacketSize)
	(&STAMPTest{Sequence: 1, ErrorEstimate: 1}).MarshalTo(test) //nolint:errcheck
	test = AppendSTAMPTLV(test, 0, STAMPTLVTimestampInfo, []byte{0, 0})
	tail := AppendSTAMPTLV(nil, 0, STAMPTLVLocation, make([]byte, 4))
	test = append(test, tail...)
	reply, act := reflectTest(test, 1, &STAMPReflectEnv{Src: tlvSender, Dst: tlvReflector, TClass: -1})
	if !act.Malformed {
		t.Fatal("not malformed")
	}
	if reply[STAMPPacketSize] != STAMPFlagMalformed {
		t.Errorf("flags %#x, want M", reply[STAMPPacketSize])
	}
	if !bytes.Equal(reply[len(reply)-len(tail):], tail) {
		t.Error("the TLVs after the malformed one were processed, not copied")
	}
	if r := ParseSTAMPReplyTLVs(reply, nil); !r.Malformed || r.LocationOK {
		t.Errorf("sender read %+v", r)
	}
	// A TLV whose length runs past the packet is malformed too.
	test = test[:STAMPPacketSize]
	test = append(test, 0, byte(STAMPTLVExtraPadding), 0, 200, 1, 2, 3)
	reply, act = reflectTest(test, 1, &STAMPReflectEnv{TClass: -1})
	if !act.Malformed || reply[STAMPPacketSize] != STAMPFlagMalformed || !bytes.Equal(reply[STAMPPacketSize+1:], test[STAMPPacketSize+1:]) {
		t.Errorf("overlong TLV: action %+v, reply % x", act, reply[STAMPPacketSize:])
	}
}

// TestSTAMPTLVIntegrity: a test packet sealed with another key, or an HMAC TLV in the wrong
// place, comes back with every TLV flagged I and nothing filled in.
func TestSTAMPTLVIntegrity(t *testing.T) {
	req := STAMPTLVRequest{Location: true, HMACKey: []byte("sender's key")}
	test := testPacket(t, 9, &req, 0)
	env := STAMPReflectEnv{Src: tlvSender, Dst: tlvReflector, TClass: -1, HMACKey: []byte("reflector's key")}
	reply, act := reflectTest(test, 9, &env)
	if !act.IntegrityFailed || act.HMACOff >= 0 {
		t.Fatalf("action %+v", act)
	}
	WalkSTAMPTLVs(reply[STAMPPacketSize:], func(_ int, tlv STAMPTLV) bool {
		if tlv.Flags != STAMPFlagIntegrity {
			t.Errorf("%v: flags %#x, want I", tlv.Type, tlv.Flags)
		}
		if tlv.Type == STAMPTLVLocation && binary.BigEndian.Uint16(tlv.Value) != 0 {
			t.Error("Location filled in despite the failed HMAC")
		}
		return true
	})
	if r := ParseSTAMPReplyTLVs(reply, nil); !r.IntegrityFailed {
		t.Error("the sender did not see I")
	}
	// With the right key but the HMAC before a Location TLV: RFC 8972 §4.8 makes it a failure.
	key := []byte("k")
	test = make([]byte, STAMPPacketSize)
	test = AppendSTAMPTLV(test, 0, STAMPTLVHMAC, make([]byte, 16))
	test = AppendSTAMPTLV(test, 0, STAMPTLVLocation, make([]byte, 4))
	SealSTAMPHMAC(key, test, 0)
	if _, act := reflectTest(test, 0, &STAMPReflectEnv{TClass: -1, HMACKey: key}); !act.IntegrityFailed {
		t.Error("an HMAC TLV before a Location TLV was accepted")
	}
}

// TestSTAMPTLVReturnSegments: a segment list is honoured only when the reflector allows every
// SID in it; otherwise the Return Path comes back flagged U and the reply goes the plain way.
func TestSTAMPTLVReturnSegments(t *testing.T) {
	ours, theirs := netip.MustParseAddr("fc00:0:3::e"), netip.MustParseAddr("2001:db8::dead")
	allow := func(a netip.Addr) bool { return a == ours }
	for _, c := range []struct {
		segs []netip.Addr
		ok   bool
	}{{[]netip.Addr{ours}, true}, {[]netip.Addr{theirs}, false}, {[]netip.Addr{ours, theirs}, false}} {
		test := testPacket(t, 1, &STAMPTLVRequest{ReturnSegments: c.segs}, 0)
		_, act := reflectTest(test, 1, &STAMPReflectEnv{TClass: -1, AllowSegment: allow})
		if (act.ReturnSegments != nil) != c.ok || (act.Unrecognized == 1) == c.ok {
			t.Errorf("segments %v: action %+v, want honoured %v", c.segs, act, c.ok)
		}
	}
	test := testPacket(t, 1, &STAMPTLVRequest{ReturnSegments: []netip.Addr{ours}}, 0)
	if _, act := reflectTest(test, 1, &STAMPReflectEnv{TClass: -1}); act.ReturnSegments != nil {
		t.Error("a segment list honoured by a reflector that allows no SID")
	}
}

// TestSTAMPTLVReturnControl: Control Code 0 asks for no reply, 1 for the same link; it
// overrides any other Return Path sub-TLV.
func TestSTAMPTLVReturnControl(t *testing.T) {
	test := testPacket(t, 1, &STAMPTLVRequest{NoReply: true}, 0)
	if _, act := reflectTest(test, 1, &STAMPReflectEnv{TClass: -1}); !act.NoReply {
		t.Errorf("Control Code 0: %+v", act)
	}
	rp := AppendSTAMPTLV(nil, 0, stampRPControlCode, []byte{0, 0, 0, 1})
	rp = AppendSTAMPTLV(rp, 0, stampRPSRv6SegmentList, make([]byte, 16))
	test = AppendSTAMPTLV(make([]byte, STAMPPacketSize), 0, STAMPTLVReturnPath, rp)
	if _, act := reflectTest(test, 1, &STAMPReflectEnv{TClass: -1}); act.NoReply || !act.SameLink || act.ReturnSegments != nil {
		t.Errorf("Control Code 1 with a segment list: %+v", act)
	}
	if _, err := (&STAMPTLVRequest{NoReply: true, ReturnAddress: tlvSender.Addr()}).AppendTLVs(nil, 0); err == nil {
		t.Error("no reply together with a return address was accepted")
	}
}

// TestSTAMPTLVZeroPadding: a reflector without RFC 8972 support pads its reply with zeros (or
// copies a zero-padded test packet): that reads as no TLVs, not as TLVs of type 0.
func TestSTAMPTLVZeroPadding(t *testing.T) {
	reply := make([]byte, 200)
	if r := ParseSTAMPReplyTLVs(reply, nil); len(r.Unrecognized) != 0 || r.Malformed {
		t.Errorf("zero padding read as %+v", r)
	}
	// srv6-agent's reflector returns such a test packet's padding as it came, not as a run of
	// unknown type-0 TLVs flagged U.
	test := make([]byte, 200)
	(&STAMPTest{Sequence: 1, ErrorEstimate: 1}).MarshalTo(test) //nolint:errcheck
	got, act := reflectTest(test, 1, &STAMPReflectEnv{TClass: -1})
	if act.Unrecognized != 0 || act.Malformed || !allZero(got[STAMPPacketSize:]) {
		t.Errorf("zero padding reflected as %+v, % x", act, got[STAMPPacketSize:STAMPPacketSize+8])
	}
}

func FuzzReflectSTAMPTLVs(f *testing.F) {
	req := STAMPTLVRequest{Location: true, TimestampInfo: true, CoS: true, DSCP: 1, DirectMeasurement: true, FollowUp: true,
		DestinationNode: tlvReflector.Addr(), ReturnSegments: []netip.Addr{tlvSender.Addr()}, HMACKey: []byte("k")}
	seed := make([]byte, STAMPPacketSize)
	seed, _ = req.AppendTLVs(seed, 1)
	SealSTAMPHMAC(req.HMACKey, seed, FindSTAMPHMAC(seed))
	f.Add(seed, true)
	f.Add(append(make([]byte, STAMPPacketSize), 0, 2, 0, 9, 0, 0, 0, 0, 0, 4, 0, 1), false)
	f.Fuzz(func(t *testing.T, test []byte, stateful bool) {
		env := STAMPReflectEnv{Src: tlvSender, Dst: tlvReflector, TClass: 3, HMACKey: []byte("k"),
			IsLocal: func(netip.Addr) bool { return true }, AllowReturn: func(netip.Addr) bool { return true },
			AllowSegment: func(netip.Addr) bool { return true }}
		if stateful {
			env.Session = &STAMPSession{HavePrev: true, PrevSeq: 1}
		}
		reply := slices.Clone(test)
		act := ReflectSTAMPTLVs(test, reply, &env)
		if act.HMACOff >= 0 && !SealSTAMPHMAC(env.HMACKey, reply, act.HMACOff) {
			t.Fatalf("HMAC offset %d is not an HMAC TLV", act.HMACOff)
		}
		if len(reply) >= STAMPPacketSize && !bytes.Equal(reply[:STAMPPacketSize], test[:STAMPPacketSize]) {
			t.Fatal("the TLV processing wrote into the base packet")
		}
		ParseSTAMPReplyTLVs(reply, env.HMACKey)
		ParseSTAMPReplyTLVs(test, nil)
	})
}
