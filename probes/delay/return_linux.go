package delay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
)

// returnConn receives the probes that come back to the prober: a raw ICMPv6 socket that lets
// only Echo Requests through, with the kernel's receive timestamp (SO_TIMESTAMPNS) and the
// routing header the probe arrived with (IPV6_RECVRTHDR): its slots hold every End.OAM's
// timestamp in-band. (A raw ICMPv6 socket strips the IPv6 header and its extension headers;
// the routing header comes back only as this control message.)
type returnConn struct {
	file *os.File
	rc   syscall.RawConn
	msg  unix.Msghdr
	iov  unix.Iovec
	name unix.RawSockaddrInet6
	oob  [2048]byte
	buf  [65536]byte
	n    int
	oobn int
	err  error
	fn   func(fd uintptr) bool
}

func listenReturn(iface string) (*returnConn, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("open raw ICMPv6 socket for returning probes: %w", probes.ErrPermission)
		}
		return nil, fmt.Errorf("open raw ICMPv6 socket for returning probes: %w", err)
	}
	c := &returnConn{file: os.NewFile(uintptr(fd), "srv6oam-delay-return")}
	if err := c.setup(fd, iface); err != nil {
		c.file.Close()
		return nil, err
	}
	if c.rc, err = c.file.SyscallConn(); err != nil {
		c.file.Close()
		return nil, fmt.Errorf("returning probes socket: %w", err)
	}
	c.msg.Name = (*byte)(unsafe.Pointer(&c.name))
	c.msg.Iov = &c.iov
	c.msg.Iovlen = 1
	c.iov.Base = &c.buf[0]
	c.iov.SetLen(len(c.buf))
	c.msg.Control = &c.oob[0]
	c.fn = c.recvOnce
	return c, nil
}

func (c *returnConn) setup(fd int, iface string) error {
	if iface != "" {
		if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface); err != nil {
			return fmt.Errorf("bind to interface %s: %w", iface, err)
		}
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fmt.Errorf("enable SO_TIMESTAMPNS receive timestamps: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVRTHDR, 1); err != nil {
		return fmt.Errorf("enable IPV6_RECVRTHDR: %w", err)
	}
	// struct icmp6_filter: a set bit blocks the type; pass Echo Request only.
	var filter [32]byte
	for i := range filter {
		filter[i] = 0xff
	}
	t := probes.ICMPv6EchoRequest
	word := int(t >> 5)
	binary.NativeEndian.PutUint32(filter[word*4:], binary.NativeEndian.Uint32(filter[word*4:])&^(1<<(t&31)))
	if err := unix.SetsockoptString(fd, unix.IPPROTO_ICMPV6, unix.ICMPV6_FILTER, string(filter[:])); err != nil {
		return fmt.Errorf("set ICMPV6_FILTER: %w", err)
	}
	return nil
}

var _ probes.PacketConn = (*returnConn)(nil)

func (c *returnConn) Close() error { return c.file.Close() }

// Send: the socket of returning probes only receives.
func (c *returnConn) Send([]byte, netip.Addr) (probes.SendInfo, error) {
	return probes.SendInfo{}, errors.New("the socket of returning probes does not send")
}

// ReadTxTimestamps: nothing is sent on this socket.
func (c *returnConn) ReadTxTimestamps(func(uint32, time.Time)) error { return nil }

// Receive blocks until a probe comes back, the deadline passes or the socket is closed
// (net.ErrClosed); r.RoutingHeader is the routing header it came with.
func (c *returnConn) Receive(deadline time.Time, r *probes.Received) error {
	if err := c.file.SetReadDeadline(deadline); err != nil {
		return fmt.Errorf("set receive deadline: %w", err)
	}
	c.err = nil
	if err := c.rc.Read(c.fn); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return net.ErrClosed
		}
		return err
	}
	if c.err != nil {
		return fmt.Errorf("receive returning probe: %w", c.err)
	}
	*r = probes.Received{ICMPv6: c.buf[:c.n], From: netip.AddrFrom16(c.name.Addr), HopLimit: -1}
	probes.WalkCmsgs(c.oob[:c.oobn], func(level, typ int32, data []byte) {
		switch {
		case level == unix.SOL_SOCKET && typ == unix.SO_TIMESTAMPNS && len(data) >= 16:
			r.Time = time.Unix(int64(binary.NativeEndian.Uint64(data)), int64(binary.NativeEndian.Uint64(data[8:])))
			r.TimeFromKernel = true
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_RTHDR:
			r.RoutingHeader = data
		}
	})
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	return nil
}

func (c *returnConn) recvOnce(fd uintptr) bool {
	c.msg.Namelen = unix.SizeofSockaddrInet6
	c.msg.SetControllen(len(c.oob))
	n, _, errno := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&c.msg)), 0)
	if errno == unix.EAGAIN {
		return false
	}
	if errno != 0 {
		c.err = errno
		return true
	}
	c.n, c.oobn = int(n), int(c.msg.Controllen)
	return true
}

// parseReturn reads the Probe TLV and the Timestamp Slots TLV from the routing header a
// returning probe carried. It returns the slots TLV's value (aliasing rthdr); errors name what is
// wrong.
func parseReturn(reg srh.Registry, rthdr []byte) (srh.Probe, []byte, error) {
	var h srh.SRH
	if err := h.DecodeFromBytes(rthdr, gopacket.NilDecodeFeedback); err != nil {
		return srh.Probe{}, nil, fmt.Errorf("routing header of a returning probe: %w", err)
	}
	p, err := reg.Probe(&h)
	if err != nil {
		return srh.Probe{}, nil, fmt.Errorf("returning probe: %w", err)
	}
	t, ok := h.FindTLV(reg.SlotsType)
	if !ok {
		return srh.Probe{}, nil, fmt.Errorf("returning probe: timestamp slots TLV (type %d): %w", reg.SlotsType, srh.ErrNoTLV)
	}
	if _, err := srh.ParseSlots(t.Value); err != nil {
		return srh.Probe{}, nil, fmt.Errorf("returning probe: %w", err)
	}
	return p, t.Value, nil
}
