package output

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/probes/pathtrace"
)

func TestIOAMPing(t *testing.T) {
	typ := ioam.Bits(ioam.BitHopLimitNodeID, ioam.BitInterfaces, ioam.BitTimestampSeconds, ioam.BitTimestampFraction)
	tr, err := ioam.NewTrace(0, typ, 8)
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Unix(1700000000, 500_000_000)
	entry := func(id uint64, in, out uint32, after time.Duration) ioam.Entry {
		at := sent.Add(after)
		return ioam.Entry{HopLimit: 63, NodeID: id, Ingress: in, Egress: out, Seconds: uint32(at.Unix()), Fraction: uint32(at.Nanosecond() / 1000)}
	}
	rec := &ioam.Record{Type: typ, Free: 6, Entries: []ioam.Entry{entry(2, 1, 5, 20*time.Microsecond), entry(1, 1, 0xffff, 90*time.Microsecond)}}
	results := []pathtrace.Result{
		{Seq: 1, Sent: sent, Received: sent.Add(100 * time.Microsecond), RTT: 100 * time.Microsecond, IOAM: rec},
		{Seq: 2, Sent: sent.Add(time.Second), Lost: true},
	}
	names := &Names{}
	names.AddIOAMNode(2, "r1")
	var b bytes.Buffer
	p := &IOAMPing{W: &b, IOAMView: IOAMView{Names: names, Trace: &tr, Shared: true}, Timeout: 2 * time.Second, Source: netip.MustParseAddr("fc00:0:1::1"),
		Target: oam.Target{Segments: oam.SegmentList{netip.MustParseAddr("fc00:0:3::e")}, Destination: netip.MustParseAddr("fc00:0:8::e")}}
	p.Header()
	for i := range results {
		p.Result(&results[i])
	}
	sum := pathtrace.Summary{Sent: 2, Received: 1}
	p.Summary(sum)
	for _, want := range []string{
		"SRV6-PING --ioam fc00:0:8::e via fc00:0:3::e and back to fc00:0:1::1: namespace 0, trace type hop_limit_node_id,interfaces,timestamp_seconds,timestamp_fraction, 8 entries",
		"seq=1 back in 0.100 ms, 2 IOAM entries",
		"   1  node 2 r1  hl 63  if 1→5  rx ",
		"+0.020 ms",
		"   2  node 1  hl 63  if 1→-  rx ",
		"+0.070 ms",
		"seq=2 lost (not back within 2s)",
		"2 probes transmitted, 1 back, 50% packet loss",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("lacks %q:\n%s", want, b.String())
		}
	}
	doc, err := json.Marshal(p.Document(JSONIOAMPingOptions{Count: 2, IntervalMS: 1000, TimeoutMS: 2000, TraceType: typ.Names(), Nodes: 8, SharedClock: true}, sum))
	if err != nil {
		t.Fatal(err)
	}
	if err := schemaCheck(t, "srv6-ping-ioam.schema.json")(string(doc)); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	io, err := json.Marshal(p.results[0].IOAM)
	if err != nil {
		t.Fatal(err)
	}
	if err := schemaCheck(t, "srv6-trace-ioam.schema.json")(string(io)); err != nil {
		t.Fatalf("%v\n%s", err, io)
	}
	if p.results[0].IOAM.Filled != 2 || len(p.results[0].IOAM.Entries) != 2 || *p.results[0].IOAM.Entries[1].DelayMS != 0.07 {
		t.Errorf("ioam %s", io)
	}
}
