package probes

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/oam/srh"
)

// SRHBytes builds the routing header the kernel expects for the sticky IPV6_RTHDR option of type
// 4 (SetRoutingHeader; the per-datagram control message accepts no type 4): Segment List[0] is a placeholder the kernel replaces with the socket's destination (the
// final segment), Segment List[n−1] the first SID, Segments Left n−1. The kernel fills in the
// next header. oam/srh encodes it.
func SRHBytes(final netip.Addr, segments []netip.Addr) ([]byte, error) {
	if !final.Is6() || final.Is4In6() {
		return nil, fmt.Errorf("segment list: final segment %v is not IPv6", final)
	}
	path := append(append(make([]netip.Addr, 0, len(segments)+1), segments...), final)
	for i, s := range segments {
		if !s.Is6() || s.Is4In6() {
			return nil, fmt.Errorf("segment list: segment %d (%v) is not IPv6", i, s)
		}
	}
	h := srh.SRH{Segments: path, SegmentsLeft: uint8(min(len(path)-1, 255))}
	b, err := h.AppendBinary(nil)
	if err != nil {
		return nil, fmt.Errorf("segment list: %w", err)
	}
	return b, nil
}

// SetSRH makes every datagram conn sends go through segments, then to its destination (the
// SRH's final segment, which the kernel writes per datagram).
func SetSRH(conn *net.UDPConn, final netip.Addr, segments []netip.Addr) error {
	rthdr, err := SRHBytes(final, segments)
	if err != nil {
		return err
	}
	return SetRoutingHeader(conn, rthdr)
}

// SetRoutingHeader sets the sticky IPV6_RTHDR option of conn to rthdr (SRHBytes; nil removes
// it). No capability is needed.
func SetRoutingHeader(conn *net.UDPConn, rthdr []byte) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("attach SRH: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RTHDR, string(rthdr)) // "" removes it
	}); err != nil {
		return fmt.Errorf("attach SRH: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("attach SRH (setsockopt IPV6_RTHDR): %w", serr)
	}
	return nil
}
