// Package bpftest holds helpers for testing End functions in a lab, shared by the tests of bpf
// and bpf/agent: crafting probe packets (IPv6 + SRH with srv6oam's OAM TLVs), sending them on a
// raw IPv6 socket with the whole header crafted, and capturing what arrives on an interface with
// AF_PACKET, all inside lab namespaces.
package bpftest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// Packet describes an SRv6 packet to craft.
type Packet struct {
	Src       netip.Addr
	Segments  []netip.Addr // travel order; the first is the destination on the wire
	FlowLabel uint32       // tells packets apart in a capture
	Probe     *srh.Probe   // nil: no Probe TLV
	Slots     bool         // add a Timestamp Slots TLV with one slot per segment
	ExtraTLVs []srh.TLV    // after the OAM TLVs
	// Before are extension headers between the IPv6 header and the SRH, in order (a
	// Hop-by-Hop header, a stale routing header); Bytes chains their next-header fields.
	Before []ExtHeader
}

// ExtHeader is an IPv6 extension header: its protocol number and its bytes, whole (the first
// byte, next header, is overwritten when the packet is built).
type ExtHeader struct {
	Type  uint8
	Bytes []byte
}

// HopByHopPadN is an 8-byte Hop-by-Hop Options header holding a PadN option only.
func HopByHopPadN() ExtHeader {
	return ExtHeader{Type: 0, Bytes: []byte{0, 0, 1, 4, 0, 0, 0, 0}}
}

// StaleSRH is a routing header the kernel skips (Segments Left 0) holding the given Probe TLV:
// what a packet that already finished one segment list could carry in front of its live one.
func StaleSRH(segments []netip.Addr, probe srh.Probe) (ExtHeader, error) {
	reg := srh.DefaultRegistry()
	slots, err := reg.SlotsTLV(len(segments))
	if err != nil {
		return ExtHeader{}, err
	}
	s := srh.SRH{NextHeader: layers.IPProtocolIPv6Routing, Segments: segments, SegmentsLeft: 0,
		TLVs: []srh.TLV{reg.ProbeTLV(probe), slots}}
	b, err := s.AppendBinary(nil)
	if err != nil {
		return ExtHeader{}, err
	}
	return ExtHeader{Type: byte(layers.IPProtocolIPv6Routing), Bytes: b}, nil
}

// BeforeLen is the length of the headers in front of the SRH.
func (p Packet) BeforeLen() int {
	n := 0
	for _, h := range p.Before {
		n += len(h.Bytes)
	}
	return n
}

// Bytes serializes p: IPv6 | SRH (next header 59, no payload).
func (p Packet) Bytes() ([]byte, error) {
	reg := srh.DefaultRegistry()
	s := &srh.SRH{NextHeader: layers.IPProtocolNoNextHeader, Segments: p.Segments, SegmentsLeft: uint8(len(p.Segments) - 1)}
	if p.Probe != nil {
		s.TLVs = append(s.TLVs, reg.ProbeTLV(*p.Probe))
	}
	if p.Slots {
		t, err := reg.SlotsTLV(len(p.Segments))
		if err != nil {
			return nil, err
		}
		s.TLVs = append(s.TLVs, t)
	}
	s.TLVs = append(s.TLVs, p.ExtraTLVs...)
	ip := &layers.IPv6{
		Version:    6,
		FlowLabel:  p.FlowLabel,
		NextHeader: layers.IPProtocolIPv6Routing,
		HopLimit:   64,
		SrcIP:      p.Src.AsSlice(),
		DstIP:      p.Segments[0].AsSlice(),
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ip, s); err != nil {
		return nil, fmt.Errorf("serialize probe: %w", err)
	}
	out := buf.Bytes()
	// gopacket's IPv6 sets next header from the layer; make sure it is 43.
	out[6] = byte(layers.IPProtocolIPv6Routing)
	if len(p.Before) == 0 {
		return out, nil
	}
	full := append([]byte(nil), out[:40]...)
	full[6] = p.Before[0].Type
	for i, h := range p.Before {
		b := append([]byte(nil), h.Bytes...)
		b[0] = byte(layers.IPProtocolIPv6Routing)
		if i+1 < len(p.Before) {
			b[0] = p.Before[i+1].Type
		}
		full = append(full, b...)
	}
	full = append(full, out[40:]...)
	binary.BigEndian.PutUint16(full[4:6], uint16(len(full)-40))
	return full, nil
}

// Send sends a crafted IPv6 packet (header included) from node's namespace.
func Send(lab *testnet.Lab, node string, pkt []byte) error {
	return lab.Exec(node, func() error {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return fmt.Errorf("raw IPv6 socket: %w", err)
		}
		defer unix.Close(fd)
		// IPPROTO_RAW implies IPV6_HDRINCL on Linux; setting it says so explicitly.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_HDRINCL, 1); err != nil {
			return fmt.Errorf("IPV6_HDRINCL: %w", err)
		}
		var dst unix.SockaddrInet6
		copy(dst.Addr[:], pkt[24:40])
		if err := unix.Sendto(fd, pkt, 0, &dst); err != nil {
			return fmt.Errorf("send crafted packet: %w", err)
		}
		return nil
	})
}

// SendAll sends crafted IPv6 packets (headers included) from node's namespace on one raw
// socket, in bursts of 100 a millisecond apart so that no queue on the way drops them.
func SendAll(lab *testnet.Lab, node string, pkts [][]byte) error {
	return lab.Exec(node, func() error {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return fmt.Errorf("raw IPv6 socket: %w", err)
		}
		defer unix.Close(fd)
		for i, pkt := range pkts {
			var dst unix.SockaddrInet6
			copy(dst.Addr[:], pkt[24:40])
			if err := unix.Sendto(fd, pkt, 0, &dst); err != nil {
				return fmt.Errorf("send crafted packet %d: %w", i, err)
			}
			if i%100 == 99 {
				time.Sleep(time.Millisecond)
			}
		}
		return nil
	})
}

// Capture receives the IPv6 packets (from the IPv6 header) that arrive on one interface, as
// they arrived: a labtest.Ring (AF_PACKET, ETH_P_ALL, TPACKET_V2), which on the first SID's node
// shows the packet as the node before it sent it, not as End left it.
type Capture struct {
	ring *labtest.Ring
}

// Listen opens a capture on node's interface ifname.
func Listen(lab *testnet.Lab, node, ifname string) (*Capture, error) {
	r, err := labtest.ListenRing(lab, node, ifname)
	if err != nil {
		return nil, err
	}
	return &Capture{ring: r}, nil
}

// Close closes the capture.
func (c *Capture) Close() error { return c.ring.Close() }

// ErrTimeout is returned by Next when no matching packet arrived in time.
var ErrTimeout = errors.New("no matching packet before the deadline")

// Next returns the next captured packet with the given flow label, and CLOCK_TAI just after it
// was read.
func (c *Capture) Next(flowLabel uint32, timeout time.Duration) ([]byte, int64, error) {
	deadline := time.Now().Add(timeout)
	for {
		pkt, _, err := c.ring.Next(max(time.Until(deadline), 0))
		if errors.Is(err, labtest.ErrTimeout) {
			return nil, 0, ErrTimeout
		}
		if err != nil {
			return nil, 0, err
		}
		now := probes.TAINow()
		if binary.BigEndian.Uint32(pkt[0:4])&0xfffff == flowLabel {
			return pkt, now, nil
		}
	}
}

// SameExceptForwarding reports the first difference between a sent SRv6 packet and its copy
// captured after End processing, ignoring what forwarding legitimately changes: the hop limit,
// the destination address and Segments Left. ignore lists further byte ranges [from, to) to
// skip (for example a timestamp slot).
func SameExceptForwarding(sent, got []byte, ignore ...[2]int) error {
	if len(sent) != len(got) {
		return fmt.Errorf("length %d, sent %d", len(got), len(sent))
	}
	skip := func(i int) bool {
		if i == 7 || (i >= 24 && i < 40) || i == 43 {
			return true
		}
		for _, r := range ignore {
			if i >= r[0] && i < r[1] {
				return true
			}
		}
		return false
	}
	for i := range sent {
		if !skip(i) && sent[i] != got[i] {
			return fmt.Errorf("byte %d: got %#02x, sent %#02x", i, got[i], sent[i])
		}
	}
	return nil
}

// SlotOffset is the offset, from the IPv6 header, of timestamp slot k of a packet built by
// Packet.Bytes with a Probe TLV and a Slots TLV as the first TLVs.
func SlotOffset(segments, k int) int {
	return 40 + 8 + 16*segments + 40 + 8 + 16*k
}
