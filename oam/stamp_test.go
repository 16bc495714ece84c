package oam

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// The golden packets are written field by field from RFC 8762's figures (§4.2.1 Figure 3 and
// §4.3.1 Figure 5), not produced by the encoder.
var (
	goldenTest = []byte{
		0x00, 0x00, 0x01, 0x02, // Sequence Number 258
		0x69, 0x23, 0x4a, 0x80, 0x05, 0xf5, 0xe1, 0x00, // Timestamp: PTP 1763920512 s, 100000000 ns
		0xc0, 0x05, // Error Estimate: S=1 Z=1 Scale=0 Multiplier=5 (5 × 2^-32 s ≈ 1.2 ns)
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // MBZ (30 octets)
	}
	goldenReply = []byte{
		0x00, 0x00, 0x01, 0x02, // Sequence Number
		0x69, 0x23, 0x4a, 0x80, 0x05, 0xf5, 0xfd, 0x00, // Timestamp (reflector TX): 100007168 ns
		0x5d, 0x80, // Error Estimate: S=0 Z=1 Scale=29 Multiplier=128 (16 s)
		0x00, 0x00, // MBZ
		0x69, 0x23, 0x4a, 0x80, 0x05, 0xf5, 0xf0, 0x00, // Receive Timestamp: 100003840 ns
		0x00, 0x00, 0x01, 0x02, // Session-Sender Sequence Number
		0x69, 0x23, 0x4a, 0x80, 0x05, 0xf5, 0xe1, 0x00, // Session-Sender Timestamp
		0xc0, 0x05, // Session-Sender Error Estimate
		0x00, 0x00, // MBZ
		0x3f,             // Ses-Sender TTL 63
		0x00, 0x00, 0x00, // MBZ
	}
)

const goldenT1 = 1763920512*1e9 + 100000000

func goldenReplyStruct() STAMPReply {
	return STAMPReply{
		Sequence:            258,
		Timestamp:           PTPTimestamp(goldenT1 + 7168),
		ErrorEstimate:       NewSTAMPErrorEstimate(false, true, 16*time.Second),
		ReceiveTimestamp:    PTPTimestamp(goldenT1 + 3840),
		SenderSequence:      258,
		SenderTimestamp:     PTPTimestamp(goldenT1),
		SenderErrorEstimate: 0xc005,
		SenderTTL:           63,
	}
}

func TestSTAMPGolden(t *testing.T) {
	if len(goldenTest) != STAMPPacketSize || len(goldenReply) != STAMPPacketSize {
		t.Fatalf("golden sizes %d %d", len(goldenTest), len(goldenReply))
	}
	tp := STAMPTest{Sequence: 258, Timestamp: PTPTimestamp(goldenT1), ErrorEstimate: NewSTAMPErrorEstimate(true, true, time.Nanosecond)}
	b := bytes.Repeat([]byte{0xff}, STAMPPacketSize)
	if n, err := tp.MarshalTo(b); err != nil || n != STAMPPacketSize || !bytes.Equal(b, goldenTest) {
		t.Errorf("test packet\n got %x (%d, %v)\nwant %x", b, n, err, goldenTest)
	}
	var dt STAMPTest
	if err := dt.UnmarshalBinary(goldenTest); err != nil || dt != tp {
		t.Errorf("decoded test packet %+v (%v), want %+v", dt, err, tp)
	}

	rp := goldenReplyStruct()
	b = bytes.Repeat([]byte{0xff}, STAMPPacketSize)
	if n, err := rp.MarshalTo(b); err != nil || n != STAMPPacketSize || !bytes.Equal(b, goldenReply) {
		t.Errorf("reply\n got %x (%d, %v)\nwant %x", b, n, err, goldenReply)
	}
	var dr STAMPReply
	if err := dr.UnmarshalBinary(goldenReply); err != nil || dr != rp {
		t.Errorf("decoded reply %+v (%v), want %+v", dr, err, rp)
	}
	if got := dr.ReceiveTimestamp.Nanos(true) - dr.SenderTimestamp.Nanos(true); got != 3840 {
		t.Errorf("forward %d ns, want 3840", got)
	}
}

func TestSTAMPErrorEstimate(t *testing.T) {
	cases := []struct {
		sync, ptp bool
		bound     time.Duration
		want      STAMPErrorEstimate
	}{
		{true, true, 0, 0xc001},               // the smallest bound, 2^-32 s
		{true, true, time.Nanosecond, 0xc005}, // 4.29 units of 2^-32 s, rounded up to 5
		{false, true, 16 * time.Second, 0x5d80},
		{false, false, time.Microsecond, 0x0587}, // 4295 units → ceil(4295/2^5) = 135 × 2^5
	}
	for _, c := range cases {
		got := NewSTAMPErrorEstimate(c.sync, c.ptp, c.bound)
		if got != c.want {
			t.Errorf("NewSTAMPErrorEstimate(%t, %t, %v) = %#04x, want %#04x", c.sync, c.ptp, c.bound, uint16(got), uint16(c.want))
		}
		if got.Synchronised() != c.sync || got.PTP() != c.ptp {
			t.Errorf("%#04x: S/Z bits wrong", uint16(got))
		}
	}
	// The encoded bound is never below the true one, and within a factor 256/255 + 1 ns above it.
	for _, d := range []time.Duration{1, 7, 999, time.Microsecond, 12345 * time.Microsecond, 3 * time.Second, 16 * time.Second, 1000 * time.Hour} {
		b := NewSTAMPErrorEstimate(true, true, d).Bound()
		if b < d || float64(b) > float64(d)*(1+1.0/127)+2 {
			t.Errorf("bound for %v encodes as %v", d, b)
		}
	}
}

func TestSTAMPTimestamp(t *testing.T) {
	ts := time.Date(2026, 11, 24, 22, 0, 0, 123456789, time.UTC)
	if got := NTPTimestamp(ts).Nanos(false); got != ts.UnixNano() {
		t.Errorf("NTP round trip %d, want %d", got, ts.UnixNano())
	}
	if got := PTPTimestamp(ts.UnixNano()).Nanos(true); got != ts.UnixNano() {
		t.Errorf("PTP round trip %d, want %d", got, ts.UnixNano())
	}
	// RFC 8762's NTP epoch: 1970-01-01 is 2208988800 s after 1900-01-01.
	if got := NTPTimestamp(time.Unix(0, 0)).Seconds(); got != 2208988800 {
		t.Errorf("NTP seconds at the Unix epoch %d", got)
	}
}

func TestSTAMPDecodeErrors(t *testing.T) {
	badEE := bytes.Clone(goldenReply)
	badEE[37] = 0 // session-sender multiplier 0
	badNs := bytes.Clone(goldenReply)
	copy(badNs[20:24], []byte{0x3b, 0x9a, 0xca, 0x00}) // receive timestamp with 10^9 ns
	for _, c := range []struct {
		name  string
		reply bool
		b     []byte
		field string
	}{
		{"empty test", false, nil, "sequence number"},
		{"test cut in timestamp", false, goldenTest[:9], "timestamp"},
		{"test cut in MBZ", false, goldenTest[:43], "MBZ"},
		{"reply cut in receive timestamp", true, goldenReply[:20], "receive timestamp"},
		{"reply cut in TTL", true, goldenReply[:40], "session-sender TTL"},
		{"test multiplier 0", false, append(bytes.Clone(goldenTest[:13]), make([]byte, 31)...), "error estimate"},
		{"reply sender multiplier 0", true, badEE, "session-sender error estimate"},
		{"reply receive ns ≥ 10^9", true, badNs, "receive timestamp"},
	} {
		var err error
		if c.reply {
			var r STAMPReply
			err = r.UnmarshalBinary(c.b)
		} else {
			var p STAMPTest
			err = p.UnmarshalBinary(c.b)
		}
		var se *STAMPError
		if !errors.As(err, &se) || se.Field != c.field {
			t.Errorf("%s: error %v, want one naming %q", c.name, err, c.field)
		} else if !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: message %q does not name the field", c.name, err)
		}
	}
	// MBZ bits set and trailing bytes are ignored (RFC 8762: ignored on receipt; RFC 8972 TLVs).
	noisy := append(bytes.Clone(goldenTest), 1, 2, 3, 4)
	noisy[20] = 0xff
	var p STAMPTest
	if err := p.UnmarshalBinary(noisy); err != nil || p.Sequence != 258 {
		t.Errorf("padded test packet with MBZ set: %+v, %v", p, err)
	}
}

func TestSTAMPMarshalShortBuffer(t *testing.T) {
	var p STAMPTest
	if _, err := p.MarshalTo(make([]byte, 43)); err == nil {
		t.Error("test packet into 43 bytes: no error")
	}
	var r STAMPReply
	if _, err := r.MarshalTo(make([]byte, 43)); err == nil {
		t.Error("reply into 43 bytes: no error")
	}
}

func BenchmarkSTAMPReflect(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, STAMPPacketSize)
	var p STAMPTest
	r := goldenReplyStruct()
	for b.Loop() {
		if err := p.UnmarshalBinary(goldenTest); err != nil {
			b.Fatal(err)
		}
		r.SenderSequence, r.SenderTimestamp, r.SenderErrorEstimate = p.Sequence, p.Timestamp, p.ErrorEstimate
		if _, err := r.MarshalTo(buf); err != nil {
			b.Fatal(err)
		}
		if err := r.UnmarshalBinary(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzSTAMPDecode(f *testing.F) {
	f.Add(goldenTest)
	f.Add(goldenReply)
	f.Add(goldenReply[:17])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p STAMPTest
		if err := p.UnmarshalBinary(b); err == nil {
			out := make([]byte, STAMPPacketSize)
			if _, err := p.MarshalTo(out); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out[:14], b[:14]) {
				t.Fatalf("test packet re-encodes as %x, from %x", out[:14], b[:14])
			}
		}
		var r STAMPReply
		if err := r.UnmarshalBinary(b); err == nil {
			out := make([]byte, STAMPPacketSize)
			if _, err := r.MarshalTo(out); err != nil {
				t.Fatal(err)
			}
			var again STAMPReply
			if err := again.UnmarshalBinary(out); err != nil || again != r {
				t.Fatalf("reply round trip %+v (%v), want %+v", again, err, r)
			}
		}
	})
}

// The Session-Sender Identifier (RFC 8972 §3) sits in octets 14-15 of both packets: written,
// read back, and in a reply where a reflector copies it.
func TestSTAMPSessionSenderID(t *testing.T) {
	tp := STAMPTest{Sequence: 7, Timestamp: PTPTimestamp(goldenT1), ErrorEstimate: NewSTAMPErrorEstimate(true, true, time.Nanosecond), SSID: 0xbeef}
	b := make([]byte, STAMPPacketSize)
	if _, err := tp.MarshalTo(b); err != nil || b[14] != 0xbe || b[15] != 0xef {
		t.Fatalf("test packet octets 14-15 % x (%v), want be ef", b[14:16], err)
	}
	var dt STAMPTest
	if err := dt.UnmarshalBinary(b); err != nil || dt.SSID != 0xbeef {
		t.Errorf("decoded SSID %#x (%v)", dt.SSID, err)
	}
	rp := goldenReplyStruct()
	rp.SSID = dt.SSID
	if _, err := rp.MarshalTo(b); err != nil || b[14] != 0xbe || b[15] != 0xef {
		t.Fatalf("reply octets 14-15 % x (%v), want be ef", b[14:16], err)
	}
	var dr STAMPReply
	if err := dr.UnmarshalBinary(b); err != nil || dr.SSID != 0xbeef {
		t.Errorf("decoded reply SSID %#x (%v)", dr.SSID, err)
	}
}

// TestSTAMPAuthenticated: the authenticated layouts put each field at RFC 8762's offsets
// (§4.2.2, §4.3.2), the HMAC covers the first 96 octets, and a changed octet or another key
// fails it.
func TestSTAMPAuthenticated(t *testing.T) {
	key := []byte("authenticated mode key")
	r := goldenReplyStruct()
	r.SSID = 0xbeef
	b := make([]byte, STAMPAuthPacketSize)
	if n, err := r.MarshalAuthTo(b, key); err != nil || n != STAMPAuthPacketSize {
		t.Fatalf("marshal: %d, %v", n, err)
	}
	at := func(off, n int) []byte { return b[off : off+n] }
	for _, f := range []struct {
		name string
		off  int
		want []byte
	}{
		{"sequence", 0, goldenReply[0:4]}, {"timestamp", 16, goldenReply[4:12]}, {"error estimate", 24, goldenReply[12:14]},
		{"SSID", 26, []byte{0xbe, 0xef}}, {"receive timestamp", 32, goldenReply[16:24]}, {"sender sequence", 48, goldenReply[24:28]},
		{"sender timestamp", 64, goldenReply[28:36]}, {"sender error estimate", 72, goldenReply[36:38]}, {"TTL", 80, goldenReply[40:41]},
	} {
		if !bytes.Equal(at(f.off, len(f.want)), f.want) {
			t.Errorf("%s at %d: % x, want % x", f.name, f.off, at(f.off, len(f.want)), f.want)
		}
	}
	for _, mbz := range [][2]int{{4, 12}, {28, 4}, {40, 8}, {52, 12}, {74, 6}, {81, 15}} {
		if !bytes.Equal(at(mbz[0], mbz[1]), make([]byte, mbz[1])) {
			t.Errorf("MBZ at %d not zero", mbz[0])
		}
	}
	var got STAMPReply
	if err := got.UnmarshalAuth(b, key); err != nil || got != r {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, off := range []int{0, 5, 95} { // an MBZ octet is covered too
		c := bytes.Clone(b)
		c[off] ^= 1
		if err := got.UnmarshalAuth(c, key); !errors.Is(err, ErrSTAMPIntegrity) {
			t.Errorf("octet %d changed: %v, want ErrSTAMPIntegrity", off, err)
		}
	}
	if err := got.UnmarshalAuth(b, []byte("another key")); !errors.Is(err, ErrSTAMPIntegrity) {
		t.Errorf("another key: %v", err)
	}
	test := STAMPTest{Sequence: 9, Timestamp: PTPTimestamp(goldenT1), ErrorEstimate: 0xc005, SSID: 3}
	if _, err := test.MarshalAuthTo(b, key); err != nil {
		t.Fatal(err)
	}
	var gt STAMPTest
	if err := gt.UnmarshalAuth(b, key); err != nil || gt != test || !bytes.Equal(b[28:96], make([]byte, 68)) {
		t.Errorf("test packet round trip: %+v, %v", gt, err)
	}
	if err := gt.UnmarshalAuth(b[:100], key); err == nil || errors.Is(err, ErrSTAMPIntegrity) {
		t.Errorf("short packet: %v, want a length error", err)
	}
}

func FuzzSTAMPAuthDecode(f *testing.F) {
	key := []byte("k")
	b := make([]byte, STAMPAuthPacketSize)
	(&STAMPTest{Sequence: 1, ErrorEstimate: 1}).MarshalAuthTo(b, key) //nolint:errcheck
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p STAMPTest
		var r STAMPReply
		if p.UnmarshalAuth(b, key) == nil {
			c := make([]byte, STAMPAuthPacketSize)
			p.MarshalAuthTo(c, key) //nolint:errcheck
			var q STAMPTest
			if err := q.UnmarshalAuth(c, key); err != nil || q != p {
				t.Fatalf("re-encoded test packet: %+v, %v", q, err)
			}
		}
		_ = r.UnmarshalAuth(b, key)
	})
}
