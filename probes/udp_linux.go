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
}

// TAINs is the receive time on CLOCK_TAI, given the TAI offset (TAIOffset).
func (r *RXInfo) TAINs(taiOffset time.Duration) int64 { return r.RealtimeNs + int64(taiOffset) }

// ParseRXInfo reads the control messages of one datagram into info without allocating.
func ParseRXInfo(oob []byte, info *RXInfo) {
	*info = RXInfo{HopLimit: -1}
	WalkCmsgs(oob, func(level, typ int32, data []byte) {
		switch {
		case level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS && len(data) >= 16:
			sec := int64(binary.NativeEndian.Uint64(data[0:]))
			nsec := int64(binary.NativeEndian.Uint64(data[8:]))
			info.RealtimeNs = sec*1e9 + nsec
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_HOPLIMIT && len(data) >= 4:
			info.HopLimit = int(int32(binary.NativeEndian.Uint32(data)))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO && len(data) >= 20:
			info.Dst = netip.AddrFrom16([16]byte(data[0:16]))
			info.Ifindex = int(binary.NativeEndian.Uint32(data[16:]))
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
