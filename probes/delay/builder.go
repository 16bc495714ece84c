package delay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
)

// ProbeConfig describes the timestamped probes a ProbeBuilder makes.
type ProbeConfig struct {
	// Path is the segment list in visiting order, the final segment last (for a reflected
	// probe, the prober's own address).
	Path     oam.SegmentList
	Source   netip.Addr
	Registry srh.Registry
	// Probe is the Probe TLV template: Session, Flags, ReportTo, ReportPort, CaptureLen.
	// Sequence and TxTimestamp are set per probe.
	Probe srh.Probe
	// ID is the ICMPv6 echo identifier.
	ID           uint16
	PayloadSize  int
	HopLimit     uint8
	TrafficClass uint8
	FlowLabel    uint32
	HMAC         *srh.HMACKey
	// IOAM, when set, is the IOAM Pre-allocated Trace (empty: as ioam.NewTrace makes it) the
	// probe carries in a Hop-by-Hop header in front of the SRH, for every IOAM-enabled hop to
	// fill. End.OAM finds the SRH behind it.
	IOAM *ioam.Trace
}

// ProbeBuilder crafts timestamped echo probes (SRH inserted, next header ICMPv6) into one
// reused buffer: Build does not allocate.
type ProbeBuilder struct {
	cfg     ProbeConfig
	buf     gopacket.SerializeBuffer
	opts    gopacket.SerializeOptions
	ip      layers.IPv6
	srh     srh.SRH
	icmp    layers.ICMPv6
	echo    layers.ICMPv6Echo
	payload gopacket.Payload
	hbh     ioam.HopByHop
	probe   srh.Probe
	list    []gopacket.SerializableLayer
}

// NewProbeBuilder checks cfg and prepares the layers; errors name the field.
func NewProbeBuilder(cfg ProbeConfig) (*ProbeBuilder, error) {
	n := len(cfg.Path)
	if n < 2 {
		return nil, fmt.Errorf("path: %d segment(s), want at least 2 (a SID to timestamp and the final segment)", n)
	}
	if n > srh.MaxSlots {
		return nil, fmt.Errorf("path: %d segments, at most %d fit in the Timestamp Slots TLV", n, srh.MaxSlots)
	}
	if !cfg.Source.Is6() || cfg.Source.Is4In6() {
		return nil, fmt.Errorf("source %v: not an IPv6 address", cfg.Source)
	}
	if cfg.PayloadSize < 0 || cfg.PayloadSize > 1024 {
		return nil, fmt.Errorf("payload size %d: must be 0 to 1024", cfg.PayloadSize)
	}
	if cfg.FlowLabel > 0xfffff {
		return nil, fmt.Errorf("flow label %#x: must fit in 20 bits", cfg.FlowLabel)
	}
	slots, err := cfg.Registry.SlotsTLV(n)
	if err != nil {
		return nil, fmt.Errorf("timestamp slots: %w", err)
	}
	b := &ProbeBuilder{
		cfg:   cfg,
		buf:   gopacket.NewSerializeBufferExpectedSize(40+hbhLen(cfg.IOAM)+8+16*n+40+8+16*n+48, 8+cfg.PayloadSize),
		opts:  gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		probe: cfg.Probe,
	}
	probeTLV := cfg.Registry.ProbeTLV(cfg.Probe)
	b.srh = srh.SRH{NextHeader: layers.IPProtocolICMPv6, SegmentsLeft: uint8(n - 1), Flags: srh.FlagOAM,
		Segments: cfg.Path, TLVs: []srh.TLV{probeTLV, slots}}
	if cfg.HMAC != nil {
		if err := b.srh.Sign(cfg.Source, *cfg.HMAC); err != nil {
			return nil, fmt.Errorf("sign the SRH (HMAC key id %d): %w", cfg.HMAC.ID, err)
		}
	}
	b.ip = layers.IPv6{Version: 6, TrafficClass: cfg.TrafficClass, FlowLabel: cfg.FlowLabel, HopLimit: cfg.HopLimit,
		NextHeader: layers.IPProtocolIPv6Routing, SrcIP: net.IP(cfg.Source.AsSlice()), DstIP: net.IP(cfg.Path[0].AsSlice())}
	b.icmp.TypeCode = layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)
	if err := b.icmp.SetNetworkLayerForChecksum(b.srh.ChecksumLayer(&b.ip)); err != nil {
		return nil, err
	}
	b.echo.Identifier = cfg.ID
	b.payload = make(gopacket.Payload, cfg.PayloadSize)
	probes.FillEchoData(b.payload) // the process's cookie: the host's own Echo Reply to it is no stranger's
	b.list = []gopacket.SerializableLayer{&b.ip, &b.srh, &b.icmp, &b.echo, &b.payload}
	if cfg.IOAM != nil {
		if len(cfg.IOAM.Data) == 0 {
			return nil, errors.New("IOAM trace: no room pre-allocated")
		}
		// The checksum's pseudo-header (ChecksumLayer above) is a copy: the Hop-by-Hop
		// header in front of the SRH does not change it.
		b.hbh = ioam.HopByHop{NextHeader: layers.IPProtocolIPv6Routing, HasTrace: true, Trace: *cfg.IOAM}
		b.ip.NextHeader = layers.IPProtocolIPv6HopByHop
		b.list = []gopacket.SerializableLayer{&b.ip, &b.hbh, &b.srh, &b.icmp, &b.echo, &b.payload}
	}
	if _, err := b.Build(0, 0); err != nil {
		return nil, fmt.Errorf("build the probe: %w", err)
	}
	return b, nil
}

// FirstHop is the destination address of the probes: the first segment.
func (b *ProbeBuilder) FirstHop() netip.Addr { return b.cfg.Path[0] }

// Build crafts probe seq with TX timestamp txTAI (CLOCK_TAI ns) in its Probe TLV. The bytes
// are valid until the next Build.
func (b *ProbeBuilder) Build(seq uint32, txTAI uint64) ([]byte, error) {
	b.probe.Sequence, b.probe.TxTimestamp = seq, txTAI
	if err := b.probe.MarshalTo(b.srh.TLVs[0].Value); err != nil {
		return nil, err
	}
	b.echo.SeqNumber = uint16(seq)
	if err := gopacket.SerializeLayers(b.buf, b.opts, b.list...); err != nil {
		return nil, err
	}
	return b.buf.Bytes(), nil
}

// hbhLen is the length of the Hop-by-Hop header carrying t (0 without a trace).
func hbhLen(t *ioam.Trace) int {
	if t == nil {
		return 0
	}
	return ioam.HopByHopLen(t)
}

// HeaderLen is the length of the probe's IPv6 header and Hop-by-Hop header together: the
// capture an End.OAM agent's report needs to carry the IOAM trace as the probe arrived.
func (b *ProbeBuilder) HeaderLen() int { return 40 + hbhLen(b.cfg.IOAM) }
