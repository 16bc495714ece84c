package srh_test

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/srv6oam/srv6oam/oam/srh"
)

// goldenFrames returns the kernel-made frames in testdata/golden, the fuzz seeds.
func goldenFrames(f *testing.F) [][]byte {
	paths, err := filepath.Glob(filepath.Join("testdata", "golden", "*.pcap"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no golden packets: %v", err)
	}
	var frames [][]byte
	for _, p := range paths {
		frames = append(frames, readPcap(f, p)...)
	}
	return frames
}

// FuzzDecode feeds SRH bytes to DecodeFromBytes: it must never panic; whatever it accepts
// serializes back to exactly the same bytes and decodes again to the same fields, and the
// typed TLV decoders survive every TLV it finds.
func FuzzDecode(f *testing.F) {
	for _, frame := range goldenFrames(f) {
		f.Add(frame[14+40:]) // Ethernet + IPv6: the SRH and what follows
	}
	reg := srh.DefaultRegistry()
	probe := reg.ProbeTLV(srh.Probe{Session: 1})
	slots, _ := reg.SlotsTLV(2)
	seed := &srh.SRH{NextHeader: 58, SegmentsLeft: 1, Segments: []netip.Addr{segA, segB}, TLVs: []srh.TLV{probe, slots}}
	if err := seed.Sign(segA, srh.HMACKey{ID: 1, Algorithm: srh.HMACSHA256, Secret: []byte("s")}); err != nil {
		f.Fatal(err)
	}
	f.Add(serialize(f, true, seed))
	f.Add(wire(58, 3, 0, 0, 0, 0, []netip.Addr{segA}, 4, 5, 0, 0, 0, 0, 0, 0))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		var s srh.SRH
		if err := s.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
			return
		}
		for _, tlv := range s.TLVs {
			_ = reg.Validate(tlv)
		}
		_ = reg.Check(&s)
		if sl, err := reg.Slots(&s); err == nil {
			for i := -1; i <= sl.Len(); i++ {
				_, _ = sl.Slot(i)
			}
		}
		_, _ = s.ActiveSegment()
		_ = s.VerifyHMAC(segA, srh.HMACKey{ID: 1, Algorithm: srh.HMACSHA1})

		buf := gopacket.NewSerializeBuffer()
		if err := s.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
			// Only a header that is valid for Linux but not for our writer may fail: an HMAC
			// TLV that is not last.
			return
		}
		if !bytes.Equal(buf.Bytes(), s.Contents) {
			t.Fatalf("re-serialized\n%x\nwant\n%x", buf.Bytes(), s.Contents)
		}
		var again srh.SRH
		if err := again.DecodeFromBytes(buf.Bytes(), gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("decode of our own output: %v", err)
		}
		if again.NextHeader != s.NextHeader || again.HdrExtLen != s.HdrExtLen || again.SegmentsLeft != s.SegmentsLeft ||
			again.LastEntry != s.LastEntry || again.Flags != s.Flags || again.Tag != s.Tag ||
			!slices.Equal(again.Segments, s.Segments) || len(again.TLVs) != len(s.TLVs) {
			t.Fatalf("unstable: %+v then %+v", s, again)
		}
	})
}

// FuzzPacket feeds whole Ethernet frames to gopacket.NewPacket with Register's dispatch: no
// panic anywhere in IPv6 → SRH → inner layers.
func FuzzPacket(f *testing.F) {
	for _, frame := range goldenFrames(f) {
		f.Add(frame)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		if s, ok := p.Layer(srh.LayerTypeSRH).(*srh.SRH); ok && len(s.Segments) == 0 {
			t.Fatalf("decoded an SRH without segments: %+v", s)
		}
	})
}
