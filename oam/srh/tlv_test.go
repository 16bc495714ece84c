package srh_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/srv6oam/srv6oam/oam/srh"
)

func TestProbeTLV(t *testing.T) {
	in := srh.Probe{Version: srh.ProbeVersion, Flags: srh.ProbeReport | srh.ProbeCapture, Session: 0xdeadbeef, Sequence: 42,
		TxTimestamp: 0x0102030405060708, ReportTo: addr("2001:db8:c0::9"), ReportPort: 4790, CaptureLen: 128}
	tlv := srh.DefaultRegistry().ProbeTLV(in)
	if tlv.Type != srh.DefaultTypeProbe || len(tlv.Value) != srh.ProbeValueLen {
		t.Fatalf("TLV type %d, %d bytes", tlv.Type, len(tlv.Value))
	}
	// Offsets from docs/wire-format.md, counted from the Type byte.
	full := append([]byte{tlv.Type, uint8(len(tlv.Value))}, tlv.Value...)
	for _, c := range []struct {
		off  int
		want []byte
	}{
		{0, []byte{124, 38, 1, 0xc0}},
		{4, []byte{0xde, 0xad, 0xbe, 0xef}},
		{8, []byte{0, 0, 0, 42}},
		{12, []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{20, addr("2001:db8:c0::9").AsSlice()},
		{36, []byte{0x12, 0xb6, 128, 0}},
	} {
		if got := full[c.off : c.off+len(c.want)]; string(got) != string(c.want) {
			t.Errorf("offset %d: %x, want %x", c.off, got, c.want)
		}
	}
	out, err := srh.ParseProbe(tlv.Value)
	if err != nil || out != in {
		t.Fatalf("ParseProbe = %+v, %v; want %+v", out, err, in)
	}
	// Version 0 is written as the current version.
	if p := srh.DefaultRegistry().ProbeTLV(srh.Probe{}); p.Value[0] != srh.ProbeVersion {
		t.Errorf("version %d", p.Value[0])
	}
	var p srh.Probe
	wantField(t, p.MarshalTo(make([]byte, 10)), "Probe")
	_, err = srh.ParseProbe(make([]byte, 37))
	wantField(t, err, "Probe Length")
	bad := append([]byte{}, tlv.Value...)
	bad[0] = 2
	_, err = srh.ParseProbe(bad)
	wantField(t, err, "Probe Version")
}

func TestSlotsTLV(t *testing.T) {
	reg := srh.DefaultRegistry()
	tlv, err := reg.SlotsTLV(3)
	if err != nil {
		t.Fatal(err)
	}
	if tlv.Type != srh.DefaultTypeSlots || len(tlv.Value) != 6+16*3 || tlv.Value[0] != 3 {
		t.Fatalf("slots TLV %d, %x", tlv.Type, tlv.Value)
	}
	sl, err := srh.ParseSlots(tlv.Value)
	if err != nil || sl.Len() != 3 {
		t.Fatalf("ParseSlots: %d slots, %v", sl.Len(), err)
	}
	want := srh.Slot{NodeID: 0x0a0b0c0d, Flags: srh.SlotWritten, SegmentsLeft: 1, Timestamp: 1 << 62}
	if err := sl.SetSlot(2, want); err != nil {
		t.Fatal(err)
	}
	// Slot 2 starts at value offset 6+32 (TLV offset 8+32): node, W flag, SL, reserved, timestamp.
	if got := tlv.Value[38:54]; string(got) != string([]byte{10, 11, 12, 13, 0x80, 1, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0}) {
		t.Errorf("slot 2 bytes %x", got)
	}
	got, err := sl.Slot(2)
	if err != nil || got != want || !got.Written() {
		t.Fatalf("Slot(2) = %+v, %v", got, err)
	}
	if s0, _ := sl.Slot(0); s0.Written() {
		t.Error("slot 0 written")
	}
	_, err = sl.Slot(3)
	wantField(t, err, "Slots")
	wantField(t, sl.SetSlot(-1, want), "Slots")
	_, err = reg.SlotsTLV(16)
	wantField(t, err, "Slots")
	_, err = srh.ParseSlots(make([]byte, 7))
	wantField(t, err, "Slots Length")
	_, err = srh.ParseSlots(append([]byte{2}, make([]byte, 5+16)...))
	wantField(t, err, "Slots N")
	_, err = srh.ParseSlots(make([]byte, 6))
	wantField(t, err, "Slots N")
}

func TestRegistry(t *testing.T) {
	reg := srh.DefaultRegistry()
	probe := reg.ProbeTLV(srh.Probe{Session: 1})
	slots, _ := reg.SlotsTLV(2)
	hmacTLV := srh.TLV{Type: srh.TypeHMAC, Value: make([]byte, srh.HMACValueLen)}
	segs := []netip.Addr{segA, segB}

	// Moved codes: the same bytes under other types.
	moved := srh.Registry{ProbeType: 125, SlotsType: 253}
	h := &srh.SRH{Segments: segs, TLVs: []srh.TLV{{Type: 125, Value: probe.Value}}}
	if p, err := moved.Probe(h); err != nil || p.Session != 1 {
		t.Fatalf("moved probe: %+v, %v", p, err)
	}
	if _, err := reg.Probe(h); !errors.Is(err, srh.ErrNoTLV) {
		t.Fatalf("default registry found a probe under type 125: %v", err)
	}
	if _, err := reg.Slots(h); !errors.Is(err, srh.ErrNoTLV) {
		t.Fatalf("Slots: %v", err)
	}

	// A new type slots in with a validator.
	reg.Extra = map[uint8]srh.TLVSpec{77: {Name: "Color", Validate: func(v []byte) error {
		if len(v) != 4 {
			return &srh.FieldError{Field: "Color Length", Reason: "want 4"}
		}
		return nil
	}}}
	for typ, name := range map[uint8]string{4: "PadN", 5: "HMAC", 124: "Probe", 252: "Timestamp Slots", 77: "Color", 99: "TLV type 99"} {
		if got := reg.Name(typ); got != name {
			t.Errorf("Name(%d) = %q, want %q", typ, got, name)
		}
	}
	wantField(t, reg.Validate(srh.TLV{Type: 77, Value: []byte{1}}), "Color Length")
	if err := reg.Validate(srh.TLV{Type: 77, Value: []byte{1, 2, 3, 4}}); err != nil {
		t.Fatal(err)
	}

	ok := &srh.SRH{Flags: srh.FlagHMAC, Segments: segs, TLVs: []srh.TLV{probe, slots, {Type: 99}, hmacTLV}}
	if err := reg.Check(ok); err != nil {
		t.Fatalf("Check: %v", err)
	}
	for _, c := range []struct {
		name, field string
		flags       uint8
		tlvs        []srh.TLV
	}{
		{"HMAC not last", "TLV", srh.FlagHMAC, []srh.TLV{hmacTLV, probe}},
		{"HMAC without H-flag", "Flags", 0, []srh.TLV{probe, hmacTLV}},
		{"probe not first", "TLV", 0, []srh.TLV{{Type: 99}, probe}},
		{"slots without probe", "TLV", 0, []srh.TLV{slots}},
		{"bad HMAC length", "HMAC Length", srh.FlagHMAC, []srh.TLV{{Type: srh.TypeHMAC, Value: make([]byte, 20)}}},
		{"bad extra", "Color Length", 0, []srh.TLV{{Type: 77}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantField(t, reg.Check(&srh.SRH{Flags: c.flags, Segments: segs, TLVs: c.tlvs}), c.field)
		})
	}
}

func TestHMACErrors(t *testing.T) {
	h := &srh.SRH{Segments: []netip.Addr{segA}}
	src := addr("2001:db8:a::1")
	for _, c := range []struct {
		name, field string
		key         srh.HMACKey
		src         netip.Addr
	}{
		{"key id 0", "HMAC Key ID", srh.HMACKey{Algorithm: srh.HMACSHA256}, src},
		{"secret too long", "HMAC Key", srh.HMACKey{ID: 1, Algorithm: srh.HMACSHA256, Secret: make([]byte, 65)}, src},
		{"unknown algorithm", "HMAC algorithm", srh.HMACKey{ID: 1, Algorithm: 3}, src},
		{"IPv4 source", "HMAC source", srh.HMACKey{ID: 1, Algorithm: srh.HMACSHA1}, addr("192.0.2.1")},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantField(t, h.Sign(c.src, c.key), c.field)
		})
	}
	key := srh.HMACKey{ID: 1, Algorithm: srh.HMACSHA256, Secret: []byte("s")}
	wantField(t, h.VerifyHMAC(src, key), "TLV")
	h.Flags = 0
	wantField(t, h.VerifyHMAC(src, key), "Flags")
	if err := h.Sign(src, key); err != nil {
		t.Fatal(err)
	}
	if err := h.Sign(src, key); err != nil || len(h.TLVs) != 1 {
		t.Fatalf("re-signing: %v, %d TLVs", err, len(h.TLVs))
	}
	wantField(t, h.VerifyHMAC(src, srh.HMACKey{ID: 2, Algorithm: srh.HMACSHA256, Secret: []byte("s")}), "HMAC Key ID")
	wantField(t, h.VerifyHMAC(addr("2001:db8:a::2"), key), "HMAC")
}
