package testnet_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// rxPackets reads the receive counter of node's interface towards peer.
func rxPackets(t *testing.T, lab *testnet.Lab, node, peer string) uint64 {
	t.Helper()
	ifc, err := lab.Interface(node, peer)
	if err != nil {
		t.Fatal(err)
	}
	h, err := lab.Handle(node)
	if err != nil {
		t.Fatal(err)
	}
	link, err := h.LinkByIndex(ifc.Index)
	if err != nil {
		t.Fatalf("%s %s: %v", node, ifc.Name, err)
	}
	return link.Attrs().Statistics.RxPackets
}

// srhSegments returns the segment list (as stored: last segment first) of
// an IPv6 packet whose first extension header is an SRH, or nil.
func srhSegments(pkt []byte) []netip.Addr {
	if len(pkt) < 48 || pkt[6] != 43 || pkt[42] != 4 {
		return nil
	}
	srh := pkt[40:]
	n := int(srh[4]) + 1
	if len(srh) < 8+16*n {
		return nil
	}
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = netip.AddrFrom16([16]byte(srh[8+16*i : 24+16*i]))
	}
	return out
}

func TestPolicySteersThroughSIDs(t *testing.T) {
	lab := labtest.Up(t, "diamond")
	cases := []struct {
		dst      string
		via, not string
		wantSegs []string // as in the SRH: last segment first
	}{
		{"fc00:0:6::100", "r3", "r2", []string{"fc00:0:5::d6", "fc00:0:4::e"}},
		{"fc00:0:6::200", "r2", "r3", []string{"fc00:0:5::d6", "fc00:0:3::e"}},
	}
	const n = 50
	for _, tc := range cases {
		t.Run(tc.dst, func(t *testing.T) {
			capVia := labtest.StartCapture(t, lab, tc.via, "r1")
			beforeVia, beforeNot := rxPackets(t, lab, tc.via, "r1"), rxPackets(t, lab, tc.not, "r1")
			ping6(t, lab, "h1", netip.MustParseAddr(tc.dst), n)
			afterVia, afterNot := rxPackets(t, lab, tc.via, "r1"), rxPackets(t, lab, tc.not, "r1")
			capVia.Stop()
			if d := afterVia - beforeVia; d < n {
				t.Errorf("%s received %d packets from r1, want >= %d (the policy's path)", tc.via, d, n)
			}
			if d := afterNot - beforeNot; d >= n/5 {
				t.Errorf("%s received %d packets from r1, want ~0 (not on the policy's path)", tc.not, d)
			}
			withSRH := 0
			for _, p := range capVia.Packets {
				segs := srhSegments(p)
				if segs == nil {
					continue
				}
				got := fmt.Sprint(segs)
				if want := fmt.Sprint(addrs(tc.wantSegs)); got != want {
					t.Fatalf("SRH segments at %s = %s, want %s", tc.via, got, want)
				}
				withSRH++
			}
			if withSRH < n {
				t.Errorf("%s saw %d packets with the policy's SRH, want >= %d", tc.via, withSRH, n)
			}
			t.Logf("%s: %d packets via %s (%d with SRH %v), %d via %s", tc.dst, afterVia-beforeVia, tc.via, withSRH, tc.wantSegs, afterNot-beforeNot, tc.not)
		})
	}
}

func addrs(s []string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i := range s {
		out[i] = netip.MustParseAddr(s[i])
	}
	return out
}

// sendFlowLabels sends one UDP datagram per flow label from node to dst on a
// raw socket with a crafted IPv6 header: everything but the flow label is
// identical.
func sendFlowLabels(t *testing.T, lab *testnet.Lab, node string, src, dst netip.Addr, labels int) {
	t.Helper()
	err := lab.Exec(node, func() error {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		payload := []byte("srv6oam ecmp")
		pkt := make([]byte, 48+len(payload))
		for fl := 1; fl <= labels; fl++ {
			binary.BigEndian.PutUint32(pkt[0:], 6<<28|uint32(fl)&0xfffff)
			binary.BigEndian.PutUint16(pkt[4:], uint16(8+len(payload)))
			pkt[6], pkt[7] = unix.IPPROTO_UDP, 64
			s, d := src.As16(), dst.As16()
			copy(pkt[8:], s[:])
			copy(pkt[24:], d[:])
			udp := pkt[40:]
			binary.BigEndian.PutUint16(udp[0:], 40000)
			binary.BigEndian.PutUint16(udp[2:], 9) // discard
			binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
			binary.BigEndian.PutUint16(udp[6:], 0)
			copy(udp[8:], payload)
			binary.BigEndian.PutUint16(udp[6:], udpChecksum(s, d, udp))
			if err := unix.Sendto(fd, pkt, 0, &unix.SockaddrInet6{Addr: d}); err != nil {
				return fmt.Errorf("send flow label %d: %w", fl, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", node, err)
	}
}

func udpChecksum(src, dst [16]byte, udp []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(src[:])
	add(dst[:])
	sum += uint32(len(udp)) + unix.IPPROTO_UDP
	add(udp)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	c := ^uint16(sum)
	if c == 0 {
		c = 0xffff
	}
	return c
}

func TestECMPSpreadsFlowLabels(t *testing.T) {
	lab := labtest.Up(t, "diamond")
	// Resolve neighbours first so ND traffic does not count.
	ping6(t, lab, "h1", netip.MustParseAddr("fc00:0:6::1"), 1)
	src, dst := netip.MustParseAddr("fc00:0:1::1"), netip.MustParseAddr("fc00:0:6::1")
	r2, r3 := rxPackets(t, lab, "r2", "r1"), rxPackets(t, lab, "r3", "r1")
	const labels = 200
	sendFlowLabels(t, lab, "h1", src, dst, labels)
	time.Sleep(100 * time.Millisecond) // let the last packets cross r1
	d2, d3 := rxPackets(t, lab, "r2", "r1")-r2, rxPackets(t, lab, "r3", "r1")-r3
	t.Logf("%d flow labels: %d via r2, %d via r3", labels, d2, d3)
	if d2+d3 < labels {
		t.Fatalf("only %d of %d packets reached r2 or r3", d2+d3, labels)
	}
	if d2 < labels/5 || d3 < labels/5 {
		t.Errorf("flow labels not spread over both paths: %d via r2, %d via r3 (want each >= %d)", d2, d3, labels/5)
	}
	// The same flow label always takes the same path. The interface counters also see the
	// kernel's own traffic on a link that just came up (a CI run counted 1 and 4 packets
	// for 3 sent, probably MLD reports), so send enough copies that a split by the hash (about half
	// each way) cannot pass for that noise.
	const copies = 30
	r2, r3 = rxPackets(t, lab, "r2", "r1"), rxPackets(t, lab, "r3", "r1")
	for range copies {
		sendFlowLabels(t, lab, "h1", src, dst, 1)
	}
	time.Sleep(50 * time.Millisecond)
	d2, d3 = rxPackets(t, lab, "r2", "r1")-r2, rxPackets(t, lab, "r3", "r1")-r3
	t.Logf("flow label 1 sent %d times: %d via r2, %d via r3", copies, d2, d3)
	if max(d2, d3) < copies || min(d2, d3) > 5 {
		t.Errorf("one flow label took both paths: %d via r2, %d via r3 (want %d one way, at most 5 packets of other traffic the other)", d2, d3, copies)
	}
}

func TestHMACRequired(t *testing.T) {
	lab := labtest.Up(t, "hmac")
	ping6(t, lab, "h1", netip.MustParseAddr("fc00:0:4::100"), 3) // H.Encaps with HMAC
	ping6(t, lab, "h1", netip.MustParseAddr("fc00:0:4::300"), 3) // H.Insert with HMAC
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := rxPackets(t, lab, "r2", "r1")
	out, err := lab.Output(ctx, "h1", "ping", "-6", "-n", "-q", "-c", "3", "-i", "0.05", "-W", "1", "fc00:0:4::200")
	if err == nil || !strings.Contains(string(out), " 0 received") {
		t.Fatalf("ping through r2 without HMAC: want every packet dropped, got err=%v\n%s", err, out)
	}
	if d := rxPackets(t, lab, "r2", "r1") - before; d < 3 {
		t.Errorf("r2 received %d packets; the dropped ones must have reached it", d)
	}
}
