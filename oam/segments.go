package oam

import (
	"fmt"
	"net/netip"
	"strings"
)

// SegmentList is an SRv6 segment list in the order the packet visits it: element 0 is the first
// segment (the outer destination address on the wire), the last element the final segment. The
// SRH stores the same list reversed (RFC 8754 §2); oam/srh converts.
type SegmentList []netip.Addr

// ParseSegmentList parses a comma-separated list of IPv6 addresses ("fc00:1::e,fc00:2::e").
// The error names the element that is not an IPv6 address, counting from 1.
func ParseSegmentList(s string) (SegmentList, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("segment list is empty")
	}
	parts := strings.Split(s, ",")
	segs := make(SegmentList, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		a, err := ParseSegment(p)
		if err != nil {
			return nil, fmt.Errorf("segment %d of %d: %w", i+1, len(parts), err)
		}
		segs = append(segs, a)
	}
	return segs, nil
}

// ParseSegment parses one segment: an IPv6 address, not IPv4, not IPv4-mapped, without zone.
func ParseSegment(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv6 address", s)
	}
	if !a.Is6() || a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv6 address (SRv6 segments are IPv6)", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q: a segment cannot carry a zone", s)
	}
	if a.IsUnspecified() || a.IsMulticast() {
		return netip.Addr{}, fmt.Errorf("%q cannot be a segment (unspecified or multicast)", s)
	}
	return a, nil
}

// String joins the segments with " → ", the way srv6-ping prints a path.
func (l SegmentList) String() string {
	var b strings.Builder
	for i, a := range l {
		if i > 0 {
			b.WriteString(" → ")
		}
		b.WriteString(a.String())
	}
	return b.String()
}

// Target is what a prober probes: a final destination reached through an optional segment list.
// With no segments the probe is a plain IPv6 packet to Destination.
type Target struct {
	// Segments are the segments visited before Destination, in visiting order. Destination is
	// appended as the final segment when the packet is built; it is not repeated here.
	Segments SegmentList
	// Destination is the final destination (the last segment on the wire, unless Decap).
	Destination netip.Addr
	// Decap says that the last of Segments decapsulates (an End.DT6/End.DX6 SID) and
	// Destination is reached after it as plain IPv6, not as a segment: the packet a Linux
	// headend builds for `ip route add Destination encap seg6 mode encap segs Segments`.
	Decap bool
}

// Path is the full segment list on the wire in visiting order: Segments then Destination, or
// Segments alone with Decap.
func (t Target) Path() SegmentList {
	if t.Decap {
		return append(SegmentList(nil), t.Segments...)
	}
	p := make(SegmentList, 0, len(t.Segments)+1)
	p = append(p, t.Segments...)
	return append(p, t.Destination)
}

// FirstHop is the address the packet is first sent to: the first segment, or Destination.
func (t Target) FirstHop() netip.Addr {
	if len(t.Segments) > 0 {
		return t.Segments[0]
	}
	return t.Destination
}

// String prints "fc00:4::1 via fc00:1::e → fc00:2::e", or the destination alone.
func (t Target) String() string {
	if len(t.Segments) == 0 {
		return t.Destination.String()
	}
	return t.Destination.String() + " via " + t.Segments.String()
}
