package srh_test

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/srv6oam/srv6oam/oam/srh"
)

// goldenCase is what the commands in testdata/golden/<name>.cmd (written by
// scripts/golden-srh.sh) asked the kernel for; the kernel's packet must decode to exactly this.
type goldenCase struct {
	name       string
	nextHeader layers.IPProtocol
	segLeft    uint8
	lastEntry  uint8
	flags      uint8
	segments   []string // travel order
	reduced    bool
	hmac       *srh.HMACKey
	innerDst   string // encap modes: the inner packet's destination
}

var goldenSrc = netip.MustParseAddr("2001:db8:ab::1")

var goldenCases = []goldenCase{
	{name: "encap", nextHeader: layers.IPProtocolIPv6, segLeft: 2, lastEntry: 2,
		segments: []string{"2001:db8:5::1", "2001:db8:5::2", "2001:db8:5::3"}, innerDst: "2001:db8:d1::1"},
	// inline appends the packet's original destination as the final segment.
	{name: "inline", nextHeader: layers.IPProtocolICMPv6, segLeft: 2, lastEntry: 2,
		segments: []string{"2001:db8:5::1", "2001:db8:5::2", "2001:db8:d2::1"}},
	// encap.red leaves the first segment out of the list: it is only the outer destination.
	{name: "encap-red", nextHeader: layers.IPProtocolIPv6, segLeft: 2, lastEntry: 1, reduced: true,
		segments: []string{"2001:db8:5::2", "2001:db8:5::3"}, innerDst: "2001:db8:d3::1"},
	{name: "encap-hmac-sha256", nextHeader: layers.IPProtocolIPv6, segLeft: 1, lastEntry: 1, flags: srh.FlagHMAC,
		segments: []string{"2001:db8:5::1", "2001:db8:5::2"}, innerDst: "2001:db8:d4::1",
		hmac: &srh.HMACKey{ID: 7, Algorithm: srh.HMACSHA256, Secret: []byte("srv6oam-golden-sha256")}},
	{name: "inline-hmac-sha1", nextHeader: layers.IPProtocolICMPv6, segLeft: 3, lastEntry: 3, flags: srh.FlagHMAC,
		segments: []string{"2001:db8:5::1", "2001:db8:5::2", "2001:db8:5::3", "2001:db8:d5::1"},
		hmac:     &srh.HMACKey{ID: 8, Algorithm: srh.HMACSHA1, Secret: []byte("srv6oam-golden-sha1")}},
}

func readPcap(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var pkts [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return pkts
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		pkts = append(pkts, data)
	}
}

// checkGolden decodes one kernel-made packet and compares it field by field with the case.
// It returns the SRH bytes.
func checkGolden(t *testing.T, c goldenCase, frame []byte) []byte {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("decode: %v", el.Error())
	}
	outer := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	l := p.Layer(srh.LayerTypeSRH)
	if l == nil {
		t.Fatalf("no SRH layer in %v", p.Layers())
	}
	s := l.(*srh.SRH)
	want := make([]netip.Addr, len(c.segments))
	for i, a := range c.segments {
		want[i] = netip.MustParseAddr(a)
	}
	check := func(field string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", field, got, want)
		}
	}
	check("Next Header", s.NextHeader, c.nextHeader)
	check("Segments Left", s.SegmentsLeft, c.segLeft)
	check("Last Entry", s.LastEntry, c.lastEntry)
	check("Flags", s.Flags, c.flags)
	check("Tag", s.Tag, uint16(0))
	check("Hdr Ext Len", int(s.HdrExtLen), (len(s.Contents)/8)-1)
	check("Reduced", s.Reduced(), c.reduced)
	if !slices.Equal(s.Segments, want) {
		t.Errorf("Segments = %v, want %v", s.Segments, want)
	}
	// The outer destination is the active segment; in a reduced SRH the omitted first one.
	if active, ok := s.ActiveSegment(); ok {
		check("active segment = IPv6 destination", active.String(), netip.AddrFrom16([16]byte(outer.DstIP)).String())
	} else {
		check("reduced: IPv6 destination is the first segment", netip.AddrFrom16([16]byte(outer.DstIP)).String(), "2001:db8:5::1")
	}
	check("outer source", netip.AddrFrom16([16]byte(outer.SrcIP)), goldenSrc)

	if c.hmac != nil {
		check("TLVs", len(s.TLVs), 1)
		if err := s.VerifyHMAC(goldenSrc, *c.hmac); err != nil {
			t.Errorf("the kernel's HMAC does not verify with our computation: %v", err)
		}
		if err := srh.DefaultRegistry().Check(s); err != nil {
			t.Errorf("Check: %v", err)
		}
		// A different secret must not verify: the check above is not vacuous.
		wrong := *c.hmac
		wrong.Secret = append([]byte("x"), wrong.Secret...)
		if err := s.VerifyHMAC(goldenSrc, wrong); err == nil {
			t.Error("HMAC verifies with a wrong secret")
		}
	} else {
		check("TLVs", len(s.TLVs), 0)
	}

	switch c.nextHeader {
	case layers.IPProtocolIPv6:
		ips := []*layers.IPv6{}
		for _, l := range p.Layers() {
			if ip, ok := l.(*layers.IPv6); ok {
				ips = append(ips, ip)
			}
		}
		if len(ips) != 2 {
			t.Fatalf("want an inner IPv6 header, layers %v", p.Layers())
		}
		check("inner destination", netip.AddrFrom16([16]byte(ips[1].DstIP)).String(), c.innerDst)
	case layers.IPProtocolICMPv6:
		// The kernel summed the ICMPv6 checksum over the final segment (the original
		// destination), as RFC 8200 §8.1 says and as SRH.ChecksumLayer does.
		icmp := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		final, _ := s.FinalSegment()
		upper := append(append([]byte{}, icmp.Contents...), icmp.Payload...)
		check("ICMPv6 checksum over the final segment", inetChecksum(goldenSrc, final, 58, upper), uint16(0))
	}
	if p.Layer(layers.LayerTypeICMPv6Echo) == nil {
		t.Errorf("no ICMPv6 echo behind the SRH: %v", p.Layers())
	}

	// Our serializer writes the kernel's header again byte for byte.
	again := serialize(t, true, s)
	if !bytes.Equal(again, s.Contents) {
		t.Errorf("re-serialized SRH\n%x\nkernel's\n%x", again, s.Contents)
	}
	return s.Contents
}

// TestGoldenKernelPackets decodes the packets the kernel built (stored in testdata/golden).
func TestGoldenKernelPackets(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			pkts := readPcap(t, filepath.Join("testdata", "golden", c.name+".pcap"))
			if len(pkts) != 1 {
				t.Fatalf("%d packets, want 1", len(pkts))
			}
			checkGolden(t, c, pkts[0])
		})
	}
}

// TestGoldenKernelLive runs scripts/golden-srh.sh against the running kernel and checks the
// fresh packets the same way; their SRHs must equal the stored ones byte for byte (HMACs
// included: same source, segments and keys).
func TestGoldenKernelLive(t *testing.T) {
	needLab(t, "dumpcap", "editcap", "setsid", "ping")
	dir := t.TempDir()
	cmd := exec.Command("../../scripts/golden-srh.sh", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("golden-srh.sh: %v\n%s", err, out)
	}
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			live := readPcap(t, filepath.Join(dir, c.name+".pcap"))
			stored := readPcap(t, filepath.Join("testdata", "golden", c.name+".pcap"))
			if len(live) != 1 || len(stored) != 1 {
				t.Fatalf("live %d, stored %d packets, want 1", len(live), len(stored))
			}
			a, b := checkGolden(t, c, live[0]), checkGolden(t, c, stored[0])
			if !bytes.Equal(a, b) {
				t.Errorf("live kernel SRH\n%x\nstored\n%x", a, b)
			}
		})
	}
}
