package output

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/probes/trace"
)

// sampleIOAMHops is a trace of three routers: r1 filled its entry, r2 had IOAM off, r3 filled
// one whose time is 30 µs before r1's (the clocks disagree), and the destination answered.
func sampleIOAMHops() []trace.Hop {
	typ := ioam.Bits(ioam.BitHopLimitNodeID, ioam.BitInterfaces, ioam.BitTimestampSeconds, ioam.BitTimestampFraction, ioam.BitTransitDelay)
	sent := time.Unix(1700000000, 0)
	r1 := ioam.Entry{HopLimit: 0, NodeID: 2, Ingress: 1, Egress: 2, Seconds: 1700000000, Fraction: 50, Unsupported: []int{ioam.BitTransitDelay}}
	r3 := ioam.Entry{HopLimit: 0, NodeID: 4, Ingress: 3, Egress: 0xffff, Seconds: 1700000000, Fraction: 20, Unsupported: []int{ioam.BitTransitDelay}}
	rec1 := &ioam.Record{Type: typ, Free: 7, Entries: []ioam.Entry{r1}}
	rec3 := &ioam.Record{Type: typ, Free: 6, Entries: []ioam.Entry{r1, r3}}
	clock := oam.EndClock{Known: true, Synchronised: true, Error: 2 * time.Microsecond}
	addr := netip.MustParseAddr
	hop := func(ttl int, from string, rec *ioam.Record, kind oam.ResultKind) trace.Hop {
		h := trace.Hop{TTL: ttl, Segment: -1, IOAMProbe: -1, Destination: kind == oam.KindReply,
			Probes: []trace.Probe{{HopLimit: ttl, Answered: true, From: addr(from), RTT: time.Millisecond, Kind: kind, Sent: sent, IOAM: rec}}}
		return h
	}
	hops := []trace.Hop{
		hop(1, "fc00:0:2::1", rec1, oam.KindError),
		hop(2, "fc00:0:3::1", rec1, oam.KindError),
		hop(3, "fc00:0:4::1", rec3, oam.KindError),
		hop(4, "fc00:0:8::1", nil, oam.KindReply),
	}
	// What the engine's attribution does (probes/trace attributeIOAM).
	before := 0
	for i := range hops {
		h := &hops[i]
		if rec := h.Probes[0].IOAM; rec != nil {
			h.IOAM, h.IOAMProbe, h.IOAMNew = rec, 0, len(rec.Entries)-before
			before = len(rec.Entries)
			h.IOAMDelays = oam.IOAMDelays(rec, sent, clock, clock, false)
		}
	}
	return hops
}

func TestIOAMText(t *testing.T) {
	names := &Names{NoDNS: true}
	names.AddIOAMNode(2, "r1")
	var b bytes.Buffer
	p := &TracePrinter{W: &b, Names: names, IOAM: true}
	for _, h := range sampleIOAMHops() {
		for _, l := range p.ioamLines(&h, "  ") {
			b.WriteString(l + "\n")
		}
	}
	want := "  ioam: node 2 r1  hl 0  if 1→2  rx " + time.Unix(1700000000, 50_000).Format("15:04:05.000000") + "  +0.050 ms ±0.004  not supported: transit_delay\n" +
		"  ioam: no entry (IOAM off on its ingress interface, or namespace 0 unknown to it)\n" +
		"  ioam: node 4  hl 0  if 3→-  rx " + time.Unix(1700000000, 20_000).Format("15:04:05.000000") + "  +neg! (the clocks disagree)  not supported: transit_delay\n" +
		"  ioam: (an Echo Reply quotes nothing: the destination's entry, if any, is not seen)\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestIOAMJSONSchema(t *testing.T) {
	check := schemaCheck(t, "srv6-trace-ioam.schema.json")
	names := &Names{NoDNS: true}
	n := 0
	for _, h := range sampleIOAMHops() {
		j := jsonIOAM(&h, names)
		if j == nil {
			continue
		}
		n++
		doc, _ := json.Marshal(j)
		if err := check(string(doc)); err != nil {
			t.Errorf("hop %d: %v\n%s", h.TTL, err, doc)
		}
		if h.TTL == 3 && (j.Entries[0].DelayState != "negative" || j.Entries[0].DelayMS != nil) {
			t.Errorf("a negative delay rendered as %s", doc)
		}
	}
	if n != 3 {
		t.Errorf("%d hops with an ioam object, want 3", n)
	}
	for name, bad := range map[string]string{
		"delay without measured": `{"namespace":0,"trace_type":[],"filled":1,"quoted":1,"free":0,"overflow":false,"entries":[{"hop":1,"delay_state":"negative","delay_ms":0.1,"timestamp":"2026-01-01T00:00:00Z"}]}`,
		"measured without delay": `{"namespace":0,"trace_type":[],"filled":1,"quoted":1,"free":0,"overflow":false,"entries":[{"hop":1,"delay_state":"measured"}]}`,
		"negative delay":         `{"namespace":0,"trace_type":[],"filled":1,"quoted":1,"free":0,"overflow":false,"entries":[{"hop":1,"delay_state":"measured","delay_ms":-1,"timestamp":"2026-01-01T00:00:00Z"}]}`,
		"no filled":              `{"namespace":0,"trace_type":[],"quoted":1,"free":0,"overflow":false,"entries":[]}`,
	} {
		if check(bad) == nil {
			t.Errorf("%s: validates, want a schema error", name)
		}
	}
}
