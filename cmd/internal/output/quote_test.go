package output

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/oam/tsharktest"
	"github.com/srv6oam/srv6oam/probes"
)

// quotedProbe is an encapsulated echo probe with an IOAM trace, as srv6-trace sends it, with
// Segments Left as a router in the second segment would quote it.
func quotedProbe(t testing.TB) []byte {
	t.Helper()
	tr, err := ioam.NewTrace(0, ioam.Bits(ioam.BitHopLimitNodeID), 2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := probes.NewEchoBuilder(probes.EchoConfig{
		Target: oam.Target{Segments: oam.SegmentList{netip.MustParseAddr("fc00:0:2::e"), netip.MustParseAddr("fc00:0:5::e")},
			Destination: netip.MustParseAddr("fc00:0:6::1")},
		Source: netip.MustParseAddr("fc00:0:1::1"), Encoding: probes.Encap, ID: 0x1234, PayloadSize: 8, HopLimit: 64, FlowLabel: 0x12345, IOAM: &tr})
	if err != nil {
		t.Fatal(err)
	}
	pkt, err := b.Build(7)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), pkt...)
}

func names(q *JSONQuote) []string {
	var out []string
	for _, l := range q.Layers {
		out = append(out, l.Name)
	}
	return out
}

// Every header of an encapsulated probe with an IOAM trace decodes: outer IPv6 (flow label,
// hop limit), the Hop-by-Hop header's PadN and IOAM options, the SRH (segments in wire order,
// Segments Left), the inner IPv6 header, the Echo Request's identifier and sequence; and the
// names are Wireshark's: tshark decodes the same bytes into the same protocol stack.
func TestDecodeQuote(t *testing.T) {
	pkt := quotedProbe(t)
	q := DecodeQuote(pkt)
	want := []string{"ipv6", "ipv6.hopopts", "ipv6.routing", "ipv6", "icmpv6", "data"}
	if got := names(q); strings.Join(got, " ") != strings.Join(want, " ") || q.Truncated || q.Error != "" {
		t.Fatalf("layers %v (truncated %v, %q), want %v", got, q.Truncated, q.Error, want)
	}
	o, h, r, in, ic := q.Layers[0], q.Layers[1], q.Layers[2], q.Layers[3], q.Layers[4]
	if o.Src != "fc00:0:1::1" || o.Dst != "fc00:0:2::e" || *o.FlowLabel != 0x12345 || *o.HopLimit != 64 || *o.NextHeader != 0 {
		t.Errorf("outer %+v", o)
	}
	if len(h.Options) != 2 || h.Options[0].Name != "PadN" || h.Options[1].Name != "IOAM" {
		t.Errorf("hop-by-hop options %+v", h.Options)
	}
	if *r.RoutingType != 4 || *r.SegmentsLeft != 2 || strings.Join(r.Segments, " ") != "fc00:0:6::1 fc00:0:5::e fc00:0:2::e" {
		t.Errorf("SRH %+v segments %v", r, r.Segments)
	}
	if in.Dst != "fc00:0:6::1" || *ic.ICMPType != 128 || *ic.EchoID != 0x1234 || *ic.EchoSeq != 7 {
		t.Errorf("inner %+v, icmpv6 %+v", in, ic)
	}
	lines := QuoteLines(q, "  ")
	if len(lines) != 6 || !strings.Contains(lines[2], "Routing Header for IPv6 (Segment Routing), Segments Left: 2") {
		t.Errorf("lines:\n%s", strings.Join(lines, "\n"))
	}

	// A quote cut inside the SRH says so and keeps what it read.
	cut := DecodeQuote(pkt[:40+len(pkt[40:40+8*(int(pkt[41])+1)])+20])
	if !cut.Truncated || len(cut.Layers) != 2 || !strings.Contains(cut.Error, "ipv6.routing") {
		t.Errorf("cut quote: %v, truncated %v, %q", names(cut), cut.Truncated, cut.Error)
	}

	tsharktest.Require(t)
	rows, err := tsharktest.Fields(t.TempDir(), []tsharktest.Packet{{Data: pkt}}, layers.LinkTypeRaw, "", nil, "frame.protocols")
	if err != nil {
		t.Fatal(err)
	}
	// tshark: raw:ipv6:ipv6.hopopts:ipv6.routing:ipv6:icmpv6:data
	if got := strings.TrimPrefix(rows[0]["frame.protocols"], "raw:"); got != strings.Join(want, ":") {
		t.Errorf("tshark's protocols %q, ours %q", got, strings.Join(want, ":"))
	}
}

// FuzzDecodeQuote: any bytes a router may quote decode without a panic, into layers that end
// with an explanation when they stop early.
func FuzzDecodeQuote(f *testing.F) {
	pkt := quotedProbe(f)
	f.Add(pkt)
	f.Add(pkt[:60])
	f.Add([]byte{0x60, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		q := DecodeQuote(b)
		if q.Bytes != len(b) {
			t.Fatalf("bytes %d of %d", q.Bytes, len(b))
		}
		_ = QuoteLines(q, "")
	})
}
