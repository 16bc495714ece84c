package probes

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/oam/srh"
)

// Encoding is how a probe carries its segment list: the headend behaviours of RFC 8986 §5
// and their reduced forms, built byte for byte as Linux builds them (seg6_iptunnel.c).
type Encoding uint8

const (
	// Encap is H.Encaps (RFC 8986 §5.1): an outer IPv6 header from the source to the first
	// segment and an SRH (next header 41) around the inner packet, an ordinary IPv6 Echo Request
	// from the source to the destination. The final segment decapsulates: an End.DT6/End.DX6
	// SID, or the destination itself (Linux decapsulates an SRH with Segments Left 0 and next
	// header 41 addressed to a local address when seg6_enabled is set on the interface).
	Encap Encoding = iota
	// Insert puts the SRH in the echo packet itself (next header 58): destination address the
	// first segment, ICMPv6 checksum over the final segment (RFC 8200 §8.1).
	Insert
	// EncapRed is H.Encaps.Red (RFC 8986 §5.2): Encap with the first segment in the outer
	// destination only. The SRH lists the segments after it, Segments Left is Last Entry + 1;
	// with a single segment there is no SRH at all (Linux's encap.red).
	EncapRed
	// InsertRed is Insert with the first segment left out of the SRH the same way (H.Insert.Red,
	// draft-filsfils-spring-srv6-net-pgm-insertion); Linux processes such an SRH at every End
	// node though its headend does not build one.
	InsertRed
)

func (e Encoding) String() string {
	switch e {
	case Insert:
		return "insert"
	case EncapRed:
		return "encap.red"
	case InsertRed:
		return "insert.red"
	}
	return "encap"
}

// Reduced reports whether e leaves the first segment out of the SRH.
func (e Encoding) Reduced() bool { return e == EncapRed || e == InsertRed }

// Encapsulates reports whether e puts an outer IPv6 header around the probe.
func (e Encoding) Encapsulates() bool { return e == Encap || e == EncapRed }

// SendsSRH reports whether a probe along a path of n segments carries an SRH in encoding e:
// always but for a reduced encapsulation of one segment (unless it must carry an HMAC TLV,
// which Linux keeps in a full SRH).
func (e Encoding) SendsSRH(n int, hmac bool) bool {
	return n > 0 && !(e.Reduced() && n == 1 && !hmac)
}

// Sends says what a probe to t in encoding e leaves with: an SRH (t has segments and e keeps
// one for them), an outer header (t has segments and e encapsulates).
func Sends(t oam.Target, e Encoding, hmac bool) oam.Sent {
	return oam.Sent{SRH: len(t.Segments) > 0 && e.SendsSRH(len(t.Path()), hmac), Encap: len(t.Segments) > 0 && e.Encapsulates()}
}

// EchoConfig describes the echo probes an EchoBuilder makes.
type EchoConfig struct {
	Target   oam.Target
	Source   netip.Addr
	Encoding Encoding
	// ID is the ICMPv6 echo identifier.
	ID uint16
	// PayloadSize is the number of data bytes after the 8-byte echo header (ping -s).
	PayloadSize int
	// HopLimit of the outer header (and of the inner one in Encap).
	HopLimit     uint8
	TrafficClass uint8
	// FlowLabel of the outer header (20 bits).
	FlowLabel uint32
	// OAM sets the SRH O-flag (RFC 9259).
	OAM bool
	// HMAC signs the SRH when set (Linux seg6_require_hmac).
	HMAC *srh.HMACKey
	// IOAM, when set, is the IOAM Pre-allocated Trace (empty: as ioam.NewTrace makes it) the
	// probe carries in a Hop-by-Hop header right behind its outer IPv6 header, for every
	// IOAM-enabled hop on the way to fill.
	IOAM *ioam.Trace
}

// MaxPayload is the largest echo payload EchoBuilder accepts.
const MaxPayload = 65000

// MaxEchoPath is the most segments an echo probe's SRH lists (the destination included, unless
// the last SID decapsulates): half of what an SRH can hold, the other half left for its TLVs.
const MaxEchoPath = 1 + srh.MaxSegments/2

// EchoBuilder crafts echo probes into one reused buffer: Build does not allocate.
type EchoBuilder struct {
	cfg      EchoConfig
	buf      gopacket.SerializeBuffer
	opts     gopacket.SerializeOptions
	outer    layers.IPv6
	hbh      ioam.HopByHop
	pseudo   layers.IPv6
	srh      srh.SRH
	inner    layers.IPv6
	icmp     layers.ICMPv6
	echo     layers.ICMPv6Echo
	payload  gopacket.Payload
	list     []gopacket.SerializableLayer
	firstHop netip.Addr
	// tmpl is the probe with sequence number 0, serialized once; Build copies it into out and
	// writes the sequence number and the ICMPv6 checksum at icmp (the offset of the ICMPv6
	// header), which is all that differs from one probe to the next.
	tmpl, out []byte
	icmp6     int
}

// echoCookie opens the payload of every Echo Request this process builds, when the payload has
// room for it (8 bytes: srv6-ping's default payload is 56). A raw ICMPv6 socket receives every
// Echo Reply that reaches the host, and another process's probes may carry the same echo
// identifier (a second srv6-monitor, an srv6-ping beside one: identifiers are 16 bits, chosen
// independently): a reply or error whose echo data does not start with this process's cookie
// answers somebody else's probe (RFC 4443 §4.2: a reply returns the request's data whole).
var echoCookie = func() (c [8]byte) {
	if _, err := crand.Read(c[:]); err != nil {
		panic("probes: no randomness for the echo cookie: " + err.Error())
	}
	return c
}()

// OwnEchoData reports whether data, the data of an Echo Reply or of the Echo Request quoted in
// an error, may belong to one of this process's probes: it starts with the process's cookie, or
// is too short to carry one (a probe with a smaller payload, or a quote cut short).
func OwnEchoData(data []byte) bool {
	return len(data) < len(echoCookie) || [8]byte(data[:8]) == echoCookie
}

// FillEchoData fills the data of an Echo Request this process sends: the cookie, then the bytes
// 0x08, 0x09, ... (each its offset, as iputils fills its pattern after its timestamp).
func FillEchoData(data []byte) {
	for i := range data {
		data[i] = byte(i)
	}
	copy(data, echoCookie[:])
}

// NewEchoBuilder checks cfg and prepares the layers; the error names the field at fault.
func NewEchoBuilder(cfg EchoConfig) (*EchoBuilder, error) {
	if !cfg.Target.Destination.Is6() || cfg.Target.Destination.Is4In6() {
		return nil, fmt.Errorf("destination %v: not an IPv6 address", cfg.Target.Destination)
	}
	if !cfg.Source.Is6() || cfg.Source.Is4In6() {
		return nil, fmt.Errorf("source %v: not an IPv6 address", cfg.Source)
	}
	if cfg.PayloadSize < 0 || cfg.PayloadSize > MaxPayload {
		return nil, fmt.Errorf("payload size %d: must be 0 to %d", cfg.PayloadSize, MaxPayload)
	}
	if cfg.FlowLabel > 0xfffff {
		return nil, fmt.Errorf("flow label %#x: must fit in 20 bits", cfg.FlowLabel)
	}
	if cfg.Encoding > InsertRed {
		return nil, fmt.Errorf("encoding %d: unknown", cfg.Encoding)
	}
	if cfg.Target.Decap && (!cfg.Encoding.Encapsulates() || len(cfg.Target.Segments) == 0) {
		return nil, errors.New("decap at the last segment needs an encapsulation (encap or encap.red) and a segment list")
	}
	path := cfg.Target.Path()
	if len(path) > MaxEchoPath {
		return nil, fmt.Errorf("segment list: %d segments is more than an SRH holds with room for TLVs", len(path))
	}
	if len(cfg.Target.Segments) == 0 && (cfg.OAM || cfg.HMAC != nil) {
		return nil, errors.New("the O-flag and HMAC need a segment list: without one there is no SRH")
	}
	b := &EchoBuilder{
		cfg:      cfg,
		buf:      gopacket.NewSerializeBufferExpectedSize(40+40+16*len(path)+48+hbhLen(cfg.IOAM), 8+cfg.PayloadSize),
		opts:     gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		firstHop: cfg.Target.FirstHop(),
	}
	src := net.IP(cfg.Source.AsSlice())
	b.payload = make(gopacket.Payload, cfg.PayloadSize)
	FillEchoData(b.payload)
	b.icmp.TypeCode = layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)
	b.echo.Identifier = cfg.ID
	b.outer = layers.IPv6{
		Version:      6,
		TrafficClass: cfg.TrafficClass,
		FlowLabel:    cfg.FlowLabel,
		HopLimit:     cfg.HopLimit,
		SrcIP:        src,
		DstIP:        net.IP(b.firstHop.AsSlice()),
	}
	if len(cfg.Target.Segments) == 0 {
		b.outer.NextHeader = layers.IPProtocolICMPv6
		if err := b.icmp.SetNetworkLayerForChecksum(&b.outer); err != nil {
			return nil, err
		}
		b.list = []gopacket.SerializableLayer{&b.outer, &b.icmp, &b.echo, &b.payload}
		if err := b.withIOAM(); err != nil {
			return nil, err
		}
		return b, nil
	}
	if !cfg.Encoding.SendsSRH(len(path), cfg.HMAC != nil) {
		// H.Encaps.Red of one segment: the outer header alone, straight to the inner packet.
		if cfg.OAM {
			return nil, errors.New("the O-flag needs an SRH: a reduced encapsulation of one segment has none")
		}
		b.outer.NextHeader = layers.IPProtocolIPv6
		b.inner = layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: cfg.HopLimit, FlowLabel: cfg.FlowLabel, SrcIP: src,
			DstIP: net.IP(cfg.Target.Destination.AsSlice())}
		if err := b.icmp.SetNetworkLayerForChecksum(&b.inner); err != nil {
			return nil, err
		}
		b.list = []gopacket.SerializableLayer{&b.outer, &b.inner, &b.icmp, &b.echo, &b.payload}
		if err := b.withIOAM(); err != nil {
			return nil, err
		}
		if _, err := b.Build(0); err != nil {
			return nil, fmt.Errorf("build the probe: %w", err)
		}
		return b, nil
	}
	b.outer.NextHeader = layers.IPProtocolIPv6Routing
	b.srh = srh.SRH{Segments: path, SegmentsLeft: uint8(len(path) - 1)}
	if cfg.Encoding.Reduced() && (len(path) > 1 || cfg.HMAC == nil) {
		// The first segment travels in the destination address only; Segments Left still
		// counts it (RFC 8986 §5.2: Last Entry + 1).
		b.srh.Segments = path[1:]
	}
	if cfg.OAM {
		b.srh.Flags |= srh.FlagOAM
	}
	switch cfg.Encoding {
	case Encap, EncapRed:
		b.srh.NextHeader = layers.IPProtocolIPv6
		// The inner header carries the flow label too: a Linux headend copies the inner
		// packet's label to the outer header (net.ipv6.seg6_flowlabel 0, the default), so its
		// packets have both equal.
		b.inner = layers.IPv6{
			Version:    6,
			NextHeader: layers.IPProtocolICMPv6,
			HopLimit:   cfg.HopLimit,
			FlowLabel:  cfg.FlowLabel,
			SrcIP:      src,
			DstIP:      net.IP(cfg.Target.Destination.AsSlice()),
		}
		if err := b.icmp.SetNetworkLayerForChecksum(&b.inner); err != nil {
			return nil, err
		}
		b.list = []gopacket.SerializableLayer{&b.outer, &b.srh, &b.inner, &b.icmp, &b.echo, &b.payload}
	case Insert, InsertRed:
		b.srh.NextHeader = layers.IPProtocolICMPv6
		if err := b.icmp.SetNetworkLayerForChecksum(b.srh.ChecksumLayer(&b.outer)); err != nil {
			return nil, err
		}
		b.list = []gopacket.SerializableLayer{&b.outer, &b.srh, &b.icmp, &b.echo, &b.payload}
	}
	if cfg.HMAC != nil {
		if err := b.srh.Sign(cfg.Source, *cfg.HMAC); err != nil {
			return nil, fmt.Errorf("sign the SRH (HMAC key id %d): %w", cfg.HMAC.ID, err)
		}
	}
	if err := b.withIOAM(); err != nil {
		return nil, err
	}
	// Serialize once to surface any error now rather than on the first probe.
	if _, err := b.Build(0); err != nil {
		return nil, fmt.Errorf("build the probe: %w", err)
	}
	return b, nil
}

func hbhLen(t *ioam.Trace) int {
	if t == nil {
		return 0
	}
	return ioam.HopByHopLen(t)
}

// withIOAM puts the Hop-by-Hop header with the IOAM trace behind the outer header, when the
// probe carries one. The ICMPv6 checksum does not cover it.
func (b *EchoBuilder) withIOAM() error {
	if b.cfg.IOAM == nil {
		return nil
	}
	if len(b.cfg.IOAM.Data) == 0 {
		return errors.New("IOAM trace: no room pre-allocated")
	}
	b.hbh = ioam.HopByHop{NextHeader: b.outer.NextHeader, HasTrace: true, Trace: *b.cfg.IOAM}
	if len(b.cfg.Target.Segments) == 0 {
		// The checksum's pseudo-header is the outer one's: hand gopacket a copy without the
		// Hop-by-Hop header, which it would otherwise try to walk on every probe.
		b.pseudo = b.outer
		if err := b.icmp.SetNetworkLayerForChecksum(&b.pseudo); err != nil {
			return err
		}
	}
	b.outer.NextHeader = layers.IPProtocolIPv6HopByHop
	b.list = append([]gopacket.SerializableLayer{&b.outer, &b.hbh}, b.list[1:]...)
	b.tmpl = nil
	if _, err := b.Build(0); err != nil {
		return fmt.Errorf("build the probe: %w", err)
	}
	return nil
}

// FirstHop is where the packet goes first: the address to pass to Conn.Send.
func (b *EchoBuilder) FirstHop() netip.Addr { return b.firstHop }

// Build crafts the echo probe with sequence number seq. The bytes are valid until the next Build
// (which does not read them back: a caller may change them, as ping does the flow label).
func (b *EchoBuilder) Build(seq uint16) ([]byte, error) {
	if b.tmpl == nil {
		if err := b.serialize(); err != nil {
			return nil, err
		}
	}
	copy(b.out, b.tmpl)
	icmp := b.out[b.icmp6:]
	binary.BigEndian.PutUint16(icmp[6:8], seq)
	// The template's sequence number is 0: the checksum changes by seq alone (RFC 1624, eqn. 3:
	// HC' = ~(~HC + ~m + m'), with ~m = ~0, one's complement's zero).
	sum := uint32(^binary.BigEndian.Uint16(icmp[2:4])) + uint32(seq)
	sum = sum&0xffff + sum>>16
	binary.BigEndian.PutUint16(icmp[2:4], ^uint16(sum&0xffff+sum>>16))
	return b.out, nil
}

// serialize makes the template: the whole probe, sequence number 0, through gopacket.
func (b *EchoBuilder) serialize() error {
	b.echo.SeqNumber = 0
	if err := gopacket.SerializeLayers(b.buf, b.opts, b.list...); err != nil {
		return err
	}
	pkt := b.buf.Bytes()
	b.tmpl = append(b.tmpl[:0], pkt...)
	b.out = make([]byte, len(pkt))
	b.icmp6 = len(pkt) - b.EchoBytes()
	return nil
}

// EchoBytes is the size of the ICMPv6 echo message (header and payload) that Build makes.
func (b *EchoBuilder) EchoBytes() int { return 8 + b.cfg.PayloadSize }
