package testnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The kernel has no sch_netem (nor fq/etf for EDT), so a delayed link
// A–B is built from two veth pairs whose middle ends ("l<i>a", "l<i>b") live
// in the lab's hidden namespace "s6t-<lab>-_relay":
//
//	A:to-B ══ l<i>a ─relay─ l<i>b ══ B:to-A
//
// For each direction a relay reads frames from one middle end with an
// AF_PACKET socket, takes the kernel's receive timestamp (SO_TIMESTAMPNS;
// veth hands a frame to its peer synchronously, so this is when A sent
// it), and writes the frame to the other middle end once the timestamp plus
// the configured delay has passed. The writer sleeps on a timerfd
// (TFD_TIMER_ABSTIME, CLOCK_REALTIME, the clock of the timestamps) until
// a spin margin (DefaultDelaySpin) before the deadline and spins the rest: Go's own timers round
// sub-millisecond sleeps up, and the wake-up latency of a shared 2-core
// machine is tens of microseconds. Every frame gets a DelayRecord.

// DefaultDelaySpin is how long before a frame's deadline the relay stops
// sleeping and spins on the clock (WithDelaySpin). It trades CPU for
// accuracy: a wake-up later than this makes the frame late, and at 1,000
// frames/s the relay spins up to DefaultDelaySpin×1000 of a core.
const DefaultDelaySpin = 500 * time.Microsecond

const (
	relayQueue   = 4096 // frames in flight per direction (at 1,000/s: 4 s of delay)
	recordHeadSz = 256  // bytes of each packet kept in its record
)

// DelayRecord is what the relay of a delay link did with one frame.
type DelayRecord struct {
	Seq      uint64 // per direction, from 0
	From, To string // direction: node names
	// Received is the kernel's receive timestamp of the frame on the
	// relay's ingress: when From transmitted it (CLOCK_REALTIME).
	Received time.Time
	// Sent is when the relay handed the frame to To (read just before
	// the write system call, CLOCK_REALTIME).
	Sent time.Time
	// Applied is Sent-Received: the delay this frame experienced.
	Applied time.Duration
	// Configured is the link's delay.
	Configured time.Duration
	// Woke is when the relay last woke up before sending the frame. For
	// a late frame, Sent-Woke tells a late wake-up (small: the kernel woke
	// the relay late) from a relay held up after waking (large).
	Woke time.Time
	// Hash identifies the packet: PacketHash of the Ethernet payload
	// (the IPv6 packet), which the link does not change.
	Hash uint64
	// Len is the frame length (Ethernet header included).
	Len int
	// HeadLen bytes of Head are the start of the IPv6 packet.
	Head    [recordHeadSz]byte
	HeadLen int
}

// Packet is the start of the IPv6 packet (up to 256 bytes).
func (r *DelayRecord) Packet() []byte { return r.Head[:r.HeadLen] }

// PacketHash is the identity a DelayRecord gives a packet: FNV-1a (64 bit)
// of the whole IPv6 packet, from its first header byte to its last.
func PacketHash(ipv6Packet []byte) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(ipv6Packet)
	return h.Sum64()
}

// fnv64a is PacketHash without the allocation of hash.Hash.
func fnv64a(b []byte) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for _, c := range b {
		h ^= uint64(c)
		h *= prime
	}
	return h
}

type frame struct {
	buf []byte
	n   int
	rx  int64 // kernel receive timestamp, ns since the epoch (CLOCK_REALTIME)
}

// relayDir is one direction of a delay link.
type relayDir struct {
	from, to string
	rxFD     int // AF_PACKET socket on the ingress middle end
	txFD     int // AF_PACKET socket on the egress middle end
	delay    time.Duration
	// frameSize is the largest frame (MTU + Ethernet header + VLAN tag).
	frameSize int
	queue     []frame // FIFO ring: the delay is constant, so frames leave in arrival order
	head, n   int

	// The records live in memory shared between the relay process
	// (writer) and the Lab (reader); see relayproc.go.
	hdr  *shmDirHeader
	recs []shmRecord
}

type delayLink struct {
	link *Link
	fds  [2]int
	dirs [2]*relayDir
}

func (dl *delayLink) close() {
	for _, fd := range dl.fds {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
}

func (b *builder) ensureRelayNS() (*netlink.Handle, error) {
	l := b.lab
	if l.relayNS >= 0 {
		return l.relayH, nil
	}
	ns, err := l.newNamespace(nsName(l.name, relayNode))
	if err != nil {
		return nil, fmt.Errorf("relay namespace: %w", err)
	}
	l.relayNS = ns
	if l.relayH, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE); err != nil {
		return nil, fmt.Errorf("relay namespace: netlink handle: %w", err)
	}
	// The middle ends must stay silent: no IPv6 of their own (no DAD, RS,
	// MLD) on the wire between A and B.
	if err := execIn(ns, func() error {
		return writeSysctls("ipv6/conf/all/disable_ipv6", "1", "ipv6/conf/default/disable_ipv6", "1")
	}); err != nil {
		return nil, fmt.Errorf("relay namespace: %w", err)
	}
	return l.relayH, nil
}

func (b *builder) delayLink(i int, lk *Link, na, nb *labNode, ifa, ifb *Interface, mtu int) error {
	l := b.lab
	rh, err := b.ensureRelayNS()
	if err != nil {
		return err
	}
	midA, midB := fmt.Sprintf("l%da", i+1), fmt.Sprintf("l%db", i+1)
	for _, v := range []struct {
		h          *netlink.Handle
		name, peer string
	}{{na.h, ifa.Name, midA}, {nb.h, ifb.Name, midB}} {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: v.name, MTU: mtu}, PeerName: v.peer,
			PeerNamespace: netlink.NsFd(l.relayNS), PeerMTU: uint32(mtu)}
		if err := v.h.LinkAdd(veth); err != nil {
			return fmt.Errorf("create veth %s/%s: %w", v.name, v.peer, err)
		}
	}
	// The relay copies frames as it reads them, so the nodes must hand
	// their ends finished frames: with TX checksum offload on, a locally
	// generated UDP or TCP packet (or one forwarded still unfinished from
	// another veth) leaves with its checksum to be completed
	// (CHECKSUM_PARTIAL), which no hardware ever completes here, and TSO
	// hands over segments of up to 64 KB. Without checksum offload the
	// kernel computes checksums and segments in software before the veth.
	for _, v := range []struct {
		n      *labNode
		ifname string
	}{{na, ifa.Name}, {nb, ifb.Name}} {
		if err := execIn(v.n.ns, func() error { return disableTxChecksum(v.ifname) }); err != nil {
			return fmt.Errorf("node %s: %w", v.n.node.Name, err)
		}
	}
	var idx [2]int
	for j, name := range []string{midA, midB} {
		link, err := rh.LinkByName(name)
		if err != nil {
			return fmt.Errorf("relay: find %s: %w", name, err)
		}
		if err := rh.LinkSetUp(link); err != nil {
			return fmt.Errorf("relay: set %s up: %w", name, err)
		}
		idx[j] = link.Attrs().Index
	}
	dl := &delayLink{link: lk, fds: [2]int{-1, -1}}
	l.relays = append(l.relays, dl) // from here Close releases the sockets
	if err := execIn(l.relayNS, func() error {
		for j := range idx {
			fd, err := packetSocket(idx[j])
			if err != nil {
				return err
			}
			dl.fds[j] = fd
		}
		return nil
	}); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	frameSize := mtu + 14 + 4
	for j := range dl.dirs {
		d := &relayDir{
			from: lk.A, to: lk.B, rxFD: dl.fds[0], txFD: dl.fds[1], delay: lk.Delay,
			frameSize: frameSize,
		}
		if j == 1 {
			d.from, d.to, d.rxFD, d.txFD = lk.B, lk.A, dl.fds[1], dl.fds[0]
		}
		dl.dirs[j] = d
	}
	return nil
}

// packetSocket opens an AF_PACKET socket bound to ifindex in the calling
// thread's namespace, with kernel receive timestamps, not seeing frames
// sent on the interface.
func packetSocket(ifindex int) (int, error) {
	proto := htons(unix.ETH_P_ALL)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return -1, fmt.Errorf("AF_PACKET socket: %w (needs CAP_NET_RAW)", err)
		}
		return -1, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	opts := []struct{ level, opt, val int }{
		{unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1},
		{unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1},
		{unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4 << 20},
		{unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4 << 20},
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.val); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("AF_PACKET setsockopt %d/%d: %w", o.level, o.opt, err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("AF_PACKET bind to ifindex %d: %w", ifindex, err)
	}
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// relayLoop runs every delay link of a lab on one OS thread: an epoll
// loop over the ingress sockets, a timerfd for the next deadline and an
// eventfd to stop. It blocks in epoll_pwait through RawSyscall, so the
// thread keeps its Go P while it waits: a Go scheduler that has handed the
// P to another goroutine would otherwise add up to a scheduling quantum
// (milliseconds on 2 busy cores) to the wake-up. The thread also asks for
// SCHED_FIFO so that other processes do not delay it; its spinning is
// bounded by the spin margin per frame.
type relayLoop struct {
	woke  int64 // when epoll_pwait last returned
	spin  time.Duration
	dirs  []*relayDir
	epfd  int
	tfd   int
	stopf int
}

// newRelayLoop watches dirs' ingress sockets and stopFD (readable or
// hung up: stop).
func newRelayLoop(dirs []*relayDir, stopFD int, spin time.Duration) (*relayLoop, error) {
	r := &relayLoop{epfd: -1, tfd: -1, stopf: stopFD, dirs: dirs, spin: spin}
	var err error
	if r.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("relay: epoll: %w", err)
	}
	if r.tfd, err = unix.TimerfdCreate(unix.CLOCK_REALTIME, unix.TFD_CLOEXEC|unix.TFD_NONBLOCK); err != nil {
		r.close()
		return nil, fmt.Errorf("relay: timerfd: %w", err)
	}
	add := func(fd int, tag int32) error {
		return unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLHUP, Fd: tag})
	}
	if err := add(r.tfd, -1); err != nil {
		r.close()
		return nil, fmt.Errorf("relay: epoll add timerfd: %w", err)
	}
	if err := add(r.stopf, -2); err != nil {
		r.close()
		return nil, fmt.Errorf("relay: epoll add stop: %w", err)
	}
	for i, d := range dirs {
		if err := add(d.rxFD, int32(i)); err != nil {
			r.close()
			return nil, fmt.Errorf("relay: epoll add socket: %w", err)
		}
		d.queue = make([]frame, relayQueue)
		for k := range d.queue {
			d.queue[k].buf = make([]byte, d.frameSize)
		}
	}
	return r, nil
}

func (r *relayLoop) close() {
	for _, fd := range []int{r.epfd, r.tfd} {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
}

func (r *relayLoop) run() {
	// Not locked to its thread: every thread of the relay process runs
	// SCHED_FIFO (realtimeAllThreads), and an unlocked goroutine that the
	// runtime preempts resumes at once on the same thread instead of
	// waiting for a P handoff between threads.
	events := make([]unix.EpollEvent, 16)
	oob := make([]byte, 128)
	var tick [8]byte
	const never = int64(1<<63 - 1)
	armed := int64(0) // timer target, 0: disarmed
	for {
		// Send what is due; find the next deadline.
		now := realtimeNow()
		next := never
		for _, d := range r.dirs {
			for d.n > 0 {
				f := &d.queue[d.head]
				due := f.rx + int64(d.delay)
				if due > now {
					next = min(next, due)
					break
				}
				d.send(f, now, r.woke)
				d.head = (d.head + 1) % len(d.queue)
				d.n--
				now = realtimeNow()
			}
		}
		// Within the spin margin of the next deadline, poll (timeout 0)
		// instead of sleeping: the loop keeps receiving frames and
		// watching for stop while it spins, so frames that arrive during
		// a long run of spinning are not left in the socket past their
		// deadline.
		timeout := -1
		switch {
		case next != never && next-now <= int64(r.spin):
			timeout = 0
		case next != never && armed != next-int64(r.spin):
			armed = next - int64(r.spin)
			spec := unix.ItimerSpec{Value: unix.NsecToTimespec(armed)}
			_, _, _ = unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(r.tfd), unix.TFD_TIMER_ABSTIME,
				uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
		}
		n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(r.epfd), uintptr(unsafe.Pointer(&events[0])),
			uintptr(len(events)), uintptr(timeout), 0, 0)
		if timeout != 0 {
			r.woke = realtimeNow()
		}
		if errno != 0 {
			if errno == unix.EINTR {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			switch ev.Fd {
			case -2:
				return
			case -1:
				_, _, _ = unix.RawSyscall(unix.SYS_READ, uintptr(r.tfd), uintptr(unsafe.Pointer(&tick[0])), 8)
				armed = 0
			default:
				r.dirs[ev.Fd].receive(oob)
			}
		}
	}
}

// receive drains the ingress socket into the queue.
func (d *relayDir) receive(oob []byte) {
	for {
		var f *frame
		var sink [1]byte
		buf := sink[:]
		if d.n < len(d.queue) {
			f = &d.queue[(d.head+d.n)%len(d.queue)]
			buf = f.buf
		}
		iov := unix.Iovec{Base: &buf[0]}
		iov.SetLen(len(buf))
		msg := unix.Msghdr{Iov: &iov, Iovlen: 1, Control: &oob[0]}
		msg.SetControllen(len(oob))
		r, _, errno := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(d.rxFD), uintptr(unsafe.Pointer(&msg)), unix.MSG_DONTWAIT)
		if errno != 0 {
			return // EAGAIN: drained
		}
		if f == nil {
			atomic.AddUint64(&d.hdr.drops, 1) // every buffer is in flight
			continue
		}
		ts, ok := rxTimestamp(oob[:msg.Controllen])
		if !ok {
			ts = realtimeNow()
		}
		f.n, f.rx = int(r), ts
		d.n++
	}
}

func (d *relayDir) send(f *frame, now, woke int64) {
	_, _, errno := unix.RawSyscall(unix.SYS_WRITE, uintptr(d.txFD), uintptr(unsafe.Pointer(&f.buf[0])), uintptr(f.n))
	var err error
	if errno != 0 {
		err = errno
	}
	d.record(f, now, woke, err)
}
func (d *relayDir) record(f *frame, sent, woke int64, werr error) {
	if werr != nil {
		atomic.AddUint64(&d.hdr.errs, 1)
		if errno, ok := werr.(unix.Errno); ok {
			atomic.StoreUint64(&d.hdr.lastErrno, uint64(errno))
		}
		return
	}
	next := d.hdr.next // this process is the only writer
	r := &d.recs[next%uint64(len(d.recs))]
	pkt := f.buf[:f.n]
	if len(pkt) >= 14 {
		pkt = pkt[14:]
	}
	r.seq = next
	r.rx, r.sent, r.woke = f.rx, sent, woke
	r.hash = fnv64a(pkt)
	r.n = uint32(f.n)
	r.headLen = uint32(copy(r.head[:], pkt))
	atomic.StoreUint64(&d.hdr.next, next+1) // publish
}

// DelayStats counts what one direction of a delay link did.
type DelayStats struct {
	Frames uint64 // frames relayed (records written)
	Drops  uint64 // frames dropped: more than 4096 in flight
	Errors uint64 // frames the relay failed to write
	// LastError is the error of the last failed write (nil if none).
	LastError error
	Records   int // records held now (the ring keeps the newest)
}

func (l *Lab) relayDir(from, to string) (*relayDir, error) {
	for _, dl := range l.relays {
		for _, d := range dl.dirs {
			if d != nil && d.from == from && d.to == to && d.hdr != nil {
				return d, nil
			}
		}
	}
	return nil, fmt.Errorf("lab %s: no delay link from %s to %s", l.name, from, to)
}

// DelayRecords returns the records of the delay link from→to, oldest
// first (at most the ring size, see WithDelayRecords). A frame's record
// is there as soon as the relay has written the frame.
func (l *Lab) DelayRecords(from, to string) ([]DelayRecord, error) {
	d, err := l.relayDir(from, to)
	if err != nil {
		return nil, err
	}
	next := atomic.LoadUint64(&d.hdr.next)
	size := uint64(len(d.recs))
	start := uint64(0)
	if next > size {
		start = next - size
	}
	out := make([]DelayRecord, 0, next-start)
	for s := start; s < next; s++ {
		r := d.recs[s%size] // copy: the relay may overwrite the slot meanwhile
		if r.seq != s {
			continue
		}
		rec := DelayRecord{
			Seq: s, From: d.from, To: d.to,
			Received: time.Unix(0, r.rx), Sent: time.Unix(0, r.sent), Applied: time.Duration(r.sent - r.rx),
			Configured: d.delay, Woke: time.Unix(0, r.woke), Hash: r.hash, Len: int(r.n), HeadLen: int(min(r.headLen, recordHeadSz)),
		}
		copy(rec.Head[:], r.head[:rec.HeadLen])
		out = append(out, rec)
	}
	return out, nil
}

// DelayStats reports counters of the delay link from→to.
func (l *Lab) DelayStats(from, to string) (DelayStats, error) {
	d, err := l.relayDir(from, to)
	if err != nil {
		return DelayStats{}, err
	}
	next := atomic.LoadUint64(&d.hdr.next)
	st := DelayStats{Frames: next, Drops: atomic.LoadUint64(&d.hdr.drops), Errors: atomic.LoadUint64(&d.hdr.errs),
		Records: int(min(next, uint64(len(d.recs))))}
	if e := atomic.LoadUint64(&d.hdr.lastErrno); e != 0 {
		st.LastError = unix.Errno(e)
	}
	return st, nil
}

// rxTimestamp finds SCM_TIMESTAMPNS in control messages without allocating.
func rxTimestamp(oob []byte) (int64, bool) {
	const hdr = int(unsafe.Sizeof(unix.Cmsghdr{}))
	for len(oob) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			return 0, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && l >= hdr+16 {
			sec := int64(binary.NativeEndian.Uint64(oob[hdr:]))
			nsec := int64(binary.NativeEndian.Uint64(oob[hdr+8:]))
			return sec*1e9 + nsec, true
		}
		adv := (l + 7) &^ 7
		if adv > len(oob) {
			break
		}
		oob = oob[adv:]
	}
	return 0, false
}

// realtimeNow reads CLOCK_REALTIME through the vDSO (time.Now), without
// a system call that would pass through the Go scheduler.
func realtimeNow() int64 { return time.Now().UnixNano() }
