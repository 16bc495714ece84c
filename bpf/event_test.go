package bpf

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/srv6oam/srv6oam/oam/srh"
)

func eventSample(capture []byte) []byte {
	b := make([]byte, EventSize+len(capture)+4)
	sid := netip.MustParseAddr("fc00:0:2::b0").As16()
	copy(b[0:], sid[:])
	to := netip.MustParseAddr("fc00:0:1::1").As16()
	copy(b[16:], to[:])
	le := binary.LittleEndian
	le.PutUint64(b[32:], 1234)
	le.PutUint64(b[40:], 1000)
	le.PutUint32(b[48:], 7)
	le.PutUint32(b[52:], 8)
	le.PutUint32(b[56:], 3)
	le.PutUint32(b[60:], 2)
	le.PutUint32(b[64:], 160)
	le.PutUint16(b[68:], 9999)
	le.PutUint16(b[70:], uint16(len(capture)))
	b[72], b[73], b[74] = 1, srh.ProbeReport|srh.ProbeCapture, 1
	copy(b[EventSize:], capture)
	return b
}

func TestDecodeEvent(t *testing.T) {
	var ev Event
	if err := DecodeEvent(eventSample([]byte{0x60, 0, 0, 1}), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.SID != netip.MustParseAddr("fc00:0:2::b0") || ev.ReportTo != netip.MustParseAddr("fc00:0:1::1") ||
		ev.TimestampNs != 1234 || ev.SenderTxNs != 1000 || ev.Session != 7 || ev.Sequence != 8 || ev.IngressIfindex != 3 ||
		ev.NodeID != 2 || ev.PacketLen != 160 || ev.ReportPort != 9999 || ev.SegmentsLeft != 1 ||
		ev.ProbeFlags != srh.ProbeReport|srh.ProbeCapture || !ev.SlotWritten || string(ev.Capture) != "\x60\x00\x00\x01" {
		t.Errorf("decoded %+v", ev)
	}
	if err := DecodeEvent(make([]byte, EventSize-1), &ev); err == nil {
		t.Error("short sample decoded")
	}
	bad := eventSample(nil)
	binary.LittleEndian.PutUint16(bad[70:], 100)
	if err := DecodeEvent(bad, &ev); err == nil {
		t.Error("capture_len beyond the sample decoded")
	}
}

// The Go layout of struct oam_event that bpf2go generated must match what DecodeEvent reads.
func TestEventSizeMatchesC(t *testing.T) {
	spec, err := LoadEndOAM()
	if err != nil {
		t.Fatal(err)
	}
	typ, err := spec.Types.AnyTypeByName("oam_event")
	if err != nil {
		t.Fatal(err)
	}
	if size, err := btf.Sizeof(typ); err != nil || size != EventSize {
		t.Errorf("struct oam_event is %d bytes (%v), DecodeEvent assumes %d", size, err, EventSize)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add(eventSample(nil))
	f.Add(eventSample([]byte{1, 2, 3}))
	f.Add(make([]byte, EventSize))
	f.Fuzz(func(t *testing.T, sample []byte) {
		var ev Event
		if err := DecodeEvent(sample, &ev); err != nil {
			return
		}
		if len(ev.Capture) > len(sample)-EventSize {
			t.Fatalf("capture of %d bytes from a %d-byte sample", len(ev.Capture), len(sample))
		}
	})
}
