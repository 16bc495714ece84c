package probes

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/srv6oam/srv6oam/oam"
)

// Preflight is what a run is about to do, for the checks that say before it sends anything what
// would make it meaningless.
type Preflight struct {
	Target    oam.Target
	Encoding  Encoding
	Structure oam.SIDStructure
	// ReturnsToSelf: the probes come back to this host with an SRH (loop-back probes of
	// per-segment probing and of timestamped probes: the host is their final segment).
	ReturnsToSelf bool
	// PerSegment: every segment is probed on its own, so a container must be known as one
	// (Structure) for its C-SIDs to be.
	PerSegment bool
	// Interface the probes leave by ("" : the route's).
	Interface string
	// sysctl reads a sysctl under /proc/sys/net (a seam for tests); nil reads the file.
	sysctl func(path string) (string, error)
}

// Check returns one line for each thing found that would make the run meaningless or
// misleading, each saying what to do about it; nothing when all is well. It reads this host's
// state only: what depends on the remote nodes the run will show (the quoted packets say it).
func (p Preflight) Check() []string {
	var out []string
	read := p.sysctl
	if read == nil {
		read = func(path string) (string, error) {
			b, err := os.ReadFile(filepath.Join("/proc/sys/net", path))
			return strings.TrimSpace(string(b)), err
		}
	}
	if p.ReturnsToSelf {
		ifaces := []string{"all"}
		if dev := p.Interface; dev != "" {
			ifaces = append(ifaces, dev)
		} else if dev := routeDevice(p.Target.FirstHop()); dev != "" {
			ifaces = append(ifaces, dev)
		}
		var off, fix []string
		for _, d := range ifaces {
			if v, err := read("ipv6/conf/" + d + "/seg6_enabled"); err == nil && v == "0" {
				off = append(off, "net.ipv6.conf."+d+".seg6_enabled")
				fix = append(fix, "net.ipv6.conf."+d+".seg6_enabled=1")
			}
		}
		if len(off) > 0 {
			verb := "is"
			if len(off) > 1 {
				verb = "are"
			}
			out = append(out, fmt.Sprintf("the probes come back to this host with an SRH, which Linux drops here: %s %s 0 (sysctl -w %s)",
				strings.Join(off, " and "), verb, strings.Join(fix, " ")))
		}
	}
	if p.PerSegment && p.Structure.IsZero() {
		for i, seg := range p.Target.Segments {
			if n := len(oam.USID.CSIDs(seg)); n > 1 && oam.USID.IsContainer(seg) {
				out = append(out, fmt.Sprintf("segment %d %s reads as a container of %d uSIDs (%s): it is probed as one segment; --sid-structure %s (or --segs in the compact form) probes each uSID",
					i+1, seg, n, oam.USID, oam.USID))
			}
		}
	}
	if s := p.Structure; !s.IsZero() {
		for i, seg := range p.Target.Path() {
			if i == len(p.Target.Path())-1 && !p.Target.Decap {
				break // the destination is not a SID
			}
			if !s.IsContainer(seg) && s.Block(seg) == s.Block(p.Target.FirstHop()) {
				out = append(out, fmt.Sprintf("segment %d %s does not read as a container of the SID structure %s (block /%d, C-SIDs of %d bits): check --sid-structure",
					i+1, seg, s, s.BlockBits, s.CSIDBits))
			}
		}
	}
	return out
}

// routeDevice names the interface the kernel's route toward dst leaves by, "" when unknown.
func routeDevice(dst netip.Addr) string {
	routes, err := netlink.RouteGet(net.IP(dst.AsSlice()))
	if err != nil || len(routes) == 0 || routes[0].LinkIndex == 0 {
		return ""
	}
	l, err := netlink.LinkByIndex(routes[0].LinkIndex)
	if err != nil {
		return ""
	}
	return l.Attrs().Name
}
