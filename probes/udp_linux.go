package probes

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Helpers for the UDP sockets of STAMP (the sender in probes/stamp and the reflector in
// bpf/agent): kernel receive timestamps, hop limit and destination of each datagram, and the
// source of a reply.

// OOBSize is enough room for the control messages EnableRXInfo asks for.
const OOBSize = 128

// OOBSizeHopByHop is enough room for those and a Hop-by-Hop header (EnableHopByHop): at most
// 2,048 bytes, its length field being one octet of 8-octet units.
var OOBSizeHopByHop = OOBSize + unix.CmsgSpace(2048)

// EnableRXInfo asks the kernel to attach to every datagram received on conn its receive time
// (SO_TIMESTAMPNS, CLOCK_REALTIME), hop limit (IPV6_RECVHOPLIMIT) and destination address
// (IPV6_RECVPKTINFO).
func EnableRXInfo(conn *net.UDPConn) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("enable receive timestamps: %w", err)
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		for _, o := range []struct {
			level, opt int
			name       string
		}{
			{unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, "SO_TIMESTAMPNS"},
			{unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, "IPV6_RECVHOPLIMIT"},
			{unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, "IPV6_RECVPKTINFO"},
		} {
			if e := unix.SetsockoptInt(int(fd), o.level, o.opt, 1); e != nil {
				serr = fmt.Errorf("setsockopt %s: %w", o.name, e)
				return
			}
		}
	})
	if err != nil {
		return fmt.Errorf("enable receive timestamps: %w", err)
	}
	return serr
}

// RXInfo is what the kernel said about one received datagram.
type RXInfo struct {
	RealtimeNs int64      // SO_TIMESTAMPNS; 0 when absent
	HopLimit   int        // -1 when absent
	Dst        netip.Addr // the address the datagram was sent to; invalid when absent
	Ifindex    int
	// TClass is the traffic class (DSCP and ECN) the datagram came with, on a socket
	// EnableTClass asked for it; -1 when absent.
	TClass int
	// HopByHop is the Hop-by-Hop header the datagram came with, on a socket EnableHopByHop
	// asked for it (nil without one). It aliases the control-message buffer.
	HopByHop []byte
}

// TAINs is the receive time on CLOCK_TAI, given the TAI offset (TAIOffset).
func (r *RXInfo) TAINs(taiOffset time.Duration) int64 { return r.RealtimeNs + int64(taiOffset) }

// ParseRXInfo reads the control messages of one datagram into info without allocating.
func ParseRXInfo(oob []byte, info *RXInfo) {
	*info = RXInfo{HopLimit: -1, TClass: -1}
	WalkCmsgs(oob, func(level, typ int32, data []byte) {
		switch {
		case level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS && len(data) >= 16:
			sec := int64(binary.NativeEndian.Uint64(data[0:]))
			nsec := int64(binary.NativeEndian.Uint64(data[8:]))
			info.RealtimeNs = sec*1e9 + nsec
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_HOPLIMIT && len(data) >= 4:
			info.HopLimit = int(int32(binary.NativeEndian.Uint32(data)))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_TCLASS && len(data) >= 4:
			info.TClass = int(int32(binary.NativeEndian.Uint32(data)))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO && len(data) >= 20:
			info.Dst = netip.AddrFrom16([16]byte(data[0:16]))
			info.Ifindex = int(binary.NativeEndian.Uint32(data[16:]))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_HOPOPTS && len(data) >= 8 && len(data) >= 8*(int(data[1])+1):
			info.HopByHop = data[:8*(int(data[1])+1)]
		}
	})
}

// PktinfoSize is the size of the control message AppendPktinfo writes.
var PktinfoSize = unix.CmsgSpace(unix.SizeofInet6Pktinfo)

// AppendPktinfo appends an IPV6_PKTINFO control message that makes a datagram leave from src
// (and, with ifindex ≠ 0, through that interface): a reply then comes from the address its
// request was sent to, whichever address of the node that was.
func AppendPktinfo(b []byte, src netip.Addr, ifindex int) []byte {
	start := len(b)
	for range PktinfoSize {
		b = append(b, 0) // no allocation when b has room
	}
	m := b[start:]
	h := (*unix.Cmsghdr)(unsafe.Pointer(&m[0]))
	h.Level = unix.IPPROTO_IPV6
	h.Type = unix.IPV6_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
	a := src.As16()
	copy(m[unix.SizeofCmsghdr:], a[:])
	binary.NativeEndian.PutUint32(m[unix.SizeofCmsghdr+16:], uint32(ifindex))
	return b
}

// EnableTClass asks the kernel to attach the traffic class of every datagram received on conn
// (IPV6_RECVTCLASS; RXInfo.TClass). OOBSize has room for it.
func EnableTClass(conn *net.UDPConn) error {
	return setsockopt(conn, "IPV6_RECVTCLASS", func(fd int) error {
		return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVTCLASS, 1)
	})
}

// TClassSize is the size of the control message AppendTClass writes.
var TClassSize = unix.CmsgSpace(4)

// AppendTClass appends an IPV6_TCLASS control message that gives one datagram the traffic
// class tc (DSCP << 2 | ECN).
func AppendTClass(b []byte, tc int) []byte {
	start := len(b)
	for range TClassSize {
		b = append(b, 0)
	}
	m := b[start:]
	h := (*unix.Cmsghdr)(unsafe.Pointer(&m[0]))
	h.Level = unix.IPPROTO_IPV6
	h.Type = unix.IPV6_TCLASS
	h.SetLen(unix.CmsgLen(4))
	binary.NativeEndian.PutUint32(m[unix.SizeofCmsghdr:], uint32(int32(tc)))
	return b
}

// EnableHopByHop asks the kernel to attach the Hop-by-Hop header of every datagram received on
// conn (IPV6_RECVHOPOPTS; RXInfo.HopByHop): where an IOAM trace travels. Read with a
// control-message buffer of OOBSizeHopByHop.
func EnableHopByHop(conn *net.UDPConn) error {
	return setsockopt(conn, "IPV6_RECVHOPOPTS", func(fd int) error {
		return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPOPTS, 1)
	})
}

// SetHopByHop makes every datagram conn sends carry the Hop-by-Hop header hbh (the sticky
// IPV6_HOPOPTS option; the kernel fills in its next header); nil removes it. Linux asks for
// CAP_NET_RAW.
func SetHopByHop(conn *net.UDPConn, hbh []byte) error {
	return setsockopt(conn, "IPV6_HOPOPTS", func(fd int) error {
		if hbh == nil {
			return unix.SetsockoptString(fd, unix.IPPROTO_IPV6, unix.IPV6_HOPOPTS, "")
		}
		return unix.SetsockoptString(fd, unix.IPPROTO_IPV6, unix.IPV6_HOPOPTS, string(hbh))
	})
}

func setsockopt(conn *net.UDPConn, name string, set func(fd int) error) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("setsockopt %s: %w", name, err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = set(int(fd)) }); err != nil {
		return fmt.Errorf("setsockopt %s: %w", name, err)
	}
	if serr != nil {
		return fmt.Errorf("setsockopt %s: %w", name, serr)
	}
	return nil
}

// AppendHopOpts appends an IPV6_HOPOPTS control message that makes one datagram carry the
// Hop-by-Hop header hbh (a whole header, its length a multiple of 8; the kernel fills in its
// next header). Linux asks for CAP_NET_RAW.
func AppendHopOpts(b []byte, hbh []byte) []byte {
	start := len(b)
	for range unix.CmsgSpace(len(hbh)) {
		b = append(b, 0)
	}
	m := b[start:]
	h := (*unix.Cmsghdr)(unsafe.Pointer(&m[0]))
	h.Level = unix.IPPROTO_IPV6
	h.Type = unix.IPV6_HOPOPTS
	h.SetLen(unix.CmsgLen(len(hbh)))
	copy(m[unix.SizeofCmsghdr:], hbh)
	return b
}
