package testnet_test

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// TestDelayLinkCarriesLocalUDP sends a datagram from an ordinary UDP socket
// on a to a UDP socket on b across a delay link. A locally generated
// datagram leaves a's veth with its checksum still to be completed
// (CHECKSUM_PARTIAL); the relay copies frames as read, so unless the node
// computes it in software, b receives a bad UDP checksum and
// drops the datagram. The records show the relay did carry it.
func TestDelayLinkCarriesLocalUDP(t *testing.T) {
	lab := labtest.UpTopology(t, pair(time.Millisecond))
	dst := mustLoopback(t, lab, "b")
	var rfd, sfd int
	if err := lab.Exec("b", func() (err error) {
		if rfd, err = unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		return unix.Bind(rfd, &unix.SockaddrInet6{Addr: dst.As16()})
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rfd)
	sa, err := unix.Getsockname(rfd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*unix.SockaddrInet6).Port
	if err := unix.SetsockoptTimeval(rfd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1}); err != nil {
		t.Fatal(err)
	}
	if err := lab.Exec("a", func() (err error) {
		sfd, err = unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sfd)

	buf := make([]byte, 2048)
	for i := range 3 { // a busy machine may lose one; three tries
		payload := []byte("srv6oam checksum " + strconv.Itoa(i))
		if err := unix.Sendto(sfd, payload, 0, &unix.SockaddrInet6{Port: port, Addr: dst.As16()}); err != nil {
			t.Fatal(err)
		}
		n, _, err := unix.Recvfrom(rfd, buf, 0)
		if err == nil {
			if !bytes.Equal(buf[:n], payload) {
				t.Fatalf("b received %q, want %q", buf[:n], payload)
			}
			return
		}
		t.Logf("datagram %d not received: %v", i, err)
	}
	st, _ := lab.DelayStats("a", "b")
	t.Fatalf("no UDP datagram from a reached b's socket across the delay link (relay stats %+v): "+
		"a locally generated datagram crossed the relay without its checksum", st)
}

// TestDelayLinkCarriesTCP moves 1 MB over TCP across a delay link: with
// segmentation offload a node hands the veth segments of up to 64 KB,
// which the relay (frames of MTU size) would cut short.
func TestDelayLinkCarriesTCP(t *testing.T) {
	lab := labtest.UpTopology(t, pair(time.Millisecond))
	dst := mustLoopback(t, lab, "b")
	var ln net.Listener
	if err := lab.Exec("b", func() (err error) {
		ln, err = net.Listen("tcp6", net.JoinHostPort(dst.String(), "0"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MB
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		b, _ := io.ReadAll(c)
		got <- b
	}()
	var c net.Conn
	if err := lab.Exec("a", func() (err error) {
		c, err = net.DialTimeout("tcp6", ln.Addr().String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(want); err != nil {
		t.Fatalf("write 1 MB over TCP across the delay link: %v", err)
	}
	c.Close()
	b := <-got
	if !bytes.Equal(b, want) {
		t.Fatalf("b received %d of %d bytes intact over TCP across the delay link", len(b), len(want))
	}
}
