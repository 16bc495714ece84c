package probes

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrPermission is wrapped by Dial when the process may not open raw sockets.
var ErrPermission = errors.New("raw IPv6 sockets need CAP_NET_RAW: run as root, or grant it with `setcap cap_net_raw+ep <binary>`")

// ErrNoRoute is wrapped when the kernel has no route toward the first hop.
var ErrNoRoute = errors.New("no route")

// Config says how to open a Conn.
type Config struct {
	// Interface binds both sockets to one interface (SO_BINDTODEVICE); empty for none.
	Interface string
	// TxTimestamps asks the kernel for software TX timestamps (SO_TIMESTAMPING); read them back
	// with ReadTxTimestamps. Off, Send only returns the user-space clock.
	TxTimestamps bool
	// ICMPTypes lets these ICMPv6 types through the socket's ICMPv6 filter; nil for the default
	// (echo reply and the four error types).
	ICMPTypes []uint8
	// RoutingHeader asks for the routing header each received packet came with
	// (IPV6_RECVRTHDR, in Received.RoutingHeader): timestamped probes come back with their
	// filled slots there.
	RoutingHeader bool
	// HopByHop asks for the Hop-by-Hop header each received packet came with
	// (IPV6_RECVHOPOPTS, in Received.HopByHop): Path Tracing probes come back with their MCD
	// stack there.
	HopByHop bool
	// Tap, when set, sees every packet sent (just before it is handed to the kernel, so a
	// packet the kernel then refuses is in the capture too) and received (for --pcap).
	Tap Tap
}

// Tap receives a copy of every packet, as a full IPv6 packet. Calls come from the goroutines
// that call Send and Receive, so an implementation shared between them must lock.
type Tap interface {
	Packet(t time.Time, ipv6 []byte)
}

// PacketConn is what an engine needs of the network, the seam between probing logic and the
// kernel: send whole IPv6 packets, receive ICMPv6 messages with the kernel's receive timestamp,
// read back the kernel's TX timestamps of what was sent. *Conn is the real one; package
// probetest has a scripted one that answers like a network, for tests without root.
type PacketConn interface {
	// Send sends one whole IPv6 packet toward firstHop (see Conn.Send).
	Send(pkt []byte, firstHop netip.Addr) (SendInfo, error)
	// Receive blocks until a message arrives, the deadline passes (an error wrapping
	// os.ErrDeadlineExceeded; the zero time waits for ever) or the PacketConn is closed
	// (net.ErrClosed). r's slices are valid until the next Receive.
	Receive(deadline time.Time, r *Received) error
	// ReadTxTimestamps hands fn the TX timestamps waiting, without blocking.
	ReadTxTimestamps(fn func(key uint32, t time.Time)) error
	// Close releases the sockets; a blocked Receive returns net.ErrClosed.
	Close() error
}

var _ PacketConn = (*Conn)(nil)

// Conn is a pair of raw sockets: one that sends whole IPv6 packets (IPV6_HDRINCL), one that
// receives ICMPv6. Send and Receive may be called from different goroutines; Send is not
// safe for concurrent use by several goroutines, nor is Receive.
type Conn struct {
	sendFile *os.File
	sendFD   int
	recvFile *os.File
	recvRC   syscall.RawConn
	cfg      Config
	closed   atomic.Bool

	// Send state, reused (0 allocations per packet).
	dst     unix.RawSockaddrInet6
	sendMsg unix.Msghdr
	sendIov unix.Iovec
	txKey   uint32
	// sendPktinfo is an IPV6_PKTINFO control message whose address Send fills in.
	sendPktinfo [40]byte

	// TX timestamp reading state.
	errMsg unix.Msghdr
	errOob [512]byte

	// Receive state, reused.
	rx     *rxState // Receive's
	rxFn   func(fd uintptr) bool
	tapBuf []byte
	// try is TryReceive's state, made at its first call.
	try *rxState
}

// Dial opens the sockets. The error wraps ErrPermission when CAP_NET_RAW is missing.
func Dial(cfg Config) (*Conn, error) { return open(cfg, true) }

// Listen opens the receive socket only: a Conn that cannot Send (the socket returning
// timestamped probes).
func Listen(cfg Config) (*Conn, error) { return open(cfg, false) }

func open(cfg Config, send bool) (*Conn, error) {
	c := &Conn{cfg: cfg, sendFD: -1}
	sendFD := -1
	if send {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return nil, socketError("open raw IPv6 send socket", err)
		}
		sendFD = fd
		c.sendFD = fd
		c.sendFile = os.NewFile(uintptr(fd), "srv6oam-raw6-send")
	}
	recvFD, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
	if err != nil {
		if c.sendFile != nil {
			c.sendFile.Close()
		}
		return nil, socketError("open raw ICMPv6 receive socket", err)
	}
	c.recvFile = os.NewFile(uintptr(recvFD), "srv6oam-icmp6-recv")
	if err := c.setup(sendFD, recvFD); err != nil {
		c.Close()
		return nil, err
	}
	rc, err := c.recvFile.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("receive socket: %w", err)
	}
	c.recvRC = rc
	c.rx = newRxState()
	c.rxFn = c.recvOnce
	c.sendMsg.Name = (*byte)(unsafe.Pointer(&c.dst))
	c.sendMsg.Namelen = unix.SizeofSockaddrInet6
	c.sendMsg.Iov = &c.sendIov
	c.sendMsg.Iovlen = 1
	c.dst.Family = unix.AF_INET6
	ch := (*unix.Cmsghdr)(unsafe.Pointer(&c.sendPktinfo[0]))
	ch.Level, ch.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
	ch.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
	c.errMsg.Control = &c.errOob[0]
	return c, nil
}

func socketError(what string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%s: %w", what, ErrPermission)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (c *Conn) setup(sendFD, recvFD int) error {
	if c.cfg.Interface != "" {
		if err := unix.SetsockoptString(recvFD, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, c.cfg.Interface); err != nil {
			return fmt.Errorf("bind to interface %s: %w", c.cfg.Interface, err)
		}
	}
	if c.cfg.RoutingHeader {
		if err := unix.SetsockoptInt(recvFD, unix.IPPROTO_IPV6, unix.IPV6_RECVRTHDR, 1); err != nil {
			return fmt.Errorf("enable IPV6_RECVRTHDR: %w", err)
		}
	}
	if c.cfg.HopByHop {
		if err := unix.SetsockoptInt(recvFD, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPOPTS, 1); err != nil {
			return fmt.Errorf("enable IPV6_RECVHOPOPTS: %w", err)
		}
	}
	if sendFD >= 0 {
		if err := c.setupSend(sendFD); err != nil {
			return err
		}
	}
	return c.setupRecv(recvFD)
}

func (c *Conn) setupSend(sendFD int) error {
	// IPPROTO_RAW implies IPV6_HDRINCL on Linux; say it anyway so that the intent is explicit.
	if err := unix.SetsockoptInt(sendFD, unix.IPPROTO_IPV6, unix.IPV6_HDRINCL, 1); err != nil {
		return fmt.Errorf("set IPV6_HDRINCL: %w", err)
	}
	if c.cfg.Interface != "" {
		if err := unix.SetsockoptString(sendFD, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, c.cfg.Interface); err != nil {
			return fmt.Errorf("bind to interface %s: %w", c.cfg.Interface, err)
		}
	}
	if c.cfg.TxTimestamps {
		flags := unix.SOF_TIMESTAMPING_TX_SOFTWARE | unix.SOF_TIMESTAMPING_SOFTWARE |
			unix.SOF_TIMESTAMPING_OPT_ID | unix.SOF_TIMESTAMPING_OPT_TSONLY
		if err := unix.SetsockoptInt(sendFD, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, flags); err != nil {
			return fmt.Errorf("enable SO_TIMESTAMPING TX software timestamps: %w", err)
		}
	}
	// A large send buffer lets a burst of probes queue instead of failing with ENOBUFS.
	_ = unix.SetsockoptInt(sendFD, unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
	return nil
}

func (c *Conn) setupRecv(recvFD int) error {
	_ = unix.SetsockoptInt(recvFD, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)

	if err := unix.SetsockoptInt(recvFD, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fmt.Errorf("enable SO_TIMESTAMPNS receive timestamps: %w", err)
	}
	for _, opt := range []struct {
		name string
		opt  int
	}{
		{"IPV6_RECVHOPLIMIT", unix.IPV6_RECVHOPLIMIT},
		{"IPV6_RECVPKTINFO", unix.IPV6_RECVPKTINFO},
		{"IPV6_RECVTCLASS", unix.IPV6_RECVTCLASS},
		{"IPV6_FLOWINFO", ipv6FlowInfo},
	} {
		if err := unix.SetsockoptInt(recvFD, unix.IPPROTO_IPV6, opt.opt, 1); err != nil {
			return fmt.Errorf("enable %s: %w", opt.name, err)
		}
	}
	types := c.cfg.ICMPTypes
	if types == nil {
		types = []uint8{ICMPv6EchoReply, ICMPv6DestUnreachable, ICMPv6PacketTooBig, ICMPv6TimeExceeded, ICMPv6ParamProblem}
	}
	// struct icmp6_filter: 256 bits, a set bit blocks that type.
	var filter [32]byte
	for i := range filter {
		filter[i] = 0xff
	}
	for _, t := range types {
		// The kernel tests bit (type & 31) of 32-bit word (type >> 5), in host order.
		word := int(t >> 5)
		v := binary.NativeEndian.Uint32(filter[word*4:])
		v &^= 1 << (t & 31)
		binary.NativeEndian.PutUint32(filter[word*4:], v)
	}
	if err := unix.SetsockoptString(recvFD, unix.IPPROTO_ICMPV6, unix.ICMPV6_FILTER, string(filter[:])); err != nil {
		return fmt.Errorf("set ICMPV6_FILTER: %w", err)
	}
	return nil
}

// Close closes both sockets; a Receive blocked in another goroutine returns. Closing again does
// nothing.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	var errs []error
	if c.sendFile != nil {
		errs = append(errs, c.sendFile.Close())
	}
	if c.recvFile != nil {
		errs = append(errs, c.recvFile.Close())
	}
	return errors.Join(errs...)
}

// SendInfo is what Send tells about a packet that left.
type SendInfo struct {
	// Key identifies the packet's TX timestamp in ReadTxTimestamps (SOF_TIMESTAMPING_OPT_ID).
	Key uint32
	// UserTime is CLOCK_REALTIME read just before sendmsg.
	UserTime time.Time
}

// Send sends one whole IPv6 packet (header included) toward firstHop, which the kernel uses for
// the route lookup; it should equal the packet's destination address. It does not allocate.
func (c *Conn) Send(pkt []byte, firstHop netip.Addr) (SendInfo, error) {
	if c.sendFile == nil {
		return SendInfo{}, errors.New("send: this socket only receives (probes.Listen)")
	}
	c.dst.Addr = firstHop.As16()
	c.sendIov.Base = &pkt[0]
	c.sendIov.SetLen(len(pkt))
	// The packet's source as IPV6_PKTINFO: the kernel's route lookup then takes it instead of
	// selecting a source address for every packet (which it does not use: the header is ours),
	// and a rule or route by source applies to the probe as it would to the traffic it stands
	// for. A source not local to the host is refused with EINVAL: then the packet goes without.
	withSource := len(pkt) >= 40
	if withSource {
		copy(c.sendPktinfo[unix.CmsgLen(0):], pkt[8:24])
		c.sendMsg.Control = &c.sendPktinfo[0]
		c.sendMsg.SetControllen(len(c.sendPktinfo))
	}
	if c.cfg.Tap != nil {
		// Before the send: on veth the reply can be received (and tapped by Receive) before
		// sendmsg even returns, and the capture should stay in order.
		c.cfg.Tap.Packet(time.Now(), pkt)
	}
	for tries := 0; ; tries++ {
		now := time.Now()
		_, _, errno := unix.Syscall(unix.SYS_SENDMSG, uintptr(c.sendFD), uintptr(unsafe.Pointer(&c.sendMsg)), 0)
		if errno == 0 {
			info := SendInfo{Key: c.txKey, UserTime: now}
			c.txKey++
			return info, nil
		}
		if errno == unix.EINVAL && withSource {
			withSource = false
			c.sendMsg.Control = nil
			c.sendMsg.SetControllen(0)
			continue
		}
		if (errno == unix.EAGAIN || errno == unix.ENOBUFS) && tries < 1000 {
			// The send buffer is full: wait until it drains a little.
			fds := [1]unix.PollFd{{Fd: int32(c.sendFD), Events: unix.POLLOUT}}
			_, _ = unix.Poll(fds[:], 10)
			continue
		}
		return SendInfo{}, sendError(firstHop, errno)
	}
}

func sendError(firstHop netip.Addr, errno unix.Errno) error {
	switch errno {
	case unix.ENETUNREACH, unix.EHOSTUNREACH:
		return fmt.Errorf("send to %s: %w to %s (%v)", firstHop, ErrNoRoute, firstHop, errno)
	case unix.EPERM, unix.EACCES:
		return fmt.Errorf("send to %s: %w (or a firewall rule rejected the packet)", firstHop, errno)
	}
	return fmt.Errorf("send to %s: %w", firstHop, errno)
}

// ReadTxTimestamps hands every software TX timestamp waiting in the send socket's error queue
// to fn, without blocking. Keys count the packets sent since Dial, as SendInfo.Key does.
func (c *Conn) ReadTxTimestamps(fn func(key uint32, t time.Time)) error {
	if !c.cfg.TxTimestamps || c.sendFile == nil {
		return nil
	}
	for {
		c.errMsg.SetControllen(len(c.errOob))
		c.errMsg.Name = nil
		c.errMsg.Namelen = 0
		_, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(c.sendFD), uintptr(unsafe.Pointer(&c.errMsg)),
			unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if errno == unix.EAGAIN {
			return nil
		}
		if errno != 0 {
			return fmt.Errorf("read TX timestamps: %w", errno)
		}
		var ts time.Time
		key, haveKey := uint32(0), false
		WalkCmsgs(c.errOob[:c.errMsg.Controllen], func(level, typ int32, data []byte) {
			switch {
			case level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPING && len(data) >= 16:
				// struct scm_timestamping: ts[0] is the software timestamp.
				sec := int64(binary.NativeEndian.Uint64(data[0:]))
				nsec := int64(binary.NativeEndian.Uint64(data[8:]))
				ts = time.Unix(sec, nsec)
			case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_RECVERR && len(data) >= 16:
				// struct sock_extended_err: errno u32, origin u8, type u8, code u8, pad u8, info u32, data u32.
				if data[4] == unix.SO_EE_ORIGIN_TIMESTAMPING {
					key = binary.NativeEndian.Uint32(data[12:])
					haveKey = true
				}
			}
		})
		if haveKey && !ts.IsZero() {
			fn(key, ts)
		}
	}
}

// Received is one ICMPv6 message read by Receive. Its slices point into the Conn's buffers and
// are valid until the next Receive.
type Received struct {
	// ICMPv6 is the ICMPv6 message (header first); the raw socket strips the IPv6 header.
	ICMPv6   []byte
	From     netip.Addr
	To       netip.Addr
	HopLimit int
	// Time is the kernel receive timestamp (SO_TIMESTAMPNS), or the user clock when the kernel
	// gave none (TimeFromKernel false).
	Time           time.Time
	TimeFromKernel bool
	TrafficClass   uint8
	FlowLabel      uint32
	// RoutingHeader is the routing header the packet arrived with, on a socket that asks for
	// it (IPV6_RECVRTHDR: the socket returning timestamped probes); nil otherwise.
	RoutingHeader []byte
	// HopByHop is the Hop-by-Hop header the packet arrived with, on a socket that asks for it
	// (IPV6_RECVHOPOPTS); nil otherwise.
	HopByHop []byte
}

// Receive blocks until an ICMPv6 message passes the socket filter, the deadline passes (an
// error wrapping os.ErrDeadlineExceeded) or the Conn is closed (net.ErrClosed).
func (c *Conn) Receive(deadline time.Time, r *Received) error {
	if err := c.recvFile.SetReadDeadline(deadline); err != nil {
		return fmt.Errorf("set receive deadline: %w", err)
	}
	if err := c.recvRC.Read(c.rxFn); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return net.ErrClosed
		}
		return err
	}
	if st := c.rx; st.errno != 0 {
		return fmt.Errorf("receive ICMPv6: %w", st.errno)
	}
	c.fill(r, c.rx)
	if c.cfg.Tap != nil {
		c.tapBuf = AppendIPv6Header(c.tapBuf[:0], r)
		c.tapBuf = append(c.tapBuf, r.ICMPv6...)
		c.cfg.Tap.Packet(r.Time, c.tapBuf)
	}
	return nil
}

// TryReceive is Receive without waiting, for a goroutine other than Receive's: it reports false
// when no message is waiting. It has buffers of its own (r's slices are valid until its next
// call) and reads the socket directly, beside a Receive parked in the runtime's poller: a loop
// that sends can take its answers between sends instead of waiting for the reader goroutine to
// be scheduled. It is not available with a Tap (whose writer expects one goroutine).
func (c *Conn) TryReceive(r *Received) (bool, error) {
	if c.cfg.Tap != nil {
		return false, errors.New("TryReceive: not with a Tap")
	}
	t := c.try
	if t == nil {
		t = newRxState()
		t.fn = func(fd uintptr) { t.recv(fd, unix.MSG_DONTWAIT) }
		c.try = t
	}
	// Control holds the descriptor open for the call: a Close meanwhile waits for it.
	if err := c.recvRC.Control(t.fn); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return false, net.ErrClosed
		}
		return false, err
	}
	switch t.errno {
	case 0:
	case unix.EAGAIN, unix.EINTR:
		return false, nil
	default:
		return false, fmt.Errorf("receive ICMPv6: %w", t.errno)
	}
	c.fill(r, t)
	return true, nil
}

// rxState is a receiver's reused state: Receive's, and TryReceive's apart.
type rxState struct {
	msg   unix.Msghdr
	iov   unix.Iovec
	name  unix.RawSockaddrInet6
	oob   [2880]byte // room for an IPV6_RTHDR of up to 2048 bytes and a Hop-by-Hop header of 264
	buf   [65536]byte
	n     int
	errno unix.Errno
	fn    func(fd uintptr) // TryReceive's Control callback, made once (no allocation per call)
}

func newRxState() *rxState {
	st := &rxState{}
	st.msg.Name = (*byte)(unsafe.Pointer(&st.name))
	st.msg.Iov = &st.iov
	st.msg.Iovlen = 1
	st.iov.Base = &st.buf[0]
	st.iov.SetLen(len(st.buf))
	st.msg.Control = &st.oob[0]
	return st
}

// recv reads one message with recvmsg(2) and flags.
func (st *rxState) recv(fd uintptr, flags int) {
	st.msg.Namelen = unix.SizeofSockaddrInet6
	st.msg.SetControllen(len(st.oob))
	n, _, errno := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&st.msg)), uintptr(flags))
	st.n, st.errno = int(n), errno
}

// fill makes r of the message st received: its bytes, its source, its ancillary data.
func (c *Conn) fill(r *Received, st *rxState) {
	*r = Received{ICMPv6: st.buf[:st.n], HopLimit: -1}
	r.From = netip.AddrFrom16(st.name.Addr)
	WalkCmsgs(st.oob[:st.msg.Controllen], func(level, typ int32, data []byte) {
		switch {
		case level == unix.SOL_SOCKET && typ == unix.SO_TIMESTAMPNS && len(data) >= 16:
			r.Time = time.Unix(int64(binary.NativeEndian.Uint64(data)), int64(binary.NativeEndian.Uint64(data[8:])))
			r.TimeFromKernel = true
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_HOPLIMIT && len(data) >= 4:
			r.HopLimit = int(int32(binary.NativeEndian.Uint32(data)))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO && len(data) >= 16:
			r.To = netip.AddrFrom16([16]byte(data[:16]))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_TCLASS && len(data) >= 4:
			r.TrafficClass = uint8(binary.NativeEndian.Uint32(data))
		case level == unix.IPPROTO_IPV6 && typ == ipv6FlowInfo && len(data) >= 4:
			r.FlowLabel = binary.BigEndian.Uint32(data) & 0xfffff
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_RTHDR:
			r.RoutingHeader = data
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_HOPOPTS:
			r.HopByHop = data
		}
	})
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
}

// recvOnce is the RawConn read callback; it reports false ("not ready") on EAGAIN so that the
// runtime poller parks the goroutine.
func (c *Conn) recvOnce(fd uintptr) bool {
	c.rx.recv(fd, 0)
	return c.rx.errno != unix.EAGAIN
}

// AppendIPv6Header rebuilds the IPv6 header of a received message from the ancillary data (the
// raw socket does not return it); extension headers of the received packet are not known.
func AppendIPv6Header(b []byte, r *Received) []byte {
	var h [40]byte
	h[0] = 6<<4 | r.TrafficClass>>4
	h[1] = r.TrafficClass<<4 | uint8(r.FlowLabel>>16)
	binary.BigEndian.PutUint16(h[2:], uint16(r.FlowLabel))
	binary.BigEndian.PutUint16(h[4:], uint16(len(r.ICMPv6)))
	h[6] = 58
	if r.HopLimit >= 0 {
		h[7] = uint8(r.HopLimit)
	}
	src, dst := r.From.As16(), r.To.As16()
	copy(h[8:], src[:])
	copy(h[24:], dst[:])
	return append(b, h[:]...)
}

// WalkCmsgs calls fn for each well-formed control message in oob (the ancillary data of one
// recvmsg) and stops at the first truncated one. It does not allocate when fn does not escape.
func WalkCmsgs(oob []byte, fn func(level, typ int32, data []byte)) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return
		}
		fn(h.Level, h.Type, oob[unix.SizeofCmsghdr:l])
		next := unix.CmsgSpace(l - unix.SizeofCmsghdr)
		if next > len(oob) {
			return
		}
		oob = oob[next:]
	}
}

// SourceFor returns the source address the kernel would choose for a packet to dst, optionally
// out of one interface, by connecting a UDP socket (nothing is sent). The error wraps ErrNoRoute
// when the kernel has no route to dst.
func SourceFor(ctx context.Context, dst netip.Addr, iface string) (netip.Addr, error) {
	d := net.Dialer{}
	if iface != "" {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface)
			})
			if err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("bind to interface %s: %w", iface, serr)
			}
			return nil
		}
	}
	conn, err := d.DialContext(ctx, "udp6", netip.AddrPortFrom(dst, 9).String())
	if err != nil {
		if errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) {
			return netip.Addr{}, fmt.Errorf("%w to %s (see `ip -6 route get %s`)", ErrNoRoute, dst, dst)
		}
		return netip.Addr{}, fmt.Errorf("choose a source address toward %s: %w", dst, err)
	}
	defer conn.Close()
	ap, err := netip.ParseAddrPort(conn.LocalAddr().String())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("choose a source address toward %s: %w", dst, err)
	}
	return ap.Addr().Unmap().WithZone(""), nil
}

// CheckLocal returns nil when src is an address of this host (of the calling thread's network
// namespace), by binding a throwaway UDP socket to it. Probes are crafted with IPV6_HDRINCL, so
// the kernel never checks their source: without this a source the host does not have would be
// sent, spoofed, and its answers would go elsewhere. The check is the kernel's own for a bind,
// as iputils ping's bind of its socket to -I: a tentative address fails, and
// net.ipv6.ip_nonlocal_bind=1 lets any address pass. The error wraps the bind's errno
// (EADDRNOTAVAIL for an address this host does not have).
func CheckLocal(src netip.Addr) error {
	c, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)))
	if err != nil {
		var se *os.SyscallError
		if errors.As(err, &se) {
			return fmt.Errorf("bind: %w", se.Err)
		}
		return err
	}
	return c.Close()
}

// ipv6FlowInfo is IPV6_FLOWINFO from linux/in6.h (x/sys/unix lacks it): as a socket option it
// asks for the flow label of received packets as an IPV6_FLOWINFO control message.
const ipv6FlowInfo = 11

// RouteMTU is the MTU the kernel would send with toward dst (through iface when not empty): the
// route's, or a smaller path MTU it learnt from a Packet Too Big (IPV6_MTU of a connected
// socket, as tracepath starts from).
func RouteMTU(ctx context.Context, dst netip.Addr, iface string) (int, error) {
	d := net.Dialer{}
	if iface != "" {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	conn, err := d.DialContext(ctx, "udp6", netip.AddrPortFrom(dst, 9).String())
	if err != nil {
		if errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) {
			return 0, fmt.Errorf("%w to %s (see `ip -6 route get %s`)", ErrNoRoute, dst, dst)
		}
		return 0, fmt.Errorf("route MTU toward %s: %w", dst, err)
	}
	defer conn.Close()
	rc, err := conn.(*net.UDPConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	mtu, serr := 0, error(nil)
	if err := rc.Control(func(fd uintptr) { mtu, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MTU) }); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, fmt.Errorf("route MTU toward %s (getsockopt IPV6_MTU): %w", dst, serr)
	}
	return mtu, nil
}
