package probes

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/srv6oam/srv6oam/oam"
)

func TestPreflight(t *testing.T) {
	a := netip.MustParseAddr
	sysctls := map[string]string{"ipv6/conf/all/seg6_enabled": "0", "ipv6/conf/eth0/seg6_enabled": "1"}
	read := func(path string) (string, error) { return sysctls[path], nil }
	target := oam.Target{Segments: oam.SegmentList{a("fc00:0:2::e")}, Destination: a("fc00:0:4::1")}
	got := Preflight{Target: target, ReturnsToSelf: true, Interface: "eth0", sysctl: read}.Check()
	if len(got) != 1 || !strings.Contains(got[0], "net.ipv6.conf.all.seg6_enabled is 0") || !strings.Contains(got[0], "sysctl -w net.ipv6.conf.all.seg6_enabled=1") {
		t.Errorf("%q", got)
	}
	sysctls["ipv6/conf/all/seg6_enabled"] = "1"
	if got := (Preflight{Target: target, ReturnsToSelf: true, Interface: "eth0", sysctl: read}).Check(); len(got) != 0 {
		t.Errorf("seg6 on: %q", got)
	}
	if got := (Preflight{Target: target, Interface: "eth0", sysctl: read}).Check(); len(got) != 0 {
		t.Errorf("probes that do not come back: %q", got)
	}
	// A SID structure that does not read the list's containers.
	usid := oam.Target{Segments: oam.SegmentList{a("fcbb:0:0:400:300::")}, Destination: a("cafe::2"), Decap: true}
	got = Preflight{Target: usid, Structure: oam.USID, Interface: "eth0", sysctl: read}.Check()
	if len(got) != 1 || !strings.Contains(got[0], "does not read as a container") {
		t.Errorf("%q", got)
	}
	// Per-segment through what reads as a uSID container, with no structure: one line; not for
	// a full SID (fc00:0:2::e has a zero C-SID before a non-zero one), nor with the structure.
	box := oam.Target{Segments: oam.SegmentList{a("fc00:0:2::e"), a("fcbb:0:400:300:200:d46::")}, Destination: a("cafe::2"), Decap: true}
	got = Preflight{Target: box, PerSegment: true, Interface: "eth0", sysctl: read}.Check()
	if len(got) != 1 || !strings.Contains(got[0], "segment 2 fcbb:0:400:300:200:d46:: reads as a container of 4 uSIDs (32/16)") {
		t.Errorf("per-segment through a container: %q", got)
	}
	if got := (Preflight{Target: box, PerSegment: true, Structure: oam.USID, Interface: "eth0", sysctl: read}).Check(); len(got) != 1 || strings.Contains(got[0], "reads as a container") {
		t.Errorf("per-segment with the structure: %q (only fc00:0:2::e's line)", got)
	}
}
