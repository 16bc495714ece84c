package testnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// SEG6 generic netlink (include/uapi/linux/seg6_genl.h): vishvananda/netlink
// has no binding for it, so the two commands we need are built here.
const (
	seg6GenlName    = "SEG6"
	seg6GenlVersion = 1

	seg6CmdSetHMAC   = 1
	seg6CmdSetTunSrc = 3

	seg6AttrDst       = 1
	seg6AttrHMACKeyID = 3
	seg6AttrSecret    = 4
	seg6AttrSecretLen = 5
	seg6AttrAlgID     = 6

	seg6HMACAlgoSHA1   = 1
	seg6HMACAlgoSHA256 = 2

	srhFlagHMAC   = 1 << 3 // SR6_FLAG1_HMAC: Linux looks for the HMAC TLV only with it
	tlvTypeHMAC   = 5
	hmacTLVLength = 40 // type, length, reserved(2), key id(4), HMAC(32)
)

// seg6Genl sends one SEG6 command from the calling thread's namespace.
func seg6Genl(cmd uint8, attrs ...*nl.RtAttr) error {
	fam, err := netlink.GenlFamilyGet(seg6GenlName)
	if err != nil {
		return fmt.Errorf("generic netlink family SEG6: %w (kernel needs CONFIG_IPV6_SEG6_LWTUNNEL)", err)
	}
	req := nl.NewNetlinkRequest(int(fam.ID), unix.NLM_F_ACK)
	req.AddData(&nl.Genlmsg{Command: cmd, Version: seg6GenlVersion})
	for _, a := range attrs {
		req.AddData(a)
	}
	if _, err := req.Execute(unix.NETLINK_GENERIC, 0); err != nil {
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("%w (SEG6 commands need CAP_NET_ADMIN)", err)
		}
		return err
	}
	return nil
}

// setHMACKey installs an HMAC key in the calling thread's namespace
// (iproute2: ip sr hmac set).
func setHMACKey(k HMACKey) error {
	alg := uint8(seg6HMACAlgoSHA256)
	if k.Algorithm == "sha1" {
		alg = seg6HMACAlgoSHA1
	}
	err := seg6Genl(seg6CmdSetHMAC,
		nl.NewRtAttr(seg6AttrHMACKeyID, nl.Uint32Attr(k.ID)),
		nl.NewRtAttr(seg6AttrSecret, []byte(k.Secret)),
		nl.NewRtAttr(seg6AttrSecretLen, nl.Uint8Attr(uint8(len(k.Secret)))),
		nl.NewRtAttr(seg6AttrAlgID, nl.Uint8Attr(alg)))
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("set HMAC key %d: %w (kernel needs CONFIG_IPV6_SEG6_HMAC)", k.ID, err)
		}
		return fmt.Errorf("set HMAC key %d: %w", k.ID, err)
	}
	return nil
}

// setTunnelSource sets the outer source address of H.Encaps packets
// (iproute2: ip sr tunsrc set).
func setTunnelSource(a netip.Addr) error {
	b := a.As16()
	if err := seg6Genl(seg6CmdSetTunSrc, nl.NewRtAttr(seg6AttrDst, b[:])); err != nil {
		return fmt.Errorf("set SRv6 tunnel source %s: %w", a, err)
	}
	return nil
}

// srhEncap is the seg6 lightweight tunnel of a headend policy. Unlike
// netlink.SEG6Encap it takes segments in travel order, reserves the slot
// H.Insert fills with the original destination, and can carry an HMAC TLV
// (the kernel computes the HMAC per packet with the node's key).
type srhEncap struct {
	mode      PolicyMode
	segments  []netip.Addr // travel order: segments[0] is visited first
	hmacKeyID uint32
}

var _ netlink.Encap = (*srhEncap)(nil)

func (e *srhEncap) Type() int { return nl.LWTUNNEL_ENCAP_SEG6 }

// srh encodes the routing header as the kernel expects it in
// SEG6_IPTUNNEL_SRH (struct ipv6_sr_hdr, segments in reverse order).
func (e *srhEncap) srh() []byte {
	segs := make([]netip.Addr, 0, len(e.segments)+1)
	if e.mode == Inline {
		segs = append(segs, netip.IPv6Unspecified()) // the kernel writes the original destination here
	}
	for i := len(e.segments) - 1; i >= 0; i-- {
		segs = append(segs, e.segments[i])
	}
	size := 8 + 16*len(segs)
	if e.hmacKeyID != 0 {
		size += hmacTLVLength
	}
	b := make([]byte, 8, size)
	b[1] = byte((size - 8) / 8) // Hdr Ext Len
	b[2] = 4                    // Routing Type: SRH
	b[3] = byte(len(segs) - 1)  // Segments Left
	b[4] = byte(len(segs) - 1)  // Last Entry
	if e.hmacKeyID != 0 {
		b[5] = srhFlagHMAC
	}
	for _, s := range segs {
		a := s.As16()
		b = append(b, a[:]...)
	}
	if e.hmacKeyID != 0 {
		tlv := make([]byte, hmacTLVLength)
		tlv[0], tlv[1] = tlvTypeHMAC, hmacTLVLength-2
		binary.BigEndian.PutUint32(tlv[4:], e.hmacKeyID)
		b = append(b, tlv...)
	}
	return b
}

// The kernel's SEG6_IPTUN_MODE_* (include/uapi/linux/seg6_iptunnel.h);
// vishvananda/netlink names the first two only.
var iptunModes = map[PolicyMode]uint32{
	Inline:     0,
	Encap:      1,
	L2Encap:    2,
	EncapRed:   3,
	L2EncapRed: 4,
}

func (e *srhEncap) Encode() ([]byte, error) {
	if len(e.segments) == 0 {
		return nil, errors.New("seg6 encap: no segments")
	}
	srh := e.srh()
	mode, ok := iptunModes[e.mode]
	if !ok {
		return nil, fmt.Errorf("seg6 encap: unknown mode %q", e.mode)
	}
	out := make([]byte, 8, 8+len(srh))
	native := nl.NativeEndian()
	native.PutUint16(out[0:], uint16(8+len(srh)))
	native.PutUint16(out[2:], nl.SEG6_IPTUNNEL_SRH)
	native.PutUint32(out[4:], mode)
	return append(out, srh...), nil
}

// seg6localFlavors is a seg6local encap with the SEG6_LOCAL_FLAVORS
// attribute, which vishvananda/netlink does not know: its own encoding
// followed by the flavors (include/uapi/linux/seg6_local.h).
type seg6localFlavors struct {
	*netlink.SEG6LocalEncap
	ops          uint32 // bit SEG6_LOCAL_FLV_OP_*
	lblen, nflen uint8  // next-csid only
}

const (
	seg6LocalFlavors        = 11 // SEG6_LOCAL_FLAVORS
	seg6LocalFlvOperation   = 1  // SEG6_LOCAL_FLV_OPERATION (u32 bitmask)
	seg6LocalFlvLCBlockBits = 2  // SEG6_LOCAL_FLV_LCBLOCK_BITS (u8)
	seg6LocalFlvLCNodeFn    = 3  // SEG6_LOCAL_FLV_LCNODE_FN_BITS (u8)
)

// flavorOps are the bits of SEG6_LOCAL_FLV_OPERATION (1 << SEG6_LOCAL_FLV_OP_*).
var flavorOps = map[string]uint32{
	FlavorPSP:      1 << 1,
	FlavorUSP:      1 << 2,
	FlavorUSD:      1 << 3,
	FlavorNextCSID: 1 << 4,
}

func (e *seg6localFlavors) Encode() ([]byte, error) {
	b, err := e.SEG6LocalEncap.Encode()
	if err != nil {
		return nil, err
	}
	attr := nl.NewRtAttr(seg6LocalFlavors|unix.NLA_F_NESTED, nil)
	attr.AddRtAttr(seg6LocalFlvOperation, nl.Uint32Attr(e.ops))
	if e.ops&flavorOps[FlavorNextCSID] != 0 {
		attr.AddRtAttr(seg6LocalFlvLCBlockBits, nl.Uint8Attr(e.lblen))
		attr.AddRtAttr(seg6LocalFlvLCNodeFn, nl.Uint8Attr(e.nflen))
	}
	return append(b, attr.Serialize()...), nil
}

func (e *srhEncap) Decode(b []byte) error {
	return errors.New("seg6 encap: decoding is not supported (use netlink.SEG6Encap)")
}

func (e *srhEncap) String() string {
	return fmt.Sprintf("seg6 mode %s segs %v hmac %d", e.mode, e.segments, e.hmacKeyID)
}

func (e *srhEncap) Equal(x netlink.Encap) bool {
	o, ok := x.(*srhEncap)
	if !ok {
		return false
	}
	a, _ := e.Encode()
	c, _ := o.Encode()
	return bytes.Equal(a, c)
}
