package labtest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/testnet"
)

// Ring captures what a lab node receives on one interface exactly as it arrived: an AF_PACKET
// socket for every protocol (ETH_P_ALL) with a TPACKET_V2 receive ring, outgoing packets
// ignored. Both matter on an SRv6 node, which processes a packet in place (End decrements
// Segments Left and rewrites the destination, NEXT-C-SID shifts it, without copying a buffer a
// tap shares): a socket for ETH_P_IPV6 is handed the packet after ip6_rcv, which has processed
// it by then, and a socket without a ring queues a clone that shares the data and reads it
// later. A tap for ETH_P_ALL runs before the protocol handlers, and the ring copies the packet
// then, synchronously: a packet the node received before a call to Next is in the ring.
type Ring struct {
	fd    int
	ring  []byte
	frame int // the next frame to read
}

// Ring geometry: frames of one page hold any packet of a lab link (MTU 1500; the jumbo links of
// a test that sets mtu read their first 4 KiB minus the header), 256 of them.
const (
	ringFrameSize = 4096
	ringFrames    = 256
)

// ListenRing opens a capture on node's interface ifname.
func ListenRing(lab *testnet.Lab, node, ifname string) (*Ring, error) {
	var c Ring
	err := lab.Exec(node, func() error {
		ifi, err := netIndex(ifname)
		if err != nil {
			return err
		}
		proto := htons(unix.ETH_P_ALL)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		fail := func(what string, err error) error {
			unix.Close(fd)
			return fmt.Errorf("capture on %s: %s: %w", ifname, what, err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
			return fail("PACKET_VERSION", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
			return fail("PACKET_IGNORE_OUTGOING", err)
		}
		req := unix.TpacketReq{Block_size: ringFrameSize, Block_nr: ringFrames, Frame_size: ringFrameSize, Frame_nr: ringFrames}
		if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
			return fail("PACKET_RX_RING", err)
		}
		ring, err := unix.Mmap(fd, 0, ringFrameSize*ringFrames, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return fail("mmap the ring", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi}); err != nil {
			unix.Munmap(ring)
			return fail("bind", err)
		}
		c.fd, c.ring = fd, ring
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func netIndex(name string) (int, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, fmt.Errorf("interface %s: %w", name, err)
	}
	return int(ifr.Uint32()), nil
}

// Close closes the capture.
func (c *Ring) Close() error {
	unix.Munmap(c.ring)
	return unix.Close(c.fd)
}

// ErrTimeout is returned by Next when no packet arrived in time.
var ErrTimeout = errors.New("no packet before the deadline")

// Next returns the next IPv6 packet received (other protocols are skipped) and the kernel's
// receive time; a timeout of 0 returns ErrTimeout at once when the ring holds none.
func (c *Ring) Next(timeout time.Duration) ([]byte, time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		hdr := (*unix.Tpacket2Hdr)(unsafe.Pointer(&c.ring[c.frame*ringFrameSize]))
		status := (*atomic.Uint32)(unsafe.Pointer(&hdr.Status))
		if status.Load()&unix.TP_STATUS_USER == 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return nil, time.Time{}, ErrTimeout
			}
			fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
			if _, err := unix.Poll(fds, int(max(left/time.Millisecond, 1))); err != nil && !errors.Is(err, unix.EINTR) {
				return nil, time.Time{}, fmt.Errorf("capture: poll: %w", err)
			}
			continue
		}
		base := c.frame * ringFrameSize
		off := base + int(hdr.Net)
		n := int(hdr.Snaplen)
		at := time.Unix(int64(hdr.Sec), int64(hdr.Nsec))
		// struct sockaddr_ll follows the header (TPACKET_ALIGN'd): its protocol says IPv6.
		sll := base + unix.SizeofTpacket2Hdr
		ipv6 := binary.BigEndian.Uint16(c.ring[sll+2:]) == unix.ETH_P_IPV6
		var pkt []byte
		if ipv6 && off+n <= base+ringFrameSize {
			pkt = bytes.Clone(c.ring[off : off+n])
		}
		status.Store(unix.TP_STATUS_KERNEL) // hand the frame back
		c.frame = (c.frame + 1) % ringFrames
		if len(pkt) >= 40 && pkt[0]>>4 == 6 {
			return pkt, at, nil
		}
	}
}
