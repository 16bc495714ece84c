package labtest

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/testnet"
	"golang.org/x/sys/unix"
)

// Capture is an independent witness of what a lab node receives: the IPv6 packets that arrive
// on its interface toward peer, each with the kernel's receive timestamp (AF_PACKET with
// SO_TIMESTAMPNS), collected until Stop. Packets and Stamps are complete once Stop returned.
type Capture struct {
	mu      sync.Mutex
	Packets [][]byte
	Stamps  []time.Time
	done    chan struct{}
	fd      int
}

// StartCapture starts capturing on node's interface toward peer; the capture stops when the
// test ends, or at Stop.
func StartCapture(t testing.TB, lab *testnet.Lab, node, peer string) *Capture {
	t.Helper()
	ifc, err := lab.Interface(node, peer)
	if err != nil {
		t.Fatal(err)
	}
	c := &Capture{done: make(chan struct{}), fd: -1}
	err = lab.Exec(node, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(htons(unix.ETH_P_IPV6)))
		if err != nil {
			return err
		}
		c.fd = fd
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
			return err
		}
		tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IPV6), Ifindex: ifc.Index})
	})
	if err != nil {
		if c.fd >= 0 {
			unix.Close(c.fd)
		}
		t.Fatalf("capture on %s %s: %v", node, ifc.Name, err)
	}
	started := make(chan struct{})
	go func() {
		defer close(c.done)
		buf := make([]byte, 65536)
		oob := make([]byte, 128)
		close(started)
		for {
			n, oobn, _, _, err := unix.Recvmsg(c.fd, buf, oob, 0)
			if err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			if err != nil {
				return
			}
			msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
			var ts time.Time
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
					ts = time.Unix(int64(binary.NativeEndian.Uint64(m.Data)), int64(binary.NativeEndian.Uint64(m.Data[8:])))
				}
			}
			c.mu.Lock()
			c.Packets = append(c.Packets, append([]byte(nil), buf[:n]...))
			c.Stamps = append(c.Stamps, ts)
			c.mu.Unlock()
		}
	}()
	<-started
	t.Cleanup(func() { c.Stop() })
	return c
}

// Stop ends the capture; shutting the socket down wakes the reader.
func (c *Capture) Stop() {
	select {
	case <-c.done:
		return
	default:
	}
	unix.Shutdown(c.fd, unix.SHUT_RDWR)
	unix.Close(c.fd)
	<-c.done
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
