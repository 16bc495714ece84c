package bpf_test

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/srv6oam/srv6oam/bpf"
	"github.com/srv6oam/srv6oam/bpf/bpftest"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

var (
	h1Addr   = netip.MustParseAddr("fc00:0:1::1")
	h2Addr   = netip.MustParseAddr("fc00:0:4::1")
	r1OAMSID = netip.MustParseAddr("fc00:0:2::b0") // in r1's range for End.BPF SIDs
)

const r1NodeID = 0x0a000002

type endOAMLab struct {
	lab     *testnet.Lab
	prog    *bpf.EndOAM
	reader  *ringbuf.Reader
	capture *bpftest.Capture
}

// upEndOAM builds line4, loads end_oam and binds r1OAMSID on r1, reads its ring buffer and
// captures what reaches h2.
func upEndOAM(t *testing.T) *endOAMLab {
	t.Helper()
	lab := labtest.Up(t, "line4")
	prog, err := bpf.Load(bpf.Options{NodeID: r1NodeID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	h, err := lab.Handle("r1")
	if err != nil {
		t.Fatal(err)
	}
	sid := bpf.SID{Prefix: netip.PrefixFrom(r1OAMSID, 128), Device: "to-r2"}
	if err := prog.BindSID(h, sid); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := bpf.UnbindSID(h, sid); err != nil {
			t.Errorf("unbind: %v", err)
		}
	})
	rd, err := ringbuf.NewReader(prog.Events())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	c, err := bpftest.Listen(lab, "h2", "to-r2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &endOAMLab{lab: lab, prog: prog, reader: rd, capture: c}
}

// readEvent polls the ring buffer until an event arrives or timeout passes: end_oam does not
// wake readers for single events (BPF_RB_NO_WAKEUP below a quarter of the ring).
func (l *endOAMLab) readEvent(timeout time.Duration) (ringbuf.Record, error) {
	end := time.Now().Add(timeout)
	for {
		l.reader.SetDeadline(time.Now())
		rec, err := l.reader.Read()
		if !errors.Is(err, os.ErrDeadlineExceeded) || time.Now().After(end) {
			return rec, err
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// roundTrip sends p from h1 and returns what h2 received, with CLOCK_TAI before sending and
// after receiving.
func (l *endOAMLab) roundTrip(t *testing.T, p bpftest.Packet) (sent, got []byte, txTAI, rxTAI int64) {
	t.Helper()
	sent, err := p.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	txTAI = probes.TAINow()
	if err := bpftest.Send(l.lab, "h1", sent); err != nil {
		t.Fatal(err)
	}
	got, rxTAI, err = l.capture.Next(p.FlowLabel, 3*time.Second)
	if err != nil {
		t.Fatalf("flow label %#x: %v", p.FlowLabel, err)
	}
	return sent, got, txTAI, rxTAI
}

func TestEndOAMTimestampsProbe(t *testing.T) {
	l := upEndOAM(t)
	probe := &srh.Probe{Flags: srh.ProbeReport | srh.ProbeCapture, Session: 0xc0ffee, Sequence: 42,
		TxTimestamp: uint64(probes.TAINow()), ReportTo: h1Addr, ReportPort: 9999, CaptureLen: 64}
	p := bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{r1OAMSID, h2Addr}, FlowLabel: 0x11, Probe: probe, Slots: true}
	sent, got, tx, rx := l.roundTrip(t, p)

	// Segment List[1] is r1's SID; End.BPF sees Segments Left 0 and writes slot 1.
	off := bpftest.SlotOffset(2, 1)
	slot := got[off : off+16]
	if id := binary.BigEndian.Uint32(slot[0:4]); id != r1NodeID {
		t.Errorf("slot 1 node id %#x, want %#x", id, r1NodeID)
	}
	if slot[4] != srh.SlotWritten || slot[5] != 0 || slot[6] != 0 || slot[7] != 0 {
		t.Errorf("slot 1 flags %#02x segments left %d reserved %x, want W, 0, 0", slot[4], slot[5], slot[6:8])
	}
	ts := int64(binary.BigEndian.Uint64(slot[8:16]))
	if ts < tx || ts > rx {
		t.Errorf("slot 1 timestamp %d not within send %d .. receive %d (CLOCK_TAI)", ts, tx, rx)
	}
	// Everything else, slot 0 included, arrives as sent.
	if err := bpftest.SameExceptForwarding(sent, got, [2]int{off, off + 16}); err != nil {
		t.Errorf("probe changed beyond its slot: %v", err)
	}
	// The receiver's SRH codec accepts the stamped packet and reads the same slot.
	var s srh.SRH
	if err := s.DecodeFromBytes(got[40:], nil); err != nil {
		t.Fatalf("decode stamped SRH: %v", err)
	}
	slots, err := srh.DefaultRegistry().Slots(&s)
	if err != nil {
		t.Fatal(err)
	}
	if sl, err := slots.Slot(1); err != nil || !sl.Written() || sl.NodeID != r1NodeID || int64(sl.Timestamp) != ts {
		t.Errorf("srh codec reads slot 1 as %+v (%v)", sl, err)
	}

	rec, err := l.readEvent(3 * time.Second)
	if err != nil {
		t.Fatalf("ring buffer event: %v", err)
	}
	var ev bpf.Event
	if err := bpf.DecodeEvent(rec.RawSample, &ev); err != nil {
		t.Fatal(err)
	}
	in, err := l.lab.Interface("r1", "h1")
	if err != nil {
		t.Fatal(err)
	}
	if ev.SID != r1OAMSID || ev.Session != 0xc0ffee || ev.Sequence != 42 || ev.SegmentsLeft != 0 ||
		ev.ReportTo != h1Addr || ev.ReportPort != 9999 || ev.NodeID != r1NodeID || !ev.SlotWritten ||
		ev.TimestampNs != uint64(ts) || ev.SenderTxNs != probe.TxTimestamp || int(ev.IngressIfindex) != in.Index ||
		int(ev.PacketLen) != len(sent) {
		t.Errorf("event %+v", ev)
	}
	if len(ev.Capture) != 64 || ev.Capture[0]>>4 != 6 || binary.BigEndian.Uint32(ev.Capture[0:4])&0xfffff != 0x11 {
		t.Errorf("capture %x, want the first 64 bytes of the probe", ev.Capture)
	}

	c, err := l.prog.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Packets != 1 || c.Probes != 1 || c.Malformed != 0 || c.EventsLost != 0 || c.StoreFailed != 0 {
		t.Errorf("counters %+v, want 1 packet, 1 probe", c)
	}
}

func TestEndOAMForwardsOrdinaryTraffic(t *testing.T) {
	l := upEndOAM(t)
	for i, p := range []bpftest.Packet{
		{Src: h1Addr, Segments: []netip.Addr{r1OAMSID, h2Addr}, FlowLabel: 0x21},
		{Src: h1Addr, Segments: []netip.Addr{r1OAMSID, h2Addr}, FlowLabel: 0x22,
			ExtraTLVs: []srh.TLV{{Type: 4, Value: make([]byte, 6)}}}, // PadN only
		{Src: h1Addr, Segments: []netip.Addr{r1OAMSID, h2Addr}, FlowLabel: 0x23,
			ExtraTLVs: []srh.TLV{{Type: 0x80, Value: []byte{1, 2, 3, 4, 5, 6}}}}, // unknown TLV first
	} {
		sent, got, _, _ := l.roundTrip(t, p)
		if err := bpftest.SameExceptForwarding(sent, got); err != nil {
			t.Errorf("packet %d changed: %v", i, err)
		}
		if got[43] != 0 || netip.AddrFrom16([16]byte(got[24:40])) != h2Addr {
			t.Errorf("packet %d: segments left %d, destination %v; End did not advance it", i, got[43], netip.AddrFrom16([16]byte(got[24:40])))
		}
	}
	c, err := l.prog.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Packets != 3 || c.Probes != 0 || c.Malformed != 0 {
		t.Errorf("counters %+v, want 3 packets, no probe", c)
	}
	// Nothing was reported for them.
	l.reader.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if rec, err := l.reader.Read(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ring buffer has %d bytes (err %v), want nothing", len(rec.RawSample), err)
	}
}

func TestEndOAMForwardsMalformedProbeUntouched(t *testing.T) {
	l := upEndOAM(t)
	good := srh.Probe{Flags: srh.ProbeReport, Session: 1, Sequence: 1, ReportTo: h1Addr, ReportPort: 9999}
	probeValue := func(p srh.Probe) []byte {
		v := make([]byte, srh.ProbeValueLen)
		if err := p.MarshalTo(v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	badVersion := probeValue(good)
	badVersion[0] = 9
	slotsValue := func(n int) []byte {
		v := make([]byte, srh.SlotsHeaderLen+16*n)
		v[0] = byte(n)
		return v
	}
	inconsistent := slotsValue(2)
	inconsistent[0] = 3 // N says 3 slots, length holds 2
	cases := []struct {
		name string
		tlvs []srh.TLV
	}{
		{"unknown probe version", []srh.TLV{{Type: 124, Value: badVersion}, {Type: 252, Value: slotsValue(2)}}},
		{"truncated probe TLV", []srh.TLV{{Type: 124, Value: probeValue(good)[:30]}, {Type: 252, Value: slotsValue(2)}}},
		{"no slot for this segment", []srh.TLV{{Type: 124, Value: probeValue(good)}, {Type: 252, Value: slotsValue(1)}}},
		{"slot count disagrees with length", []srh.TLV{{Type: 124, Value: probeValue(good)}, {Type: 252, Value: inconsistent}}},
	}
	for i, tc := range cases {
		p := bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{r1OAMSID, h2Addr}, FlowLabel: uint32(0x31 + i), ExtraTLVs: tc.tlvs}
		sent, got, _, _ := l.roundTrip(t, p)
		if err := bpftest.SameExceptForwarding(sent, got); err != nil {
			t.Errorf("%s: forwarded packet changed: %v", tc.name, err)
		}
	}
	c, err := l.prog.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Packets != uint64(len(cases)) || c.Malformed != uint64(len(cases)) || c.Probes != 0 {
		t.Errorf("counters %+v, want %d packets, all malformed", c, len(cases))
	}
	l.reader.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := l.reader.Read(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("malformed probe reported (err %v), want no event", err)
	}
}

// Linux reads the HMAC TLV from the last 40 bytes of the SRH, so srv6oam puts it last; a sender
// that puts an HMAC TLV first still gets its probe stamped: end_oam steps over a leading HMAC
// TLV. Without the H flag the kernel does not check it.
func TestEndOAMProbeAfterLeadingHMACTLV(t *testing.T) {
	l := upEndOAM(t)
	hmac := srh.TLV{Type: 4, Value: make([]byte, 38)} // turned into type 5 after serializing
	probe := srh.Probe{Session: 5, Sequence: 6}
	v := make([]byte, srh.ProbeValueLen)
	if err := probe.MarshalTo(v); err != nil {
		t.Fatal(err)
	}
	slots := make([]byte, srh.SlotsHeaderLen+2*srh.SlotLen)
	slots[0] = 2
	p := bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{r1OAMSID, h2Addr}, FlowLabel: 0x41,
		ExtraTLVs: []srh.TLV{hmac, {Type: 124, Value: v}, {Type: 252, Value: slots}}}
	raw, err := p.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	tlvStart := 40 + 8 + 16*2
	if raw[tlvStart] != 4 || raw[tlvStart+1] != 38 {
		t.Fatalf("first TLV %d/%d, want the PadN placeholder", raw[tlvStart], raw[tlvStart+1])
	}
	raw[tlvStart] = 5
	tx := probes.TAINow()
	if err := bpftest.Send(l.lab, "h1", raw); err != nil {
		t.Fatal(err)
	}
	got, rx, err := l.capture.Next(p.FlowLabel, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sent := raw
	off := bpftest.SlotOffset(2, 1) + 40
	if id := binary.BigEndian.Uint32(got[off:]); id != r1NodeID {
		t.Errorf("slot 1 node id %#x, want %#x", id, r1NodeID)
	}
	if ts := int64(binary.BigEndian.Uint64(got[off+8:])); ts < tx || ts > rx {
		t.Errorf("slot 1 timestamp %d not within %d .. %d", ts, tx, rx)
	}
	if err := bpftest.SameExceptForwarding(sent, got, [2]int{off, off + 16}); err != nil {
		t.Errorf("probe changed beyond its slot: %v", err)
	}
	if c, err := l.prog.Counters(); err != nil || c.Probes != 1 {
		t.Errorf("counters %+v (%v), want 1 probe", c, err)
	}
}

// A probe behind a Hop-by-Hop header (IOAM rides there): the kernel processes the SRH that
// follows it, and End.OAM finds it there, writes the slot at its real offset and reports.
func TestEndOAMProbeBehindHopByHop(t *testing.T) {
	l := upEndOAM(t)
	probe := &srh.Probe{Flags: srh.ProbeReport, Session: 0xb0b, Sequence: 7, TxTimestamp: uint64(probes.TAINow()),
		ReportTo: h1Addr, ReportPort: 9999}
	p := bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{r1OAMSID, h2Addr}, FlowLabel: 0x51, Probe: probe, Slots: true,
		Before: []bpftest.ExtHeader{bpftest.HopByHopPadN()}}
	sent, got, tx, rx := l.roundTrip(t, p)
	shift := p.BeforeLen()
	off := bpftest.SlotOffset(2, 1) + shift
	if id := binary.BigEndian.Uint32(got[off:]); id != r1NodeID || got[off+4] != srh.SlotWritten {
		t.Errorf("slot 1 node id %#x flags %#x, want %#x written", id, got[off+4], r1NodeID)
	}
	if ts := int64(binary.BigEndian.Uint64(got[off+8:])); ts < tx || ts > rx {
		t.Errorf("slot 1 timestamp %d not within %d .. %d", ts, tx, rx)
	}
	slOff := 40 + shift + 3 // the SRH's Segments Left, decremented by End
	if err := bpftest.SameExceptForwarding(sent, got, [2]int{off, off + 16}, [2]int{slOff, slOff + 1}); err != nil {
		t.Errorf("probe changed beyond its slot: %v", err)
	}
	rec, err := l.readEvent(3 * time.Second)
	if err != nil {
		t.Fatalf("ring buffer event: %v", err)
	}
	var ev bpf.Event
	if err := bpf.DecodeEvent(rec.RawSample, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.SID != r1OAMSID || ev.Session != 0xb0b || ev.Sequence != 7 || ev.SegmentsLeft != 0 || !ev.SlotWritten {
		t.Errorf("event %+v", ev)
	}
}

// A stale routing header (Segments Left 0, a Probe TLV of another session) in front of the live
// one: the kernel skips it and processes the second. End.OAM cannot tell that header from the
// processed one once the live one's Segments Left is 0 too, so it stamps nothing, reports
// nothing, counts the packet as ambiguous, and forwards it as it came.
func TestEndOAMIgnoresStaleSRHInFront(t *testing.T) {
	l := upEndOAM(t)
	fake := srh.Probe{Flags: srh.ProbeReport, Session: 0xbad, Sequence: 666, ReportTo: h1Addr, ReportPort: 9999}
	stale, err := bpftest.StaleSRH([]netip.Addr{r1OAMSID, netip.MustParseAddr("fc00:0:99::1")}, fake)
	if err != nil {
		t.Fatal(err)
	}
	real := &srh.Probe{Flags: srh.ProbeReport, Session: 0xc0ffee, Sequence: 1, ReportTo: h1Addr, ReportPort: 9999}
	p := bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{r1OAMSID, h2Addr}, FlowLabel: 0x61, Probe: real, Slots: true,
		Before: []bpftest.ExtHeader{stale}}
	sent, got, _, _ := l.roundTrip(t, p)
	slOff := 40 + p.BeforeLen() + 3
	if got[slOff] != 0 {
		t.Fatalf("live SRH's Segments Left %d after r1, want 0: the kernel did not process it", got[slOff])
	}
	if err := bpftest.SameExceptForwarding(sent, got, [2]int{slOff, slOff + 1}); err != nil {
		t.Errorf("packet changed beyond forwarding (a slot written?): %v", err)
	}
	c, err := l.prog.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Packets != 1 || c.Ambiguous != 1 || c.Probes != 0 {
		t.Errorf("counters %+v, want 1 packet, ambiguous, no probe", c)
	}
	l.reader.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if rec, err := l.reader.Read(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ring buffer has %d bytes (err %v), want no report", len(rec.RawSample), err)
	}
}

func TestBindReplacesAndRemovesStaleRoutes(t *testing.T) {
	lab := labtest.Up(t, "line4")
	h, err := lab.Handle("r1")
	if err != nil {
		t.Fatal(err)
	}
	sidA := bpf.SID{Prefix: netip.MustParsePrefix("fc00:0:2::b1/128"), Device: "to-r2"}
	sidB := bpf.SID{Prefix: netip.MustParsePrefix("fc00:0:2::b2/128"), Device: "to-r2"}
	for range 2 { // the second run replaces the first one's routes (a restart with stale routes)
		prog, err := bpf.Load(bpf.Options{NodeID: 9})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []bpf.SID{sidA, sidB} {
			if err := prog.BindSID(h, s); err != nil {
				t.Fatal(err)
			}
		}
		prog.Close() // the routes keep the program alive
	}
	routes, err := bpf.BoundRoutes(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 2 {
		t.Fatalf("%d srv6oam routes after two binds of two SIDs, want 2: %v", len(routes), routes)
	}
	n, err := bpf.RemoveStaleRoutes(h, []bpf.SID{sidA})
	if err != nil || n != 1 {
		t.Fatalf("RemoveStaleRoutes removed %d (%v), want 1", n, err)
	}
	if err := bpf.UnbindSID(h, sidA); err != nil {
		t.Fatal(err)
	}
	if err := bpf.UnbindSID(h, sidA); err != nil {
		t.Errorf("unbinding a missing SID: %v, want nil", err)
	}
	if routes, err := bpf.BoundRoutes(h); err != nil || len(routes) != 0 {
		t.Errorf("routes left: %v (%v)", routes, err)
	}
}

func TestBindSIDErrors(t *testing.T) {
	lab := labtest.Up(t, "line4")
	h, err := lab.Handle("r1")
	if err != nil {
		t.Fatal(err)
	}
	prog, err := bpf.Load(bpf.Options{NodeID: 9})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	for _, s := range []bpf.SID{
		{Prefix: netip.MustParsePrefix("fc00:0:2::b1/128"), Device: "no-such-dev"},
		{Prefix: netip.MustParsePrefix("10.0.0.1/32"), Device: "to-r2"},
		{Prefix: netip.MustParsePrefix("fc00:0:2::b1/120"), Device: "to-r2"},
		{Device: "to-r2"},
	} {
		if err := prog.BindSID(h, s); err == nil {
			t.Errorf("BindSID(%+v) succeeded", s)
			bpf.UnbindSID(h, s)
		}
	}
}

// A SID the node already routes (here r1's native End SID from the topology) is not taken over.
func TestBindSIDRefusesForeignRoute(t *testing.T) {
	lab := labtest.Up(t, "line4")
	h, err := lab.Handle("r1")
	if err != nil {
		t.Fatal(err)
	}
	prog, err := bpf.Load(bpf.Options{NodeID: 9})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	sid := bpf.SID{Prefix: netip.MustParsePrefix("fc00:0:2::e/128"), Device: "to-r2"}
	if err := prog.BindSID(h, sid); !errors.Is(err, bpf.ErrRouteInUse) {
		t.Fatalf("binding r1's End SID: %v, want ErrRouteInUse", err)
	}
	if routes, err := bpf.BoundRoutes(h); err != nil || len(routes) != 0 {
		t.Errorf("srv6oam routes after a refused bind: %v (%v)", routes, err)
	}
}
