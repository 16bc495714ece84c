package pathtrace

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/oam/pt"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
)

var (
	prober = netip.MustParseAddr("fc00:0:1::1")
	path   = []netip.Addr{netip.MustParseAddr("fc00:0:2::e"), netip.MustParseAddr("fc00:0:4::e"), prober}
)

// checksum is RFC 8200 §8.1's upper-layer checksum, written out plainly as a witness.
func checksum(src, dst netip.Addr, next byte, msg []byte) uint16 {
	var b []byte
	s, d := src.As16(), dst.As16()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(msg)))
	b = append(b, 0, 0, 0, next)
	b = append(b, msg...)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	var sum uint32
	for i := 0; i < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func TestBuilderLayout(t *testing.T) {
	for _, payload := range []int{0, 7, 56} {
		b, err := NewBuilder(BuildConfig{Path: path, Source: prober, ID: 0x1234, Session: 77, FlowLabel: 0xabcde, PayloadSize: payload})
		if err != nil {
			t.Fatal(err)
		}
		sent := time.Unix(1700000000, 123456789)
		p := b.Build(9, sent)
		if p[6] != 0 || int(binary.BigEndian.Uint16(p[4:])) != len(p)-40 || binary.BigEndian.Uint32(p[0:])&0xfffff != 0xabcde {
			t.Fatalf("IPv6 header % x", p[:8])
		}
		if b.FirstHop() != path[0] {
			t.Errorf("first hop %v", b.FirstHop())
		}
		hbhLen := (int(p[41]) + 1) * 8
		opt, ok, err := pt.FindOption(p[40 : 40+hbhLen])
		if err != nil || !ok || opt.Cap() != pt.DefaultMCDs || p[40] != 43 {
			t.Fatalf("Hop-by-Hop: %v %v cap %d next %d", ok, err, opt.Cap(), p[40])
		}
		if hops, _ := opt.Hops(); len(hops) != 0 {
			t.Errorf("a fresh stack holds %v", hops)
		}
		var s srh.SRH
		if err := s.DecodeFromBytes(p[40+hbhLen:], gopacket.NilDecodeFeedback); err != nil {
			t.Fatal(err)
		}
		if s.SegmentsLeft != 2 || len(s.Segments) != 3 || s.Segments[0] != path[0] || s.Segments[2] != prober || s.NextHeader != 58 {
			t.Errorf("SRH %+v", s)
		}
		if len(s.TLVs) != 1 || s.TLVs[0].Type != pt.TLVType {
			t.Fatalf("TLVs %+v", s.TLVs)
		}
		tlv, err := pt.ParseSourceTLV(append([]byte{pt.TLVType, pt.TLVLen}, s.TLVs[0].Value...))
		if err != nil || tlv.Session != 77 || tlv.Sequence != 9 || tlv.T64 != pt.TimestampOf(sent) {
			t.Errorf("PT TLV %+v, %v", tlv, err)
		}
		icmp := s.Payload
		if icmp[0] != 128 || binary.BigEndian.Uint16(icmp[4:]) != 0x1234 || binary.BigEndian.Uint16(icmp[6:]) != 9 || len(icmp) != 8+payload {
			t.Errorf("echo % x", icmp[:8])
		}
		// The checksum, over the final segment (the prober), verifies.
		if checksum(prober, prober, 58, icmp) != 0 {
			t.Errorf("payload %d: ICMPv6 checksum does not verify", payload)
		}
		// Another sequence, another checksum, still right.
		p = b.Build(0xfffe, sent)
		if checksum(prober, prober, 58, p[len(p)-len(icmp):]) != 0 {
			t.Errorf("payload %d, sequence 0xfffe: checksum does not verify", payload)
		}
	}
	for name, cfg := range map[string]BuildConfig{
		"one segment": {Path: path[2:], Source: prober},
		"v4 source":   {Path: path, Source: netip.MustParseAddr("192.0.2.1")},
		"v4 segment":  {Path: []netip.Addr{netip.MustParseAddr("::ffff:192.0.2.1"), prober}, Source: prober},
		"payload":     {Path: path, Source: prober, PayloadSize: MaxPayload + 1},
		"stack":       {Path: path, Source: prober, MCDs: pt.MaxMCDs + 1},
	} {
		if _, err := NewBuilder(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// returned is what a probe built by b comes back as after the midpoints pushed mcds (in path
// order): its Hop-by-Hop header and routing header.
func returned(t *testing.T, b *Builder, seq uint16, sent time.Time, mcds ...pt.MCD) (hbh, rh []byte) {
	t.Helper()
	p := b.Build(seq, sent)
	n := (int(p[41]) + 1) * 8
	hbh = append([]byte(nil), p[40:40+n]...)
	opt, _, _ := pt.FindOption(hbh)
	for _, m := range mcds {
		opt.Push(m)
	}
	rh = append([]byte(nil), p[40+n:b.icmpOff]...)
	return hbh, rh
}

func TestDecode(t *testing.T) {
	b, err := NewBuilder(BuildConfig{Path: path, Source: prober, ID: 1, Session: 5, MCDs: 3})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := pt.Template2 // 4.096 µs, wraps every 1.05 ms
	sent := time.Unix(1700000000, 999_800_000)
	at := func(d time.Duration) pt.MCD {
		return pt.MCD{TTS: tmpl.Truncate(uint32(sent.Add(d).Nanosecond()))}
	}
	m1, m2 := at(100*time.Microsecond), at(350*time.Microsecond) // the second across the second
	m1.Interface, m1.Load, m2.Interface = 0x12, 3, 0x23
	hbh, rh := returned(t, b, 4, sent, m1, m2)
	r, err := Decode(hbh, rh, 5, tmpl, sent.Add(500*time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != 4 || !r.Sent.Equal(sent) || r.RTT != 500*time.Microsecond || r.Full || len(r.Hops) != 2 {
		t.Fatalf("result %+v", r)
	}
	if r.PathKey() != "0x12>0x23" {
		t.Errorf("path key %q", r.PathKey())
	}
	for i, want := range []time.Duration{100 * time.Microsecond, 250 * time.Microsecond} {
		h := r.Hops[i]
		if h.Candidates != 1 || !h.DelayKnown || h.Delay < want-tmpl.Resolution() || h.Delay > want+tmpl.Resolution() {
			t.Errorf("hop %d: %+v, want a delay of %v ± %v", i, h, want, tmpl.Resolution())
		}
	}
	if r.Hops[0].Load != 3 || r.Hops[1].Interface != 0x23 {
		t.Errorf("hops %+v", r.Hops)
	}

	// Back 3 ms later: the template wrapped twice in the window, every hop ambiguous.
	r, err = Decode(hbh, rh, 5, tmpl, sent.Add(3*time.Millisecond))
	if err != nil || r.Hops[0].Candidates < 2 || r.Hops[0].DelayKnown || r.Hops[1].DelayKnown {
		t.Errorf("ambiguous: %+v, %v", r.Hops, err)
	}

	// A full stack: the first hop kept is not the path's first, its delay unknown.
	hbh, rh = returned(t, b, 5, sent, m1, m1, m1, m2)
	r, err = Decode(hbh, rh, 5, tmpl, sent.Add(500*time.Microsecond))
	if err != nil || !r.Full || len(r.Hops) != 3 || r.Hops[0].DelayKnown || !r.Hops[2].DelayKnown {
		t.Errorf("full: %+v, %v", r, err)
	}

	for name, tc := range map[string]struct {
		hbh, rh []byte
		session uint16
	}{
		"no hop-by-hop":  {nil, rh, 5},
		"no PT option":   {[]byte{43, 0, 1, 4, 0, 0, 0, 0}, rh, 5},
		"other session":  {hbh, rh, 6},
		"routing header": {hbh, rh[:10], 5},
		"bad PT option":  {[]byte{43, 0, pt.OptionType, 4, 0, 0, 0, 0}, rh, 5},
	} {
		if _, err := Decode(tc.hbh, tc.rh, tc.session, tmpl, sent); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// An SRH without the PT TLV.
	s := srh.SRH{NextHeader: 58, Segments: path, SegmentsLeft: 0}
	plain, _ := s.AppendBinary(nil)
	if _, err := Decode(hbh, plain, 5, tmpl, sent); err == nil {
		t.Error("an SRH without the PT TLV accepted")
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := NewBuilder(BuildConfig{Path: path, Source: prober, ID: 1, Session: 5})
	p := b.Build(1, time.Unix(1700000000, 0))
	f.Add(p[40:80], p[80:b.icmpOff])
	f.Fuzz(func(t *testing.T, hbh, rh []byte) {
		r, err := Decode(hbh, rh, 5, pt.Template3, time.Unix(1700000000, 5e8))
		if err != nil {
			return
		}
		if len(r.Hops) > pt.MaxMCDs {
			t.Fatalf("%d hops", len(r.Hops))
		}
		for _, h := range r.Hops {
			if h.DelayKnown && h.Candidates != 1 {
				t.Fatalf("a delay for an ambiguous hop: %+v", h)
			}
		}
	})
}

func BenchmarkBuild(b *testing.B) {
	bl, err := NewBuilder(BuildConfig{Path: path, Source: prober, ID: 1, Session: 5, PayloadSize: 56})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		bl.Build(uint16(i), now)
	}
}

func TestDecodeIOAM(t *testing.T) {
	tr, err := ioam.NewTrace(7, ioam.Bits(ioam.BitHopLimitNodeID), 3)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBuilder(BuildConfig{Path: path, Source: prober, ID: 1, Session: 5, IOAM: &tr})
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Unix(1700000000, 0)
	p := b.Build(3, sent)
	n := (int(p[41]) + 1) * 8
	hbh, rh := p[40:40+n], p[40+n:b.icmpOff]
	r, err := DecodeIOAM(hbh, rh, 5, sent.Add(time.Millisecond))
	if err != nil || r.Seq != 3 || r.IOAM == nil || r.IOAM.Namespace != 7 || r.IOAM.Free != 3 || len(r.IOAM.Entries) != 0 || r.RTT != time.Millisecond {
		t.Fatalf("%+v, %v", r, err)
	}
	// A PT header is not an IOAM one, and the other way round.
	pb, _ := NewBuilder(BuildConfig{Path: path, Source: prober, ID: 1, Session: 5})
	pp := pb.Build(3, sent)
	if _, err := DecodeIOAM(pp[40:80], pp[80:pb.icmpOff], 5, sent); err == nil {
		t.Error("a PT probe read as IOAM")
	}
	if _, err := Decode(hbh, rh, 5, pt.Template3, sent); err == nil {
		t.Error("an IOAM probe read as PT")
	}
	if _, err := DecodeIOAM(nil, rh, 5, sent); err == nil {
		t.Error("no header accepted")
	}
	if _, err := NewBuilder(BuildConfig{Path: path, Source: prober, IOAM: &ioam.Trace{}}); err == nil {
		t.Error("an IOAM trace with no room accepted")
	}
}

// sentConn records the packets a session sends.
type sentConn struct{ pkts [][]byte }

func (c *sentConn) Send(pkt []byte, _ netip.Addr) (probes.SendInfo, error) {
	c.pkts = append(c.pkts, append([]byte(nil), pkt...))
	return probes.SendInfo{}, nil
}
func (c *sentConn) Receive(time.Time, *probes.Received) error            { return net.ErrClosed }
func (c *sentConn) ReadTxTimestamps(func(key uint32, t time.Time)) error { return nil }
func (c *sentConn) Close() error                                         { return nil }

// TestFlowLabelsSpread: with FlowLabels n, probe seq leaves with FlowLabel + seq mod n in its
// outer header, and its Result (here: lost) says which; a spread past 20 bits is refused.
func TestFlowLabelsSpread(t *testing.T) {
	tr, err := ioam.NewTrace(0, ioam.Bits(ioam.BitHopLimitNodeID), 4)
	if err != nil {
		t.Fatal(err)
	}
	conn := &sentConn{}
	var results []Result
	target := oam.Target{Destination: netip.MustParseAddr("fc00:0:4::e")}
	opts := Options{IOAM: &tr, Count: 6, Interval: time.Millisecond, Timeout: time.Millisecond, FlowLabel: 0x100, FlowLabels: 4,
		Source: netip.MustParseAddr("fc00:0:1::1")}
	sess, _, err := NewSession(conn, target, opts, func(r Result) { results = append(results, r) })
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := 0; i < 100 && len(results) < 6; i++ {
		sess.Wake(now)
		now = now.Add(time.Millisecond)
	}
	if len(conn.pkts) != 6 || len(results) != 6 {
		t.Fatalf("%d probes sent, %d results; want 6, 6", len(conn.pkts), len(results))
	}
	for i, pkt := range conn.pkts {
		seq := i + 1
		want := uint32(0x100 + seq%4)
		if got := binary.BigEndian.Uint32(pkt[0:4]) & 0xfffff; got != want {
			t.Errorf("probe %d: flow label %#x, want %#x", seq, got, want)
		}
	}
	for _, r := range results {
		if want := uint32(0x100 + int(r.Seq)%4); r.FlowLabel != want || !r.Lost {
			t.Errorf("result %d: flow label %#x (lost %v), want %#x, lost", r.Seq, r.FlowLabel, r.Lost, want)
		}
	}
	opts.FlowLabel, opts.FlowLabels = 0xffffe, 4
	if _, _, err := NewSession(conn, target, opts, nil); err == nil {
		t.Error("flow labels 0xffffe + 4 accepted")
	}
}
