package srh_test

import (
	"net/netip"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/oam/srh"
)

// rawSocket opens an IPPROTO_RAW IPv6 socket (IPV6_HDRINCL implied) inside namespace ns. The
// socket stays in that namespace after the thread returns to its own.
func rawSocket(t *testing.T, ns string) int {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatalf("current namespace: %v", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatalf("namespace %s: %v", ns, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		t.Fatalf("enter %s: %v", ns, err)
	}
	fd, sockErr := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err := netns.Set(orig); err != nil {
		// This thread is stuck in the lab namespace: let it die with the goroutine.
		runtime.LockOSThread()
		t.Fatalf("back to the original namespace: %v", err)
	}
	if sockErr != nil {
		t.Fatalf("raw IPv6 socket in %s: %v (needs CAP_NET_RAW)", ns, sockErr)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

var counterRE = regexp.MustCompile(`packets (\d+)`)

func nftCounter(t *testing.T, ns, name string) int {
	t.Helper()
	out := run(t, "ip", "netns", "exec", ns, "nft", "list", "counter", "inet", "srht", name)
	m := counterRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("counter %s: %q", name, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestHMACAcceptedByKernel sends packets signed by this package through a Linux End SID whose
// node requires HMAC (seg6_require_hmac=1), and counts the echo replies: the kernel must take
// what we sign and drop what was altered after signing.
func TestHMACAcceptedByKernel(t *testing.T) {
	needLab(t, "nft", "ping", "setsid", "sysctl")
	// S ── R ── D. R binds an End SID and requires HMAC; D is the final segment. (The final
	// segment cannot be an address of R itself: after End, seg6_lookup_nexthop refuses routes
	// through a loopback device, so the kernel drops instead of delivering locally.)
	var (
		senderAddr = netip.MustParseAddr("2001:db8:51::1")
		routerAddr = netip.MustParseAddr("2001:db8:51::2")
		finalAddr  = netip.MustParseAddr("2001:db8:52::2")
		endSID     = netip.MustParseAddr("2001:db8:e::1")
		sha256Key  = srh.HMACKey{ID: 9, Algorithm: srh.HMACSHA256, Secret: []byte("kernel-lab-sha256-secret")}
		sha1Key    = srh.HMACKey{ID: 10, Algorithm: srh.HMACSHA1, Secret: []byte("kernel-lab-sha1")}
	)
	s := newNamespace(t, "s")
	r := newNamespace(t, "r")
	d := newNamespace(t, "d")
	run(t, "ip", "link", "add", "vS", "netns", s, "type", "veth", "peer", "name", "vRS", "netns", r)
	run(t, "ip", "link", "add", "vD", "netns", d, "type", "veth", "peer", "name", "vRD", "netns", r)
	run(t, "ip", "-n", s, "addr", "add", senderAddr.String()+"/64", "dev", "vS", "nodad")
	run(t, "ip", "-n", r, "addr", "add", routerAddr.String()+"/64", "dev", "vRS", "nodad")
	run(t, "ip", "-n", r, "addr", "add", "2001:db8:52::1/64", "dev", "vRD", "nodad")
	run(t, "ip", "-n", d, "addr", "add", finalAddr.String()+"/64", "dev", "vD", "nodad")
	for ns, dev := range map[string]string{s: "vS", r: "vRS", d: "vD"} {
		run(t, "ip", "-n", ns, "link", "set", dev, "up")
	}
	run(t, "ip", "-n", r, "link", "set", "vRD", "up")
	run(t, "ip", "-n", s, "-6", "route", "add", "default", "via", routerAddr.String())
	run(t, "ip", "-n", d, "-6", "route", "add", "default", "via", "2001:db8:52::1")
	for _, kv := range []string{
		"net.ipv6.conf.all.forwarding=1",
		"net.ipv6.conf.all.seg6_enabled=1", "net.ipv6.conf.vRS.seg6_enabled=1",
		"net.ipv6.conf.all.seg6_require_hmac=1", "net.ipv6.conf.vRS.seg6_require_hmac=1",
	} {
		run(t, "ip", "netns", "exec", r, "sysctl", "-q", "-w", kv)
	}
	// D accepts the SRH (Segments Left 0) without checking the HMAC: the check under test is R's.
	for _, kv := range []string{
		"net.ipv6.conf.all.seg6_enabled=1", "net.ipv6.conf.vD.seg6_enabled=1",
		"net.ipv6.conf.all.seg6_require_hmac=-1", "net.ipv6.conf.vD.seg6_require_hmac=-1",
	} {
		run(t, "ip", "netns", "exec", d, "sysctl", "-q", "-w", kv)
	}
	run(t, "ip", "-n", r, "-6", "route", "add", endSID.String()+"/128", "encap", "seg6local", "action", "End", "dev", "vRS")
	for _, k := range []srh.HMACKey{sha256Key, sha1Key} {
		cmd := exec.Command("setsid", "-w", "ip", "netns", "exec", r, "ip", "sr", "hmac", "set", strconv.Itoa(int(k.ID)), k.Algorithm.String())
		cmd.Stdin = strings.NewReader(string(k.Secret) + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ip sr hmac set %d: %v: %s", k.ID, err, out)
		}
	}
	// Echo replies come back to the sender as plain IPv6: count them by echo identifier.
	nft := exec.Command("ip", "netns", "exec", s, "nft", "-f", "-")
	nft.Stdin = strings.NewReader(`table inet srht {
	counter good {}
	counter bad {}
	chain in {
		type filter hook input priority 0;
		icmpv6 type echo-reply icmpv6 id 0x900d counter name good
		icmpv6 type echo-reply icmpv6 id 0x0bad counter name bad
	}
}`)
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	// Resolve the neighbour first so that no test packet waits in a queue.
	run(t, "ip", "netns", "exec", s, "ping", "-6", "-c", "1", "-w", "5", finalAddr.String())

	fd := rawSocket(t, s)
	reg := srh.DefaultRegistry()
	buf := gopacket.NewSerializeBuffer()
	seq := uint16(0)
	// build returns a probe: IPv6 → SRH (End SID, then the receiver) → ICMPv6 echo.
	build := func(t *testing.T, id uint16, prepare func(t *testing.T, h *srh.SRH), raw bool) []byte {
		t.Helper()
		seq++
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Routing,
			SrcIP: senderAddr.AsSlice(), DstIP: endSID.AsSlice()}
		slots, _ := reg.SlotsTLV(2)
		h := &srh.SRH{NextHeader: layers.IPProtocolICMPv6, SegmentsLeft: 1, Flags: srh.FlagOAM,
			Segments: []netip.Addr{endSID, finalAddr},
			TLVs:     []srh.TLV{reg.ProbeTLV(srh.Probe{Session: 1, Sequence: uint32(seq)}), slots}}
		prepare(t, h)
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
		if err := icmp.SetNetworkLayerForChecksum(h.ChecksumLayer(ip)); err != nil {
			t.Fatal(err)
		}
		ls := []gopacket.SerializableLayer{ip, h, icmp, &layers.ICMPv6Echo{Identifier: id, SeqNumber: seq}, gopacket.Payload("srv6oam hmac lab")}
		if raw {
			// The SRH goes out exactly as prepared; the rest gets lengths and checksums.
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, icmp, ls[3], ls[4]); err != nil {
				t.Fatal(err)
			}
			if err := h.SerializeTo(buf, gopacket.SerializeOptions{}); err != nil {
				t.Fatal(err)
			}
			ip.Length = uint16(len(buf.Bytes()))
			if err := ip.SerializeTo(buf, gopacket.SerializeOptions{}); err != nil {
				t.Fatal(err)
			}
		} else if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		return append([]byte(nil), buf.Bytes()...)
	}
	send := func(t *testing.T, pkt []byte) {
		t.Helper()
		if err := unix.Sendto(fd, pkt, 0, &unix.SockaddrInet6{Addr: endSID.As16()}); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	sign := func(k srh.HMACKey) func(t *testing.T, h *srh.SRH) {
		return func(t *testing.T, h *srh.SRH) {
			if err := h.Sign(senderAddr, k); err != nil {
				t.Fatal(err)
			}
		}
	}
	// waitGood waits for the good counter to reach n; replies come back in the order sent,
	// so when a good marker's reply is in, every packet sent before it has been handled.
	waitGood := func(t *testing.T, n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for nftCounter(t, s, "good") < n {
			if time.Now().After(deadline) {
				out, _ := exec.Command("ip", "netns", "exec", r, "nstat", "-sa").CombinedOutput()
				t.Logf("receiver counters:\n%s", out)
				t.Fatalf("no echo reply for a correctly signed packet: the kernel dropped it (good=%d, want %d)", nftCounter(t, s, "good"), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	accepted := []struct {
		name    string
		prepare func(t *testing.T, h *srh.SRH)
		raw     bool
	}{
		{"sha256, probe+slots+HMAC", sign(sha256Key), false},
		{"sha1", sign(sha1Key), false},
		// The control for "HMAC TLV first" below: same raw path, HMAC TLV last.
		{"raw serialization, HMAC TLV last", func(t *testing.T, h *srh.SRH) {
			sign(sha256Key)(t, h)
			h.HdrExtLen, h.LastEntry = uint8(h.Len()/8-1), uint8(len(h.Segments)-1)
		}, true},
		{"tag changed after signing (not covered)", func(t *testing.T, h *srh.SRH) { sign(sha256Key)(t, h); h.Tag = 0xbeef }, false},
		{"slot written after signing (TLVs not covered)", func(t *testing.T, h *srh.SRH) {
			sign(sha256Key)(t, h)
			sl, err := reg.Slots(h)
			if err != nil {
				t.Fatal(err)
			}
			if err := sl.SetSlot(1, srh.Slot{NodeID: 1, Flags: srh.SlotWritten, Timestamp: 42}); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	good := nftCounter(t, s, "good")
	for _, c := range accepted {
		t.Run("accepted/"+c.name, func(t *testing.T) {
			send(t, build(t, 0x900d, c.prepare, c.raw))
			good++
			waitGood(t, good)
		})
	}

	dropped := []struct {
		name    string
		prepare func(t *testing.T, h *srh.SRH)
		raw     bool
	}{
		{"unsigned", func(t *testing.T, h *srh.SRH) {}, false},
		{"HMAC byte flipped", func(t *testing.T, h *srh.SRH) { sign(sha256Key)(t, h); h.TLVs[len(h.TLVs)-1].Value[10] ^= 1 }, false},
		{"O-flag set after signing (flags are covered)", func(t *testing.T, h *srh.SRH) { h.Flags = 0; sign(sha256Key)(t, h); h.Flags |= srh.FlagOAM }, false},
		{"unknown key id", sign(srh.HMACKey{ID: 11, Algorithm: srh.HMACSHA256, Secret: sha256Key.Secret}), false},
		{"wrong secret", sign(srh.HMACKey{ID: 9, Algorithm: srh.HMACSHA256, Secret: []byte("not-the-secret")}), false},
		{"HMAC TLV first, not last", func(t *testing.T, h *srh.SRH) {
			sign(sha256Key)(t, h)
			last := len(h.TLVs) - 1
			h.TLVs = append([]srh.TLV{h.TLVs[last]}, h.TLVs[:last]...)
			n := srh.FixedLen + 16*len(h.Segments)
			for _, tl := range h.TLVs {
				n += 2 + len(tl.Value)
			}
			h.HdrExtLen, h.LastEntry = uint8(n/8-1), uint8(len(h.Segments)-1)
		}, true},
	}
	bad := nftCounter(t, s, "bad")
	for _, c := range dropped {
		t.Run("dropped/"+c.name, func(t *testing.T) {
			send(t, build(t, 0x0bad, c.prepare, c.raw))
			send(t, build(t, 0x900d, sign(sha256Key), false))
			good++
			waitGood(t, good)
			if got := nftCounter(t, s, "bad"); got != bad {
				t.Fatalf("the kernel accepted it: %d echo replies, want %d", got, bad)
			}
		})
	}
	t.Logf("echo replies: %d for correctly signed packets, %d for altered ones", nftCounter(t, s, "good"), nftCounter(t, s, "bad"))
}
