package oam_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/tsharktest"
)

// stampPackets are a test packet carrying every TLV srv6oam sends and the reply srv6-agent's
// reflector logic makes of it, each as IPv6 + UDP (port 862) + STAMP.
func stampPackets(t *testing.T) (test, reply []byte) {
	t.Helper()
	src, dst := netip.MustParseAddrPort("[fc00:0:1::1]:40001"), netip.MustParseAddrPort("[fc00:0:4::1]:862")
	key := []byte("interop test key, 16+ bytes")
	req := oam.STAMPTLVRequest{Location: true, TimestampInfo: true, CoS: true, DSCP: 46, DirectMeasurement: true, FollowUp: true,
		DestinationNode: dst.Addr(), ReturnSegments: []netip.Addr{netip.MustParseAddr("fc00:0:3::e")}, HMACKey: key}
	tp := make([]byte, oam.STAMPPacketSize)
	ts := oam.PTPTimestamp(1_796_000_000_123_456_789)
	(&oam.STAMPTest{Sequence: 7, Timestamp: ts, ErrorEstimate: oam.NewSTAMPErrorEstimate(true, true, 1000), SSID: 0xbeef}).MarshalTo(tp) //nolint:errcheck
	tp, err := req.AppendTLVs(tp, 7)
	if err != nil {
		t.Fatal(err)
	}
	tp = oam.AppendSTAMPTLV(tp, 0, oam.STAMPTLVExtraPadding, bytes.Repeat([]byte{0xa5}, 12))
	oam.SealSTAMPHMAC(key, tp, oam.FindSTAMPHMAC(tp))
	rp := slices.Clone(tp)
	(&oam.STAMPReply{Sequence: 3, Timestamp: ts + 5000, ErrorEstimate: oam.NewSTAMPErrorEstimate(false, true, 1000), ReceiveTimestamp: ts + 4000,
		SenderSequence: 7, SenderTimestamp: ts, SenderErrorEstimate: oam.NewSTAMPErrorEstimate(true, true, 1000), SenderTTL: 62, SSID: 0xbeef}).MarshalTo(rp) //nolint:errcheck
	act := oam.ReflectSTAMPTLVs(tp, rp, &oam.STAMPReflectEnv{Src: src, Dst: dst, TClass: 0,
		IsLocal: func(a netip.Addr) bool { return a == dst.Addr() }, Session: &oam.STAMPSession{Received: 3, Sent: 2}, HMACKey: key,
		AllowSegment: func(netip.Addr) bool { return true }})
	if act.HMACOff < 0 || act.Unrecognized != 0 {
		t.Fatalf("reflect: %+v", act)
	}
	oam.SealSTAMPHMAC(key, rp, act.HMACOff)
	return ipv6UDP(src, dst, tp), ipv6UDP(dst, src, rp)
}

// ipv6UDP wraps payload in IPv6 and UDP headers (checksum included).
func ipv6UDP(src, dst netip.AddrPort, payload []byte) []byte {
	n := 8 + len(payload)
	b := []byte{0x60, 0, 0, 0, byte(n >> 8), byte(n), 17, 64}
	s, d := src.Addr().As16(), dst.Addr().As16()
	b = append(append(b, s[:]...), d[:]...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	b = append(b, 0, 0)
	b = append(b, payload...)
	var sum uint32
	pseudo := append(append(append([]byte{}, s[:]...), d[:]...), 0, 0, byte(n>>8), byte(n), 0, 0, 0, 17)
	for _, p := range [][]byte{pseudo, b[40:]} {
		for i := 0; i+1 < len(p); i += 2 {
			sum += uint32(p[i])<<8 | uint32(p[i+1])
		}
		if len(p)%2 == 1 {
			sum += uint32(p[len(p)-1]) << 8
		}
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(b[46:], ^uint16(sum))
	return b
}

// scapyDecode decodes IPv6 packets with scapy's STAMP layers (scapy.contrib.stamp, RFC 8762
// and RFC 8972, written by another project): per packet, the base fields and the TLVs.
const scapyDecode = `
import sys, json
from scapy.layers.inet6 import IPv6
from scapy.layers.inet import UDP
import scapy.contrib.stamp as stamp
# scapy 2.5.0 sizes the TLV list from the UDP length through pkt.parent, which dissection
# never sets: give it the length of the UDP payload beyond the base packet instead.
tlv_len = [0]
for cls in (stamp.STAMPSessionSenderTestUnauthenticated, stamp.STAMPSessionReflectorTestUnauthenticated):
    for f in cls.fields_desc:
        if f.name == "tlv_objects":
            f.length_from = lambda pkt: tlv_len[0]
out = []
for line in sys.stdin:
    p = IPv6(bytes.fromhex(line.strip()))
    u = p[UDP]
    tlv_len[0] = u.len - 8 - 44
    cls = stamp.STAMPSessionSenderTestUnauthenticated if u.dport == 862 else stamp.STAMPSessionReflectorTestUnauthenticated
    u.decode_payload_as(cls)
    s = p[cls]
    d = {"layer": s.name, "seq": s.seq, "ssid": s.ssid, "z": int(s.err_estimate.Z),
         "tlvs": [[int(t.flags), t.type, t.len, bytes(t.value).hex()] for t in s.tlv_objects]}
    if hasattr(s, "seq_sender"):
        d["seq_sender"], d["ttl"] = s.seq_sender, s.ttl_sender
    out.append(d)
print(json.dumps(out))
`

// TestSTAMPInteropScapy: scapy's STAMP dissector reads srv6oam's test packet and reply field
// for field and TLV for TLV as oam does.
func TestSTAMPInteropScapy(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import scapy.contrib.stamp").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and scapy's STAMP layers are missing (Debian python3-scapy, make deps): %v", err)
		}
		t.Skipf("python3-scapy missing: %v", err)
	}
	test, reply := stampPackets(t)
	cmd := exec.Command(py, "-c", scapyDecode)
	cmd.Stdin = strings.NewReader(hex.EncodeToString(test) + "\n" + hex.EncodeToString(reply) + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scapy: %v\n%s", err, stderr.String())
	}
	var got []struct {
		Layer     string
		Seq, SSID int
		Z         int
		SeqSender *int `json:"seq_sender"`
		TTL       *int
		TLVs      [][4]any
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got) != 2 {
		t.Fatalf("scapy decoded %d packets", len(got))
	}
	if g := got[0]; g.Layer != "STAMP Session-Sender Test" || g.Seq != 7 || g.SSID != 0xbeef || g.Z != 1 {
		t.Errorf("test packet as scapy reads it: %+v", g)
	}
	if g := got[1]; g.Layer != "STAMP Session-Reflector Test" || g.Seq != 3 || g.SSID != 0xbeef || g.SeqSender == nil || *g.SeqSender != 7 || *g.TTL != 62 {
		t.Errorf("reply as scapy reads it: %+v", g)
	}
	for i, pkt := range [][]byte{test, reply} {
		var want [][4]any
		oam.WalkSTAMPTLVs(pkt[48+oam.STAMPPacketSize:], func(_ int, tl oam.STAMPTLV) bool {
			want = append(want, [4]any{float64(tl.Flags), float64(tl.Type), float64(len(tl.Value)), hex.EncodeToString(tl.Value)})
			return true
		})
		if len(want) != 9 || !slices.EqualFunc(want, got[i].TLVs, func(a, b [4]any) bool { return a == b }) {
			t.Errorf("packet %d: TLVs as scapy reads them\n%v\nas oam reads them\n%v", i, got[i].TLVs, want)
		}
	}
}

// TestSTAMPInteropTshark: Wireshark's TWAMP-Test dissector (STAMP's base format is
// TWAMP-Light's) reads the base fields; the TLVs (which tshark 4.0 does not know) are the
// padding it shows, byte for byte.
func TestSTAMPInteropTshark(t *testing.T) {
	tsharktest.Require(t)
	test, reply := stampPackets(t)
	rows, err := tsharktest.Fields(t.TempDir(), []tsharktest.Packet{{Data: test}, {Data: reply}}, layers.LinkTypeRaw, "",
		[]string{"-o", "udp.check_checksum:TRUE", "-d", "udp.port==862,twamp.test"},
		"twamp.test.seq_number", "twamp.test.sender_seq_number", "twamp.test.sender_ttl", "twamp.test.error_estimate.z", "twamp.test.padding", "udp.checksum.status")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		if r["udp.checksum.status"] != "1" {
			t.Errorf("packet %d: UDP checksum status %q", i, r["udp.checksum.status"])
		}
		if !strings.HasPrefix(r["twamp.test.error_estimate.z"], "1") && r["twamp.test.error_estimate.z"] != "True" {
			t.Errorf("packet %d: Z %q, want PTP", i, r["twamp.test.error_estimate.z"])
		}
	}
	if rows[0]["twamp.test.seq_number"] != "7" || rows[1]["twamp.test.seq_number"] != "3" || rows[1]["twamp.test.sender_seq_number"] != "7" || rows[1]["twamp.test.sender_ttl"] != "62" {
		t.Errorf("tshark read %v", rows)
	}
	// tshark's padding starts after its view of the base packet: 14 octets of the sender's
	// (which it reads as TWAMP's, MBZ included) or 41 of the reflector's; it must end with
	// our TLV bytes.
	for i, pkt := range [][]byte{test, reply} {
		pad, err := hex.DecodeString(strings.ReplaceAll(rows[i]["twamp.test.padding"], ":", ""))
		if err != nil || !bytes.HasSuffix(pkt, pad) || len(pad) < len(pkt)-48-oam.STAMPPacketSize {
			t.Errorf("packet %d: tshark's padding (%d bytes) is not the TLV area (%d bytes) at the packet's end: %v", i, len(pad), len(pkt)-48-oam.STAMPPacketSize, err)
		}
	}
}
