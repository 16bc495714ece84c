package oam_test

import (
	"net/netip"
	"testing"

	"github.com/srv6oam/srv6oam/oam"
)

var a = netip.MustParseAddr

func TestParseCompressed(t *testing.T) {
	for _, c := range []struct {
		in   string
		bits int
		want []string
		s    oam.SIDStructure
	}{
		{"fcbb:0::/32 0400,0300,0200,d46", 0, []string{"fcbb:0:400:300:200:d46::"}, oam.USID},
		{"fcbb:0::/32{0400,0300}", 0, []string{"fcbb:0:400:300::"}, oam.USID},
		{"fcbb:0::/32 1,2,3,4,5,6,7", 16, []string{"fcbb:0:1:2:3:4:5:6", "fcbb:0:7::"}, oam.USID},
		{"fc00:0:1::/48 0100,0200", 0, []string{"fc00:0:1:100:200::"}, oam.SIDStructure{BlockBits: 48, CSIDBits: 16}},
		{"fcbb::/32 00010002,3", 0, []string{"fcbb:0:1:2:0:3::"}, oam.SIDStructure{BlockBits: 32, CSIDBits: 32}},
	} {
		got, s, err := oam.ParseCompressed(c.in, c.bits)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if s != c.s || len(got) != len(c.want) {
			t.Errorf("%q: %v %v, want %v %v", c.in, got, s, c.want, c.s)
			continue
		}
		for i := range got {
			if got[i] != a(c.want[i]) {
				t.Errorf("%q: container %d %v, want %v", c.in, i, got[i], c.want[i])
			}
		}
	}
	for _, bad := range []string{"fcbb:0::/32", "fcbb:0::/32 ", "fcbb:0::/33 0400", "fcbb:0::1/32 0400", "fcbb:0::/32 0400,zz",
		"fcbb:0::/32 0,1", "10.0.0.0/8 1", "fcbb:0::/32{0400", "fcbb:0::/32 10000"} {
		if _, _, err := oam.ParseCompressed(bad, 0); err == nil && bad != "fcbb:0::/32 10000" {
			t.Errorf("%q accepted", bad)
		}
	}
	// A C-SID wider than the structure says.
	if _, _, err := oam.ParseCompressed("fcbb:0::/32 10000", 16); err == nil {
		t.Error("a 17-bit C-SID accepted as 16 bits")
	}
}

func TestSIDStructure(t *testing.T) {
	s := oam.USID
	c := a("fcbb:0:400:300:200:d46::")
	if got := s.Shift(c); got != a("fcbb:0:300:200:d46::") {
		t.Errorf("shift: %v", got)
	}
	if got := s.Shift(a("fcbb:0:1:2:3:4:5:6")); got != a("fcbb:0:2:3:4:5:6:0") {
		t.Errorf("shift of a full container: %v", got)
	}
	if got := s.CSIDs(c); len(got) != 4 || got[0] != 0x400 || got[3] != 0xd46 {
		t.Errorf("C-SIDs %x", got)
	}
	if got := s.CSIDAddr(s.Block(c), 0x300); got != a("fcbb:0:300::") {
		t.Errorf("C-SID address %v", got)
	}
	if !s.IsContainer(c) || s.IsContainer(a("fcbb:0:0:300::")) || s.IsContainer(a("fcbb:0:400:0:200::")) {
		t.Error("IsContainer")
	}
	for _, in := range []string{"32/16", "lblen=32,nflen=16", " 32 / 16 "} {
		if got, err := oam.ParseSIDStructure(in); err != nil || got != oam.USID {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"32", "32/0", "17/16", "120/16", "lblen=32", "x/16", "lblen=32,foo=1"} {
		if _, err := oam.ParseSIDStructure(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Locate reads the quotes of the cases issue 13 reported wrong, among others.
func TestLocate(t *testing.T) {
	container := a("fcbb:0:400:300:200:d46::")
	cases := []struct {
		name    string
		path    []string
		s       oam.SIDStructure
		sentSRH bool
		q       oam.Quoted
		index   int
		csid    int
		value   uint64
		popped  bool
		infer   bool
	}{
		// One container, H.Encaps.Red: no SRH; rt-4 consumed 0400, the error is about 0300.
		{"usid after one shift", []string{container.String()}, oam.USID, false,
			oam.Quoted{Dst: a("fcbb:0:300:200:d46::")}, 0, 1, 0x300, false, false},
		{"usid before any shift", []string{container.String()}, oam.USID, false,
			oam.Quoted{Dst: container}, 0, 0, 0x400, false, false},
		{"unbound usid 0500", []string{"fcbb:0:400:500:200:d46::"}, oam.USID, false,
			oam.Quoted{Dst: a("fcbb:0:500:200:d46::")}, 0, 1, 0x500, false, false},
		{"usid without a structure: inferred", []string{container.String()}, oam.SIDStructure{}, false,
			oam.Quoted{Dst: a("fcbb:0:200:d46::")}, 0, 2, 0x200, false, true},
		// Full SRH: SL names the segment.
		{"full SRH", []string{"fc00:2::e", "fc00:3::e", "fc00:4::1"}, oam.SIDStructure{}, true,
			oam.Quoted{Dst: a("fc00:3::e"), HasSRH: true, SegmentsLeft: 1}, 1, -1, 0, false, false},
		// Reduced SRH before the first SID: SL = Last Entry + 1.
		{"reduced SRH at the first SID", []string{"fcff:3::e", "fcff:4::e", "fcff:2::d46"}, oam.SIDStructure{}, true,
			oam.Quoted{Dst: a("fcff:3::e"), HasSRH: true, SegmentsLeft: 2}, 0, -1, 0, false, false},
		// One SID, reduced: no SRH, the destination is the SID.
		{"one SID, no SRH", []string{"fcff:1::d46"}, oam.SIDStructure{}, false,
			oam.Quoted{Dst: a("fcff:1::d46")}, 0, -1, 0, false, false},
		// PSP popped the SRH at the penultimate SID: the destination is the final one.
		{"PSP popped", []string{"fcff:3::e", "fcff:4::ef1", "fcff:2::ef1", "cafe::2"}, oam.SIDStructure{}, true,
			oam.Quoted{Dst: a("cafe::2")}, 3, -1, 0, true, false},
		{"unknown destination", []string{"fcff:3::e"}, oam.SIDStructure{}, true,
			oam.Quoted{Dst: a("2001:db8::1")}, -1, -1, 0, true, false},
	}
	for _, c := range cases {
		var path oam.SegmentList
		for _, p := range c.path {
			path = append(path, a(p))
		}
		p := oam.Locate(path, c.s, oam.Sent{SRH: c.sentSRH}, c.q)
		if p.Index != c.index || p.CSID != c.csid || p.CSIDValue != c.value || p.Popped != c.popped || p.Inferred != c.infer {
			t.Errorf("%s: %+v, want index %d C-SID %d (%x) popped %v inferred %v", c.name, p, c.index, c.csid, c.value, c.popped, c.infer)
		}
	}
	// An encapsulated probe whose quote is its inner packet was decapsulated by the last segment.
	path := oam.SegmentList{a("fcff:3::e"), a("fcff:2::d46")}
	p := oam.Locate(path, oam.SIDStructure{}, oam.Sent{SRH: true, Encap: true}, oam.Quoted{Dst: a("cafe::2")})
	if !p.Decapsulated || p.Index != 1 || p.Popped {
		t.Errorf("inner packet quoted: %+v, want decapsulated at segment 2", p)
	}
	// Still encapsulated, SRH gone: popped, not decapsulated.
	p = oam.Locate(path, oam.SIDStructure{}, oam.Sent{SRH: true, Encap: true}, oam.Quoted{Dst: a("fcff:2::d46"), Encapsulated: true})
	if p.Decapsulated || !p.Popped || p.Index != 1 {
		t.Errorf("outer packet quoted without its SRH: %+v, want popped at segment 2", p)
	}
}

func FuzzParseCompressed(f *testing.F) {
	f.Add("fcbb:0::/32 0400,0300,0200,d46", 0)
	f.Add("fcbb:0::/32{1,2,3,4,5,6,7}", 16)
	f.Fuzz(func(t *testing.T, in string, bits int) {
		segs, s, err := oam.ParseCompressed(in, bits%130)
		if err != nil {
			return
		}
		for _, c := range segs {
			if !s.IsContainer(c) {
				t.Fatalf("%q: %v is not a container of %v", in, c, s)
			}
		}
	})
}
