package bpf_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/bpf"
	"github.com/srv6oam/srv6oam/bpf/bpftest"
	"github.com/srv6oam/srv6oam/oam/hbh"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/oam/pt"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

var r1EndSID = netip.MustParseAddr("fc00:0:2::e")

// attachPT attaches a Path Tracing midpoint to the egress of node's interface ifname.
func attachPT(t *testing.T, lab *testnet.Lab, node, ifname string, opts bpf.PTOptions) *bpf.PTMidpoint {
	t.Helper()
	var m *bpf.PTMidpoint
	err := lab.Exec(node, func() error {
		ifc, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		m, err = bpf.AttachPT(ifc.Index, opts)
		return err
	})
	if err != nil {
		t.Fatalf("%s %s: %v", node, ifname, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// ptPacket is an SRv6 packet from h1 through r1's End SID to h2, with a Hop-by-Hop PT option
// of mcds MCDs and the source's PT TLV in the SRH.
func ptPacket(t *testing.T, flow uint32, mcds int) bpftest.Packet {
	t.Helper()
	o, err := pt.NewOption(mcds)
	if err != nil {
		t.Fatal(err)
	}
	hbh, err := pt.AppendHopByHop(nil, 43, &o)
	if err != nil {
		t.Fatal(err)
	}
	src := pt.SourceTLV{Interface: 1, T64: pt.TimestampOf(time.Unix(0, probes.TAINow())), Session: 7, Sequence: uint16(flow)}
	tlv := src.AppendBinary(nil)
	return bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{r1EndSID, h2Addr}, FlowLabel: flow,
		Before:    []bpftest.ExtHeader{{Type: 0, Bytes: hbh}},
		ExtraTLVs: []srh.TLV{{Type: tlv[0], Value: tlv[2:]}}}
}

type ptLab struct {
	lab     *testnet.Lab
	r1, r2  *bpf.PTMidpoint
	capture *bpftest.Capture
}

// upPT builds line4 with midpoints on r1's egress towards r2 (id 0x12, load 5) and r2's towards
// h2 (id 0x23, load 0), both with template 4 (1.05 ms units, wrapping every 268 ms), and
// captures what reaches h2.
func upPT(t *testing.T) *ptLab {
	lab := labtest.Up(t, "line4")
	l := &ptLab{lab: lab,
		r1: attachPT(t, lab, "r1", "to-r2", bpf.PTOptions{InterfaceID: 0x12, Template: pt.Template4}),
		r2: attachPT(t, lab, "r2", "to-h2", bpf.PTOptions{InterfaceID: 0x23, Template: pt.Template4}),
	}
	if err := l.r1.SetLoad(5); err != nil {
		t.Fatal(err)
	}
	c, err := bpftest.Listen(lab, "h2", "to-r2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	l.capture = c
	return l
}

func (l *ptLab) roundTrip(t *testing.T, p bpftest.Packet) (sent, got []byte, tx, rx time.Time) {
	t.Helper()
	sent, err := p.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	tx = time.Unix(0, probes.TAINow())
	if err := bpftest.Send(l.lab, "h1", sent); err != nil {
		t.Fatal(err)
	}
	got, rxNs, err := l.capture.Next(p.FlowLabel, 3*time.Second)
	if err != nil {
		t.Fatalf("flow label %#x: %v", p.FlowLabel, err)
	}
	return sent, got, tx, time.Unix(0, rxNs)
}

// TestPTMidpointPushesMCDs: a PT probe through r1 and r2 reaches h2 with both midpoints'
// MCDs on its stack, r1's first in path order: their interface ids, r1's load, and truncated
// timestamps that fall in the window the probe was out; nothing else in the packet changed
// but what forwarding changes.
func TestPTMidpointPushesMCDs(t *testing.T) {
	l := upPT(t)
	sent, got, tx, rx := l.roundTrip(t, ptPacket(t, 0x41, pt.DefaultMCDs))

	o, ok, err := pt.FindOption(got[40:])
	if err != nil || !ok {
		t.Fatalf("PT option at h2: %v %v", ok, err)
	}
	hops, full := o.Hops()
	if len(hops) != 2 || full {
		t.Fatalf("MCDs %+v (full %v), want r1's and r2's", hops, full)
	}
	if hops[0].Interface != 0x12 || hops[0].Load != 5 || hops[1].Interface != 0x23 || hops[1].Load != 0 {
		t.Errorf("MCDs %+v: want r1 (interface 0x12, load 5) then r2 (0x23, 0)", hops)
	}
	var prev time.Time
	for i, h := range hops {
		at, n := pt.Template4.Unwrap(h.TTS, tx, rx)
		if n == 0 {
			t.Errorf("hop %d: TTS %#x matches no time between sending (%v) and receiving (%v)", i, h.TTS, tx, rx)
			continue
		}
		// One clock for every namespace: when the window holds one candidate, hops are in order.
		if n == 1 && at.Before(prev) {
			t.Errorf("hop %d at %v, before hop %d at %v", i, at, i-1, prev)
		}
		prev = at
	}
	// The stack sits at 44..80 (IPv6 40, Hop-by-Hop next header and length, option type and
	// length); the SRH's destination and Segments Left sit 40 octets later than
	// SameExceptForwarding expects.
	if err := bpftest.SameExceptForwarding(sent[40:], got[40:], [2]int{4, 40}); err != nil {
		t.Errorf("extension headers changed beyond the stack: %v", err)
	}
	if sent[7]-got[7] != 2 || binary.BigEndian.Uint16(sent[4:]) != binary.BigEndian.Uint16(got[4:]) {
		t.Errorf("hop limit %d → %d, payload length %d → %d", sent[7], got[7], binary.BigEndian.Uint16(sent[4:]), binary.BigEndian.Uint16(got[4:]))
	}
	for name, m := range map[string]*bpf.PTMidpoint{"r1": l.r1, "r2": l.r2} {
		c, err := m.Counters()
		if err != nil || c != (bpf.PTCounters{Probes: 1}) {
			t.Errorf("%s counters %+v, %v; want one probe", name, c, err)
		}
	}

	// A stack of one MCD keeps the latest: r2's, and says it is full.
	_, got, _, _ = l.roundTrip(t, ptPacket(t, 0x42, 1))
	o, _, err = pt.FindOption(got[40:])
	if err != nil {
		t.Fatal(err)
	}
	if hops, full := o.Hops(); len(hops) != 1 || !full || hops[0].Interface != 0x23 {
		t.Errorf("one-MCD stack: %+v full %v, want r2's alone", hops, full)
	}
}

// TestPTMidpointLeavesOtherPacketsAlone: packets without a PT option cross both midpoints byte
// for byte as they would without them (forwarding's own changes aside), and a malformed PT
// option is forwarded untouched and counted.
func TestPTMidpointLeavesOtherPacketsAlone(t *testing.T) {
	l := upPT(t)
	tr, err := ioam.NewTrace(0, ioam.Bits(ioam.BitHopLimitNodeID), 4)
	if err != nil {
		t.Fatal(err)
	}
	ioamHBH, err := ioam.AppendHopByHop(nil, 43, &tr)
	if err != nil {
		t.Fatal(err)
	}
	plain := bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{r1EndSID, h2Addr}, FlowLabel: 0x51}
	padN := plain
	padN.FlowLabel, padN.Before = 0x52, []bpftest.ExtHeader{bpftest.HopByHopPadN()}
	withIOAM := plain
	withIOAM.FlowLabel, withIOAM.Before = 0x53, []bpftest.ExtHeader{{Type: 0, Bytes: ioamHBH}}
	bad := plain // PT option of 4 octets: not a multiple of an MCD
	bad.FlowLabel, bad.Before = 0x54, []bpftest.ExtHeader{{Type: 0, Bytes: []byte{0, 0, pt.OptionType, 4, 1, 2, 3, 4}}}
	for _, p := range []bpftest.Packet{plain, padN, withIOAM, bad} {
		sent, got, _, _ := l.roundTrip(t, p)
		off := p.BeforeLen()
		if err := bpftest.SameExceptForwarding(append(sent[:40:40], sent[40+off:]...), append(got[:40:40], got[40+off:]...)); err != nil {
			t.Errorf("flow %#x: %v", p.FlowLabel, err)
		}
		if string(sent[40:40+off]) != string(got[40:40+off]) {
			t.Errorf("flow %#x: Hop-by-Hop header % x became % x", p.FlowLabel, sent[40:40+off], got[40:40+off])
		}
	}
	for name, m := range map[string]*bpf.PTMidpoint{"r1": l.r1, "r2": l.r2} {
		c, err := m.Counters()
		if err != nil || c != (bpf.PTCounters{Malformed: 1}) {
			t.Errorf("%s counters %+v, %v; want the malformed option counted and nothing else", name, c, err)
		}
	}
}

// TestPTMidpointDetaches: once r1's midpoint is closed, a PT probe carries r2's MCD alone.
func TestPTMidpointDetaches(t *testing.T) {
	l := upPT(t)
	if err := l.r1.Close(); err != nil {
		t.Fatal(err)
	}
	_, got, _, _ := l.roundTrip(t, ptPacket(t, 0x61, pt.DefaultMCDs))
	o, _, err := pt.FindOption(got[40:])
	if err != nil {
		t.Fatal(err)
	}
	if hops, _ := o.Hops(); len(hops) != 1 || hops[0].Interface != 0x23 {
		t.Errorf("MCDs %+v, want r2's alone", hops)
	}
}

func TestAttachPTErrors(t *testing.T) {
	for _, o := range []bpf.PTOptions{{InterfaceID: 0}, {InterfaceID: 0x1000}, {InterfaceID: 1, Template: 5}} {
		if _, err := bpf.AttachPT(1, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// TestPTMidpointFindsOptionBehindOthers: a Hop-by-Hop header that carries an IOAM trace (after
// a PadN) before the PT option, as a probe recording both would: both midpoints push their MCDs
// onto the PT option, and the IOAM option comes out as it went in.
func TestPTMidpointFindsOptionBehindOthers(t *testing.T) {
	l := upPT(t)
	tr, err := ioam.NewTrace(0, ioam.Bits(ioam.BitHopLimitNodeID), 2)
	if err != nil {
		t.Fatal(err)
	}
	o, err := pt.NewOption(pt.DefaultMCDs)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{43, 0, 1, 0} // next header, length (set below), PadN of 2
	if b, err = tr.AppendBinary(b); err != nil {
		t.Fatal(err)
	}
	ioamEnd := len(b)
	if b, err = o.AppendBinary(b); err != nil {
		t.Fatal(err)
	}
	b = hbh.Pad(b, hbh.PadLen(len(b)))
	b[1] = byte(len(b)/8 - 1)
	p := ptPacket(t, 0x71, pt.DefaultMCDs)
	p.Before = []bpftest.ExtHeader{{Type: 0, Bytes: b}}
	sent, got, _, _ := l.roundTrip(t, p)

	opt, ok, err := pt.FindOption(got[40:])
	if err != nil || !ok {
		t.Fatalf("PT option at h2: %v %v", ok, err)
	}
	if hops, _ := opt.Hops(); len(hops) != 2 || hops[0].Interface != 0x12 || hops[1].Interface != 0x23 {
		t.Errorf("MCDs %+v, want r1's (0x12) then r2's (0x23)", hops)
	}
	if string(sent[40:40+ioamEnd]) != string(got[40:40+ioamEnd]) {
		t.Errorf("the options before the PT option changed: % x became % x", sent[40:40+ioamEnd], got[40:40+ioamEnd])
	}
}
