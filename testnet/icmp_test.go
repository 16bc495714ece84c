package testnet_test

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

const icmpTopo = `
icmp_ratelimit_ms: 0
nodes:
  a: {loopback: fc00:0:1::1}
  b: {loopback: fc00:0:2::1}
  c: {loopback: fc00:0:3::1, icmp_ratelimit_ms: 1000}
links:
  - {a: a, b: b}
  - {a: a, b: c}
`

func readSysctl(t *testing.T, lab *testnet.Lab, node, name string) string {
	t.Helper()
	var v []byte
	if err := lab.Exec(node, func() (err error) {
		v, err = os.ReadFile("/proc/sys/net/" + name)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(v))
}

// unreachables sends n UDP datagrams at once from a to a closed port of
// dst and counts the ICMPv6 Destination Unreachable errors a receives.
func unreachables(t *testing.T, lab *testnet.Lab, dst netip.Addr, n int) int {
	t.Helper()
	var raw, udp int
	if err := lab.Exec("a", func() (err error) {
		if raw, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6); err != nil {
			return err
		}
		udp, err = unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(raw)
	defer unix.Close(udp)
	if err := unix.SetsockoptTimeval(raw, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 300000}); err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := unix.Sendto(udp, []byte("x"), 0, &unix.SockaddrInet6{Port: 9, Addr: dst.As16()}); err != nil {
			t.Fatal(err)
		}
	}
	count := 0
	buf := make([]byte, 1500)
	deadline := time.Now().Add(2 * time.Second)
	for count < n && time.Now().Before(deadline) {
		m, from, err := unix.Recvfrom(raw, buf, 0)
		if err != nil {
			break // quiet for 300 ms: no more errors coming
		}
		if sa, ok := from.(*unix.SockaddrInet6); ok && sa.Addr == dst.As16() && m > 0 && buf[0] == 1 {
			count++
		}
	}
	return count
}

// TestICMPRateLimit: lab nodes answer with ICMPv6 errors without a rate
// limit by default (net.ipv6.icmp.ratelimit=0, the per-namespace ICMP budget
// raised), and a node with icmp_ratelimit_ms keeps the kernel's limiter.
func TestICMPRateLimit(t *testing.T) {
	topo, err := testnet.Parse([]byte(icmpTopo), "icmp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lab := labtest.UpTopology(t, topo)
	for node, want := range map[string]string{"a": "0", "b": "0", "c": "1000"} {
		if got := readSysctl(t, lab, node, "ipv6/icmp/ratelimit"); got != want {
			t.Errorf("node %s: net.ipv6.icmp.ratelimit = %s, want %s", node, got, want)
		}
	}
	if got := readSysctl(t, lab, "b", "ipv4/icmp_msgs_per_sec"); got != "1000000" {
		t.Errorf("node b: net.ipv4.icmp_msgs_per_sec = %s, want 1000000", got)
	}
	if got := readSysctl(t, lab, "c", "ipv4/icmp_msgs_burst"); got != "50" {
		t.Errorf("node c (rate limited): net.ipv4.icmp_msgs_burst = %s, want the kernel default 50", got)
	}

	const n = 30
	if got := unreachables(t, lab, netip.MustParseAddr("fc00:0:2::1"), n); got != n {
		t.Errorf("b (no limit) answered %d of %d datagrams to a closed port with an ICMPv6 error", got, n)
	}
	if got := unreachables(t, lab, netip.MustParseAddr("fc00:0:3::1"), n); got == 0 || got >= n {
		t.Errorf("c (1000 ms limit) answered %d of %d datagrams with an ICMPv6 error, want some but not all", got, n)
	} else {
		t.Logf("c (icmp_ratelimit_ms: 1000) answered %d of %d at once", got, n)
	}
}

// TestICMPRateLimitDefault: a topology that does not mention it gets no
// limit on every node; a negative value is refused naming the field.
func TestICMPRateLimitDefault(t *testing.T) {
	topo, err := testnet.Parse([]byte("nodes:\n  a: {loopback: fc00:0:1::1}\n  b: {loopback: fc00:0:2::1, icmp_ratelimit_ms: 250}\n"), "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if topo.ICMPRateLimitMS != 0 || topo.Nodes[0].ICMPRateLimitMS != nil || *topo.Nodes[1].ICMPRateLimitMS != 250 {
		t.Errorf("parsed lab default %d, a %v, b %v", topo.ICMPRateLimitMS, topo.Nodes[0].ICMPRateLimitMS, topo.Nodes[1].ICMPRateLimitMS)
	}
	if got := topo.ICMPRateLimit(&topo.Nodes[0]); got != 0 {
		t.Errorf("a: %d ms, want 0", got)
	}
	_, err = testnet.Parse([]byte("nodes:\n  a: {loopback: fc00:0:1::1, icmp_ratelimit_ms: -5}\n"), "neg.yaml")
	if err == nil || !strings.Contains(err.Error(), "neg.yaml:2: node a: icmp_ratelimit_ms") {
		t.Errorf("negative icmp_ratelimit_ms: %v", err)
	}
	_, err = testnet.Parse([]byte("icmp_ratelimit_ms: 99999999\nnodes:\n  a: {loopback: fc00:0:1::1}\n"), "big.yaml")
	if err == nil || !strings.Contains(err.Error(), "big.yaml:1: icmp_ratelimit_ms") {
		t.Errorf("huge icmp_ratelimit_ms: %v", err)
	}
}
