package pt

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/srv6oam/srv6oam/oam/tsharktest"
)

func TestMCDBits(t *testing.T) {
	var b [3]byte
	MCD{Interface: 0xabc, Load: 0xd, TTS: 0xef}.Put(b[:])
	if got := hex.EncodeToString(b[:]); got != "abcdef" {
		t.Fatalf("MCD on the wire %s, want abcdef (OIF 12 bits, OIL 4, TTS 8)", got)
	}
	if m := DecodeMCD(b[:]); m != (MCD{0xabc, 0xd, 0xef}) {
		t.Fatalf("decoded %+v", m)
	}
	// Out-of-range values are cut to their field, not spilled into the next one.
	MCD{Interface: 0x1fff, Load: 0x1f, TTS: 1}.Put(b[:])
	if got := hex.EncodeToString(b[:]); got != "ffff01" {
		t.Fatalf("masked MCD %s", got)
	}
}

// TestPushAndHops: three midpoints push onto a stack of 4, then two more overflow it: the
// oldest records fall off the end, Hops returns the rest in path order and says the stack is
// full.
func TestPushAndHops(t *testing.T) {
	o, err := NewOption(4)
	if err != nil {
		t.Fatal(err)
	}
	if hops, full := o.Hops(); len(hops) != 0 || full {
		t.Fatalf("fresh stack: %v full=%v", hops, full)
	}
	for i := uint16(1); i <= 3; i++ {
		o.Push(MCD{Interface: i, Load: uint8(i), TTS: uint8(10 * i)})
	}
	if got := hex.EncodeToString(o.Stack); got != "00331e00221400110a000000" {
		t.Fatalf("stack %s: want the latest first", got)
	}
	hops, full := o.Hops()
	if len(hops) != 3 || full || hops[0].Interface != 1 || hops[2].Interface != 3 {
		t.Fatalf("hops %+v full=%v", hops, full)
	}
	o.Push(MCD{Interface: 4})
	o.Push(MCD{Interface: 5})
	hops, full = o.Hops()
	if len(hops) != 4 || !full || hops[0].Interface != 2 || hops[3].Interface != 5 {
		t.Fatalf("after overflow: hops %+v full=%v", hops, full)
	}
}

func TestHopByHopLayout(t *testing.T) {
	for _, tc := range []struct {
		mcds, size int
	}{{12, 40}, {1, 8}, {2, 16}, {4, 16}, {MaxMCDs, 264}} {
		o, err := NewOption(tc.mcds)
		if err != nil {
			t.Fatal(err)
		}
		b, err := AppendHopByHop([]byte{0xaa}, 43, &o)
		if err != nil {
			t.Fatal(err)
		}
		b = b[1:]
		if len(b) != tc.size || HopByHopLen(&o) != tc.size || (int(b[1])+1)*8 != len(b) {
			t.Errorf("%d MCDs: header of %d octets (length field %d, HopByHopLen %d), want %d", tc.mcds, len(b), b[1], HopByHopLen(&o), tc.size)
		}
		if b[0] != 43 || b[2] != OptionType || int(b[3]) != 3*tc.mcds {
			t.Errorf("%d MCDs: header % x", tc.mcds, b[:4])
		}
		got, ok, err := FindOption(b)
		if err != nil || !ok || got.Cap() != tc.mcds {
			t.Errorf("%d MCDs: FindOption: %v %v cap %d", tc.mcds, ok, err, got.Cap())
		}
	}
	if _, err := NewOption(0); err == nil {
		t.Error("an option of no MCD accepted")
	}
	if _, err := NewOption(MaxMCDs + 1); err == nil {
		t.Error("an option longer than 255 octets accepted")
	}
}

func TestFindOptionAmongOthers(t *testing.T) {
	// PadN, a router alert, then PT: FindOption steps over what comes first.
	h := []byte{59, 5, 1, 0, 5, 2, 0, 0, OptionType, 6, 0x01, 0x23, 0x45, 0x06, 0x78, 0x9a}
	h = append(h, make([]byte, 48-len(h))...)
	h[len(h)-8], h[len(h)-7] = 1, 6 // PadN over the rest
	o, ok, err := FindOption(h)
	if err != nil || !ok {
		t.Fatalf("%v %v", ok, err)
	}
	if m := o.MCD(0); m != (MCD{0x012, 3, 0x45}) {
		t.Errorf("MCD 0 %+v", m)
	}
	for name, bad := range map[string][]byte{
		"short":          {59},
		"length":         {59, 1, OptionType, 6},
		"overrun":        {59, 0, OptionType, 9, 0, 0, 0, 0},
		"not 3n":         {59, 0, OptionType, 4, 0, 0, 0, 0},
		"empty option":   {59, 0, OptionType, 0, 1, 2, 0, 0},
		"option overrun": {59, 0, 1, 7, 0, 0, 0, 0},
	} {
		if _, _, err := FindOption(bad); err == nil {
			t.Errorf("%s: % x accepted", name, bad)
		}
	}
	if _, ok, err := FindOption([]byte{59, 0, 1, 4, 0, 0, 0, 0}); ok || err != nil {
		t.Errorf("a header without PT: %v %v", ok, err)
	}
}

func TestSourceTLV(t *testing.T) {
	s := SourceTLV{Interface: 0x123, Load: 4, T64: Timestamp{1700000000, 999999999}, Session: 7, Sequence: 65535}
	b := s.AppendBinary(nil)
	if got := hex.EncodeToString(b); got != "800e1234"+"6553f100"+"3b9ac9ff"+"0007ffff" {
		t.Fatalf("TLV %s", got)
	}
	got, err := ParseSourceTLV(b)
	if err != nil || got != s {
		t.Fatalf("parsed %+v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, {128}, {128, 13}, {5, 14}, b[:15]} {
		if _, err := ParseSourceTLV(bad); err == nil {
			t.Errorf("% x accepted", bad)
		}
	}
	if _, err := ParseSourceTLV(b[:10]); !errors.Is(err, ErrShort) {
		t.Errorf("truncated: %v", err)
	}
}

func TestTimestampEra(t *testing.T) {
	ref := time.Unix(1<<32+100, 0) // 2106: seconds have wrapped
	if got := (Timestamp{Seconds: 50, Nanoseconds: 5}).Time(ref); got.Unix() != 1<<32+50 || got.Nanosecond() != 5 {
		t.Errorf("after the wrap: %v", got.Unix())
	}
	if got := (Timestamp{Seconds: 0xffffff00}).Time(ref); got.Unix() != 0xffffff00 {
		t.Errorf("just before the wrap: %v", got.Unix())
	}
	now := time.Unix(1700000000, 42)
	if got := TimestampOf(now).Time(now); !got.Equal(now) {
		t.Errorf("round trip %v", got)
	}
}

func TestTemplates(t *testing.T) {
	for _, tc := range []struct {
		tmpl      Template
		res, wrap time.Duration
		nsec      uint32
		tts       uint8
	}{
		{Template1, 256, 65536, 0x12345678, 0x56},
		{Template2, 4096, 1048576, 0x12345678, 0x45},
		{Template3, 65536, 16777216, 0x12345678, 0x34},
		{Template4, 1048576, 268435456, 0x12345678, 0x23},
	} {
		if tc.tmpl.Resolution() != tc.res || tc.tmpl.Wrap() != tc.wrap || tc.tmpl.Truncate(tc.nsec) != tc.tts {
			t.Errorf("template %d: resolution %v wrap %v tts %#x", tc.tmpl, tc.tmpl.Resolution(), tc.tmpl.Wrap(), tc.tmpl.Truncate(tc.nsec))
		}
	}
	for _, s := range []string{"0", "5", "x", ""} {
		if _, err := ParseTemplate(s); err == nil {
			t.Errorf("template %q accepted", s)
		}
	}
	if tm, err := ParseTemplate("2"); err != nil || tm != Template2 {
		t.Errorf("template 2: %v %v", tm, err)
	}
}

func TestUnwrap(t *testing.T) {
	base := time.Unix(1700000000, 500_000_000)
	at := func(d time.Duration) time.Time { return base.Add(d) }
	tts := func(tm Template, x time.Time) uint8 { return tm.Truncate(uint32(x.Nanosecond())) }

	// A midpoint 300 µs after the source, template 2 (4.096 µs, wraps every 1.05 ms): exact.
	mid := at(300 * time.Microsecond)
	got, n := Template2.Unwrap(tts(Template2, mid), base, at(800*time.Microsecond))
	if n != 1 || mid.Sub(got) < 0 || mid.Sub(got) >= Template2.Resolution() {
		t.Errorf("template 2: %v (%d candidates), want within a unit before %v", got, n, mid)
	}
	// The same with a window of 3 ms: the template wraps inside it, ambiguous.
	if _, n := Template2.Unwrap(tts(Template2, mid), base, at(3*time.Millisecond)); n < 2 {
		t.Errorf("template 2 over 3 ms: %d candidates, want ambiguous", n)
	}
	// Template 3 over the same 3 ms: exact.
	if got, n := Template3.Unwrap(tts(Template3, mid), base, at(3*time.Millisecond)); n != 1 || mid.Sub(got) >= Template3.Resolution() || mid.Before(got) {
		t.Errorf("template 3: %v (%d)", got, n)
	}
	// Across the second: the midpoint's nanoseconds field restarted.
	late := time.Unix(1700000000, 999_990_000)
	mid = time.Unix(1700000001, 20_000)
	if got, n := Template1.Unwrap(tts(Template1, mid), late, mid.Add(10*time.Microsecond)); n != 1 || mid.Sub(got) >= Template1.Resolution() || mid.Before(got) {
		t.Errorf("across the second: %v (%d), want %v", got, n, mid)
	}
	// A reading in the first unit, before the window opened, is still found (its unit began
	// before from).
	from := time.Unix(1700000000, 4096*10+100)
	if _, n := Template2.Unwrap(10, from, from.Add(time.Microsecond)); n != 1 {
		t.Errorf("unit straddling from: %d", n)
	}
	// A TTS the window cannot hold: none.
	if _, n := Template4.Unwrap(tts(Template4, base)+100, base, at(time.Millisecond)); n != 0 {
		t.Errorf("outside the window: %d candidates", n)
	}
	if _, n := Template(9).Unwrap(1, base, at(time.Second)); n != 0 {
		t.Error("an invalid template unwrapped")
	}
}

// TestTsharkWitness: Wireshark (4.0, Debian 12) has no Path Tracing dissector, but it walks the
// Hop-by-Hop header we build: one option, type 0x32 (skip if unknown, may change en route),
// 36 octets of data, and the header's length, so the framing is as the draft gives it.
func TestTsharkWitness(t *testing.T) {
	tsharktest.Require(t)
	o, _ := NewOption(DefaultMCDs)
	o.Push(MCD{Interface: 12, Load: 1, TTS: 0xab})
	hbh, err := AppendHopByHop(nil, 59, &o)
	if err != nil {
		t.Fatal(err)
	}
	pkt := make([]byte, 40, 40+len(hbh))
	pkt[0] = 0x60
	binary.BigEndian.PutUint16(pkt[4:], uint16(len(hbh)))
	pkt[6], pkt[7] = 0, 64
	copy(pkt[8:], []byte{0xfc, 0, 0, 0, 0, 1, 14: 0, 15: 1})
	copy(pkt[24:], []byte{0xfc, 0, 0, 0, 0, 4, 14: 0, 15: 1})
	pkt = append(pkt, hbh...)
	fields := []string{"ipv6.hopopts.len", "ipv6.opt.type", "ipv6.opt.type.action", "ipv6.opt.type.change", "ipv6.opt.length"}
	rows, err := tsharktest.Fields(t.TempDir(), []tsharktest.Packet{{Data: pkt}}, layers.LinkTypeRaw, "", nil, fields...)
	if err != nil || len(rows) != 1 {
		t.Fatalf("tshark: %v, %v", rows, err)
	}
	want := []string{"4", "0x32", "0", "1", "36"}
	for i := range want {
		if got := rows[0][fields[i]]; got != want[i] {
			t.Errorf("%s: tshark %q, want %q", fields[i], got, want[i])
		}
	}
}

func FuzzFindOption(f *testing.F) {
	o, _ := NewOption(DefaultMCDs)
	o.Push(MCD{Interface: 1, Load: 2, TTS: 3})
	b, _ := AppendHopByHop(nil, 43, &o)
	f.Add(b)
	f.Add([]byte{59, 0, 1, 4, 0, 0, 0, 0})
	f.Add([]byte{59, 0, OptionType, 3, 1, 2, 3, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, ok, err := FindOption(b)
		if err != nil || !ok {
			return
		}
		hops, _ := o.Hops()
		if len(hops) > o.Cap() {
			t.Fatalf("%d hops in a stack of %d", len(hops), o.Cap())
		}
		out, err := o.AppendBinary(nil)
		if err != nil {
			t.Fatalf("a parsed option does not encode: %v", err)
		}
		if !bytes.Contains(b, out) {
			t.Fatalf("re-encoded % x is not in the header % x", out, b)
		}
		// Pushing never changes the stack's size.
		n := len(o.Stack)
		o.Stack = append([]byte(nil), o.Stack...)
		o.Push(MCD{Interface: 1})
		if len(o.Stack) != n || o.MCD(0).Interface != 1 {
			t.Fatal("push changed the stack")
		}
	})
}

func FuzzParseSourceTLV(f *testing.F) {
	s := SourceTLV{Interface: 5, T64: Timestamp{1, 2}, Session: 3, Sequence: 4}
	f.Add(s.AppendBinary(nil))
	f.Add([]byte{128, 14})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSourceTLV(b)
		if err != nil {
			return
		}
		out := s.AppendBinary(nil)
		// Everything is kept but the ids' bits past 12, which the field does not hold.
		if !bytes.Equal(out, b[:TLVSize]) {
			t.Fatalf("re-encoded % x, read % x", out, b[:TLVSize])
		}
	})
}

func FuzzUnwrap(f *testing.F) {
	f.Add(uint8(3), uint8(7), int64(1700000000), uint32(999_000_000), uint32(5_000_000))
	f.Fuzz(func(t *testing.T, tmpl, tts uint8, sec int64, nsec, window uint32) {
		tm := Template(tmpl%4 + 1)
		from := time.Unix(sec%(1<<40), int64(nsec%1e9))
		to := from.Add(time.Duration(window % 2e9))
		got, n := tm.Unwrap(tts, from, to)
		if n == 0 {
			return
		}
		if tm.Truncate(uint32(got.Nanosecond())) != tts || got.Nanosecond()%int(tm.Resolution()) != 0 {
			t.Fatalf("unwrapped to %v, whose TTS is %#x, want %#x", got, tm.Truncate(uint32(got.Nanosecond())), tts)
		}
		if got.After(to) || from.Sub(got) >= tm.Resolution() {
			t.Fatalf("unwrapped to %v, outside [%v, %v]", got, from, to)
		}
	})
}
