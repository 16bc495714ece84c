package stamp

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/probes"
)

// OOBSize is enough room for the control messages EnableRXInfo asks for.
const OOBSize = 128

// TAINow reads CLOCK_TAI in nanoseconds.
func TAINow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_TAI, &ts); err != nil {
		return 0 // CLOCK_TAI exists since Linux 3.10; never fails there
	}
	return ts.Nano()
}

// TAIOffset is the kernel's TAI − UTC offset in seconds, from adjtimex(2).
func TAIOffset() (int64, error) {
	var tx unix.Timex
	if _, err := unix.Adjtimex(&tx); err != nil {
		return 0, fmt.Errorf("adjtimex: %w", err)
	}
	return int64(tx.Tai), nil
}

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

// TAINs is the receive time on CLOCK_TAI, given the TAI offset in seconds.
func (r *RXInfo) TAINs(taiOffset int64) int64 { return r.RealtimeNs + taiOffset*1e9 }

// ParseRXInfo reads the control messages of one datagram into info without allocating.
func ParseRXInfo(oob []byte, info *RXInfo) {
	*info = RXInfo{HopLimit: -1}
	probes.WalkCmsgs(oob, func(level, typ int32, data []byte) {
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

// SRHBytes builds the routing header the kernel expects for the sticky IPV6_RTHDR option of type
// 4: Segment List[0] is a placeholder the kernel replaces with the socket's destination (the
// final segment), Segment List[n−1] the first SID, Segments Left n−1. The kernel fills in the
// next header.
func SRHBytes(final netip.Addr, segments []netip.Addr) ([]byte, error) {
	n := len(segments) + 1
	if n > 128 { // hdrlen is 2n and must fit in a byte
		return nil, fmt.Errorf("segment list: %d segments, at most 127 before the final one", len(segments))
	}
	if !final.Is6() || final.Is4In6() {
		return nil, fmt.Errorf("segment list: final segment %v is not IPv6", final)
	}
	b := make([]byte, 8+16*n)
	b[1] = byte(2 * n) // Hdr Ext Len in 8-octet units, not counting the first 8
	b[2] = 4           // Routing Type: SRH
	b[3] = byte(n - 1) // Segments Left
	b[4] = byte(n - 1) // Last Entry
	f := final.As16()
	copy(b[8:], f[:])
	for i, s := range segments {
		if !s.Is6() || s.Is4In6() {
			return nil, fmt.Errorf("segment list: segment %d (%v) is not IPv6", i, s)
		}
		a := s.As16()
		copy(b[8+16*(n-1-i):], a[:])
	}
	return b, nil
}

func setSRH(conn *net.UDPConn, final netip.Addr, segments []netip.Addr) error {
	srh, err := SRHBytes(final, segments)
	if err != nil {
		return err
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("attach SRH: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RTHDR, string(srh))
	}); err != nil {
		return fmt.Errorf("attach SRH: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("attach SRH (setsockopt IPV6_RTHDR): %w", serr)
	}
	return nil
}
