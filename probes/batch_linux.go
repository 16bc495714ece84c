package probes

import (
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr of sendmmsg(2) (x/sys/unix does not define it).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// Batch collects packets for one sendmmsg(2): a prober with many targets (the monitor) or a
// flood sends them with one system call instead of one each. The packets are copied in, so the
// builder's buffer can be reused at once. A Batch is reused after Reset; it does not allocate.
type Batch struct {
	bufs  [][]byte
	names []unix.RawSockaddrInet6
	iovs  []unix.Iovec
	hdrs  []mmsghdr
	n     int
}

// NewBatch makes a batch of up to size packets of at most maxPacket bytes each.
func NewBatch(size, maxPacket int) *Batch {
	b := &Batch{
		bufs:  make([][]byte, size),
		names: make([]unix.RawSockaddrInet6, size),
		iovs:  make([]unix.Iovec, size),
		hdrs:  make([]mmsghdr, size),
	}
	backing := make([]byte, size*maxPacket)
	for i := range b.bufs {
		b.bufs[i] = backing[i*maxPacket : (i+1)*maxPacket : (i+1)*maxPacket]
		b.names[i].Family = unix.AF_INET6
		b.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet6
		b.hdrs[i].hdr.Iov = &b.iovs[i]
		b.hdrs[i].hdr.Iovlen = 1
		b.iovs[i].Base = &b.bufs[i][0]
	}
	return b
}

// Add copies pkt into the batch, to be sent toward firstHop. It reports false when the batch is
// full or pkt is larger than the batch's packets.
func (b *Batch) Add(pkt []byte, firstHop netip.Addr) bool {
	if b.n == len(b.bufs) || len(pkt) > cap(b.bufs[b.n]) || len(pkt) == 0 {
		return false
	}
	copy(b.bufs[b.n][:len(pkt)], pkt)
	b.iovs[b.n].SetLen(len(pkt))
	b.names[b.n].Addr = firstHop.As16()
	b.n++
	return true
}

// Len is the number of packets in the batch.
func (b *Batch) Len() int { return b.n }

// Reset empties the batch.
func (b *Batch) Reset() { b.n = 0 }

// SendBatch sends every packet of b with sendmmsg and empties it. It returns the user clock read
// just before the call; TX timestamp keys (ReadTxTimestamps) advance by one per packet sent, in
// batch order. On an error the packets before the failing one were sent (sent says how many).
func (c *Conn) SendBatch(b *Batch) (sent int, at time.Time, err error) {
	defer b.Reset()
	if c.cfg.Tap != nil {
		now := time.Now()
		for i := 0; i < b.n; i++ {
			c.cfg.Tap.Packet(now, b.bufs[i][:b.iovs[i].Len])
		}
	}
	for sent < b.n {
		at = time.Now()
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(c.sendFD), uintptr(unsafe.Pointer(&b.hdrs[sent])),
			uintptr(b.n-sent), 0, 0, 0)
		if errno == unix.EAGAIN || errno == unix.ENOBUFS {
			fds := [1]unix.PollFd{{Fd: int32(c.sendFD), Events: unix.POLLOUT}}
			_, _ = unix.Poll(fds[:], 10)
			continue
		}
		if errno != 0 {
			return sent, at, sendError(netip.AddrFrom16(b.names[sent].Addr), errno)
		}
		c.txKey += uint32(r)
		sent += int(r)
	}
	return sent, at, nil
}
