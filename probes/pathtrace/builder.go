package pathtrace

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/oam/pt"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
)

// BuildConfig describes the Path Tracing probes a Builder makes.
type BuildConfig struct {
	// Path is the segment list in visiting order, ending at the prober's own address so that
	// the probe comes back with every midpoint's MCD.
	Path   []netip.Addr
	Source netip.Addr
	// ID is the ICMPv6 echo identifier; Session goes into the PT TLV.
	ID, Session uint16
	// MCDs is the size of the pre-allocated stack (pt.DefaultMCDs when 0).
	MCDs int
	// IOAM, when set, is the IOAM Pre-allocated Trace the probe's Hop-by-Hop header carries
	// instead of the Path Tracing option (srv6-ping --ioam): every IOAM-enabled hop there and
	// back fills an entry.
	IOAM        *ioam.Trace
	HopLimit    uint8
	FlowLabel   uint32
	PayloadSize int
}

// Builder crafts Path Tracing probes into one reused buffer: an ICMPv6 Echo Request with the SRH
// in it (the final segment is the prober, so the ICMPv6 checksum is over its own address), a
// Hop-by-Hop header with an empty MCD stack in front of the SRH, and the source's PT TLV (this
// probe's session, sequence and transmit time) in the SRH. Build does not allocate.
type Builder struct {
	pkt      []byte
	tlvOff   int // the PT TLV's value
	icmpOff  int
	sumStart uint32 // the checksum of the pseudo-header and the fixed part of the message
}

// MaxPayload is the largest echo payload a Builder accepts.
const MaxPayload = 8000

// NewBuilder checks cfg and builds the template; errors name the field.
func NewBuilder(cfg BuildConfig) (*Builder, error) {
	n := len(cfg.Path)
	if n < 2 {
		return nil, fmt.Errorf("path: %d segment(s), want at least 2 (a segment to visit and the way back)", n)
	}
	if n > srh.MaxSegments {
		return nil, fmt.Errorf("path: %d segments, an SRH holds at most %d", n, srh.MaxSegments)
	}
	for i, a := range cfg.Path {
		if !a.Is6() || a.Is4In6() {
			return nil, fmt.Errorf("path[%d] %v: not an IPv6 address", i, a)
		}
	}
	if !cfg.Source.Is6() || cfg.Source.Is4In6() {
		return nil, fmt.Errorf("source %v: not an IPv6 address", cfg.Source)
	}
	if cfg.PayloadSize < 0 || cfg.PayloadSize > MaxPayload {
		return nil, fmt.Errorf("payload size %d: want 0 to %d", cfg.PayloadSize, MaxPayload)
	}
	if cfg.MCDs == 0 {
		cfg.MCDs = pt.DefaultMCDs
	}
	if cfg.HopLimit == 0 {
		cfg.HopLimit = 64
	}
	var hbh []byte
	if cfg.IOAM != nil {
		if len(cfg.IOAM.Data) == 0 {
			return nil, fmt.Errorf("IOAM trace: no room pre-allocated")
		}
		var err error
		if hbh, err = ioam.AppendHopByHop(nil, 43, cfg.IOAM); err != nil {
			return nil, err
		}
	} else {
		opt, err := pt.NewOption(cfg.MCDs)
		if err != nil {
			return nil, err
		}
		if hbh, err = pt.AppendHopByHop(nil, 43, &opt); err != nil {
			return nil, err
		}
	}
	tlv := (&pt.SourceTLV{Session: cfg.Session}).AppendBinary(nil)
	s := srh.SRH{NextHeader: 58, Segments: cfg.Path, SegmentsLeft: uint8(n - 1), TLVs: []srh.TLV{{Type: tlv[0], Value: tlv[2:]}}}
	srhBytes, err := s.AppendBinary(nil)
	if err != nil {
		return nil, fmt.Errorf("segment routing header: %w", err)
	}
	icmpLen := 8 + cfg.PayloadSize
	size := 40 + len(hbh) + len(srhBytes) + icmpLen
	if size-40 > 0xffff {
		return nil, fmt.Errorf("probe of %d octets: larger than an IPv6 payload can be", size)
	}
	b := &Builder{pkt: make([]byte, 0, size)}
	p := b.pkt
	var ip [40]byte
	binary.BigEndian.PutUint32(ip[0:], 6<<28|cfg.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(ip[4:], uint16(size-40))
	ip[6], ip[7] = 0, cfg.HopLimit
	src, dst := cfg.Source.As16(), cfg.Path[0].As16()
	copy(ip[8:], src[:])
	copy(ip[24:], dst[:])
	p = append(p, ip[:]...)
	p = append(p, hbh...)
	b.tlvOff = len(p) + len(srhBytes) - pt.TLVSize + 2
	p = append(p, srhBytes...)
	b.icmpOff = len(p)
	p = append(p, 128, 0, 0, 0, byte(cfg.ID>>8), byte(cfg.ID), 0, 0)
	p = append(p, make([]byte, cfg.PayloadSize)...)
	// The process's cookie: an ioam job's probe ends at the monitor, whose echo socket sees the
	// host's own Echo Reply to it under the job's identifier; without it that reply is foreign.
	probes.FillEchoData(p[len(p)-cfg.PayloadSize:])
	b.pkt = p
	// The checksum's pseudo-header names the final segment, the prober itself (RFC 8200 §8.1).
	final := cfg.Path[n-1].As16()
	var sum uint32
	sum = addSum(sum, src[:])
	sum = addSum(sum, final[:])
	sum += uint32(icmpLen>>16) + uint32(icmpLen&0xffff) + 58
	icmp := p[b.icmpOff:]
	sum = addSum(sum, icmp[:6]) // type, code, checksum 0, identifier
	sum = addSum(sum, icmp[8:]) // the payload
	b.sumStart = sum
	if p[b.tlvOff-2] != pt.TLVType {
		return nil, fmt.Errorf("path tracing TLV not at the end of the SRH (octet %d)", b.tlvOff-2)
	}
	return b, nil
}

// Build writes probe seq, sent at t64, and returns it; valid until the next Build.
func (b *Builder) Build(seq uint16, t64 time.Time) []byte {
	ts := pt.TimestampOf(t64)
	v := b.pkt[b.tlvOff:]
	binary.BigEndian.PutUint32(v[2:], ts.Seconds)
	binary.BigEndian.PutUint32(v[6:], ts.Nanoseconds)
	binary.BigEndian.PutUint16(v[12:], seq)
	icmp := b.pkt[b.icmpOff:]
	binary.BigEndian.PutUint16(icmp[6:], seq)
	sum := b.sumStart + uint32(seq)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(icmp[2:], ^uint16(sum))
	return b.pkt
}

// FirstHop is where the probe goes first: the destination of its IPv6 header.
func (b *Builder) FirstHop() netip.Addr { return netip.AddrFrom16([16]byte(b.pkt[24:40])) }

// addSum adds b to a ones'-complement sum as 16-bit big-endian words (b's length even, or its
// last byte the high half of a word).
func addSum(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return sum
}
