package testnet

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/oam/srh"
)

// Routes are read with a raw RTM_GETROUTE dump rather than
// netlink.RouteList: vishvananda/netlink fails the whole listing on a seg6
// route whose SRH carries TLVs ("DecodeSEG6Encap: error parsing Segment
// List"), and the policies of hmac.yaml carry an HMAC TLV. seg6 encaps are
// decoded here (struct seg6_iptunnel_encap, then the SRH through oam/srh);
// seg6local ones still go through netlink.SEG6LocalEncap.

// rawRoute is what Status needs of one IPv6 route of the main table.
type rawRoute struct {
	dst       netip.Prefix
	encapType uint16
	encap     []byte // RTA_ENCAP's payload (nested attributes)
}

// listRoutes6 dumps the IPv6 routes of the main table in the calling
// thread's namespace.
func listRoutes6() ([]rawRoute, error) {
	var msgs [][]byte
	var err error
	for try := 0; try < 5; try++ {
		req := nl.NewNetlinkRequest(unix.RTM_GETROUTE, unix.NLM_F_DUMP)
		msg := nl.NewRtMsg()
		msg.Family = unix.AF_INET6
		req.AddData(msg)
		msgs, err = req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWROUTE)
		if !errors.Is(err, nl.ErrDumpInterrupted) {
			break // the routes changed during the dump: ask again
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dump IPv6 routes: %w", err)
	}
	var out []rawRoute
	for _, m := range msgs {
		r, ok, err := parseRouteMsg(m)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// parseRouteMsg decodes one RTM_NEWROUTE message; ok is false for routes
// Status does not show (other tables, not unicast).
func parseRouteMsg(m []byte) (r rawRoute, ok bool, err error) {
	if len(m) < unix.SizeofRtMsg {
		return r, false, fmt.Errorf("route message: %d bytes, shorter than struct rtmsg (%d)", len(m), unix.SizeofRtMsg)
	}
	rtm := nl.DeserializeRtMsg(m)
	attrs, err := parseAttrs(m[unix.SizeofRtMsg:])
	if err != nil {
		return r, false, fmt.Errorf("route message attributes: %w", err)
	}
	table := uint32(rtm.Table)
	dst := netip.IPv6Unspecified()
	for _, a := range attrs {
		switch a.typ {
		case unix.RTA_TABLE:
			if len(a.value) >= 4 {
				table = nl.NativeEndian().Uint32(a.value)
			}
		case unix.RTA_DST:
			if len(a.value) != 16 {
				return r, false, fmt.Errorf("route message: RTA_DST of %d bytes, want 16", len(a.value))
			}
			dst = netip.AddrFrom16([16]byte(a.value))
		case unix.RTA_ENCAP_TYPE:
			if len(a.value) >= 2 {
				r.encapType = nl.NativeEndian().Uint16(a.value)
			}
		case unix.RTA_ENCAP:
			r.encap = a.value
		}
	}
	if table != unix.RT_TABLE_MAIN || rtm.Type != unix.RTN_UNICAST || rtm.Dst_len > 128 {
		return r, false, nil
	}
	r.dst = netip.PrefixFrom(dst, int(rtm.Dst_len))
	return r, true, nil
}

// seg6Encap is a decoded seg6 lightweight tunnel (a headend policy).
type seg6Encap struct {
	mode      int          // SEG6_IPTUN_MODE_*
	segments  []netip.Addr // travel order, as in the SRH (an inline SRH's last slot included)
	hmacKeyID uint32       // 0: no HMAC TLV
}

// decodeSeg6Encap decodes RTA_ENCAP of a LWTUNNEL_ENCAP_SEG6 route: the
// nested SEG6_IPTUNNEL_SRH attribute holds struct seg6_iptunnel_encap, a
// native-endian int mode followed by struct ipv6_sr_hdr.
func decodeSeg6Encap(b []byte) (seg6Encap, error) {
	var e seg6Encap
	attrs, err := parseAttrs(b)
	if err != nil {
		return e, fmt.Errorf("seg6 encap attributes: %w", err)
	}
	for _, a := range attrs {
		if a.typ != nl.SEG6_IPTUNNEL_SRH {
			continue
		}
		if len(a.value) < 4 {
			return e, fmt.Errorf("seg6 encap: SEG6_IPTUNNEL_SRH of %d bytes, no room for the mode", len(a.value))
		}
		e.mode = int(int32(nl.NativeEndian().Uint32(a.value)))
		var h srh.SRH
		if err := h.DecodeFromBytes(a.value[4:], gopacket.NilDecodeFeedback); err != nil {
			return e, fmt.Errorf("seg6 encap: %w", err)
		}
		e.segments = append([]netip.Addr(nil), h.Segments...)
		if tlv, ok := h.FindTLV(srh.TypeHMAC); ok {
			hm, err := srh.ParseHMAC(tlv.Value)
			if err != nil {
				return e, fmt.Errorf("seg6 encap: HMAC TLV: %w", err)
			}
			e.hmacKeyID = hm.KeyID
		}
		return e, nil
	}
	return e, errors.New("seg6 encap: no SEG6_IPTUNNEL_SRH attribute")
}

// String is the policy as Status shows it: mode, segments in travel order
// (without the slot H.Insert fills with the original destination) and the
// HMAC key id.
func (e seg6Encap) String() string {
	segs := make([]string, 0, len(e.segments))
	for _, s := range e.segments {
		segs = append(segs, s.String())
	}
	if e.mode == nl.SEG6_IPTUN_MODE_INLINE && len(segs) > 0 {
		segs = segs[:len(segs)-1]
	}
	s := fmt.Sprintf("%s segs [%s]", nl.SEG6EncapModeString(e.mode), strings.Join(segs, " "))
	if e.hmacKeyID != 0 {
		s += fmt.Sprintf(" hmac %d", e.hmacKeyID)
	}
	return s
}

// sidString describes a seg6local route: "fc00:0:2::e1 End.X nh6 fd00:0:0:2::2".
func sidString(dst netip.Addr, encap []byte) string {
	var e netlink.SEG6LocalEncap
	// netlink's own attribute parser panics on malformed input: check first.
	if _, err := parseAttrs(encap); err != nil {
		return fmt.Sprintf("%s seg6local (cannot decode: %v)", dst, err)
	}
	if err := e.Decode(encap); err != nil {
		return fmt.Sprintf("%s seg6local (cannot decode: %v)", dst, err)
	}
	s := fmt.Sprintf("%s %s", dst, nl.SEG6LocalActionString(e.Action))
	if e.Flags[nl.SEG6_LOCAL_NH6] {
		s += " nh6 " + e.In6Addr.String()
	}
	if e.Flags[nl.SEG6_LOCAL_TABLE] {
		s += fmt.Sprintf(" table %d", e.Table)
	}
	return s
}

// attr is one netlink attribute (struct rtattr and its payload).
type attr struct {
	typ   uint16
	value []byte
}

// parseAttrs splits b into netlink attributes, checking every length (nl.ParseRouteAttr
// slices out of range on a short or overlong rta_len).
func parseAttrs(b []byte) ([]attr, error) {
	var out []attr
	for off := 0; off < len(b); {
		if len(b)-off < unix.SizeofRtAttr {
			return nil, fmt.Errorf("attribute at offset %d: %d bytes left, a header needs %d", off, len(b)-off, unix.SizeofRtAttr)
		}
		l := int(nl.NativeEndian().Uint16(b[off:]))
		typ := nl.NativeEndian().Uint16(b[off+2:])
		if l < unix.SizeofRtAttr || l > len(b)-off {
			return nil, fmt.Errorf("attribute type %d at offset %d: length %d outside %d-%d", typ, off, l, unix.SizeofRtAttr, len(b)-off)
		}
		out = append(out, attr{typ: typ &^ unix.NLA_F_NESTED, value: b[off+unix.SizeofRtAttr : off+l : off+l]})
		off += (l + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1)
	}
	return out, nil
}
