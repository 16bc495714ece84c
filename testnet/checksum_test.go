package testnet_test

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// line3 is a - b - c with the delay on b-c only: packets from a cross the
// delay link forwarded by b, still in the state a's veth handed them over.
func line3(delay time.Duration) *testnet.Topology {
	t := pair(0)
	t.Name = "line3"
	t.Nodes = append(t.Nodes, testnet.Node{Name: "c", Loopbacks: []netip.Prefix{netip.MustParsePrefix("fc00:0:3::1/128")}})
	t.Links = append(t.Links, testnet.Link{A: "b", B: "c", Delay: delay})
	return t
}

// TestDelayLinkCarriesLocalUDP sends a datagram from an ordinary UDP socket
// across a delay link to a UDP socket on the far node. A locally generated
// datagram leaves its node's veth with the checksum still to be completed
// (CHECKSUM_PARTIAL), and keeps that state when another node forwards it
// from veth to veth; the relay copies frames as read, so unless the node in
// front of the relay computes the checksum in software, the far node
// receives a bad UDP checksum and drops the datagram.
func TestDelayLinkCarriesLocalUDP(t *testing.T) {
	for _, c := range []struct {
		name     string
		topo     *testnet.Topology
		from, to string
	}{
		{"sent by the node", pair(time.Millisecond), "a", "b"},
		{"forwarded by the node", line3(time.Millisecond), "a", "c"},
	} {
		t.Run(c.name, func(t *testing.T) {
			lab := labtest.UpTopology(t, c.topo)
			udpAcross(t, lab, c.from, c.to)
		})
	}
}

func udpAcross(t *testing.T, lab *testnet.Lab, from, to string) {
	t.Helper()
	dst := mustLoopback(t, lab, to)
	var rfd, sfd int
	if err := lab.Exec(to, func() (err error) {
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
	if err := lab.Exec(from, func() (err error) {
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
				t.Fatalf("%s received %q, want %q", to, buf[:n], payload)
			}
			return
		}
		t.Logf("datagram %d not received: %v", i, err)
	}
	t.Fatalf("no UDP datagram from %s reached %s's socket across the delay link: it crossed the relay without its checksum", from, to)
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
