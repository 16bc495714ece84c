package output

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/ping"
	"github.com/srv6oam/srv6oam/probes/probetest"
	"github.com/srv6oam/srv6oam/probes/stamp"
)

// The published schemas (docs/json) are the contract: documents built from engine results,
// here on a scripted network and from synthetic results, must validate against them. The lab
// tests of cmd/srv6-ping validate real output the same way.

func compileSchema(t *testing.T, file string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile("../../../docs/json/" + file)
	if err != nil {
		t.Fatalf("compile schema %s: %v", file, err)
	}
	return s
}

// schemaCheck returns a function that validates a JSON text against the schema in file.
func schemaCheck(t *testing.T, file string) func(doc string) error {
	s := compileSchema(t, file)
	return func(doc string) error {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		if err != nil {
			t.Fatalf("not JSON: %v\n%s", err, doc)
		}
		return s.Validate(v)
	}
}

func validateJSON(t *testing.T, s *jsonschema.Schema, doc any) {
	t.Helper()
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(doc); err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b.String())
	}
	if err := s.Validate(v); err != nil {
		t.Errorf("does not validate against %s: %v\n%s", s.Location, err, b.String())
	}
}

func TestEchoDocumentMatchesSchema(t *testing.T) {
	schema := compileSchema(t, "srv6-ping.schema.json")
	src, dst := netip.MustParseAddr("fc00:0:1::1"), netip.MustParseAddr("fc00:0:4::1")
	target := oam.Target{Segments: oam.SegmentList{netip.MustParseAddr("fc00:0:2::e")}, Destination: dst}
	conn := probetest.New(func(p *probetest.Probe) []probetest.Answer {
		if p.Seq == 2 {
			return []probetest.Answer{probetest.Error(p, netip.MustParseAddr("fd00::2"), probes.ICMPv6DestUnreachable, 0, 0)}
		}
		return []probetest.Answer{probetest.EchoReply(p, dst, 63)}
	})
	opts := ping.Options{Count: 3, Interval: time.Millisecond, Timeout: time.Second, Source: src}
	p, err := ping.NewOn(conn, target, opts)
	if err != nil {
		t.Fatal(err)
	}
	var results []PingResult
	sum, err := p.Run(context.Background(), func(r oam.Result) {
		j := NewPingResult(r)
		results = append(results, j)
		j.Type = "result"
		validateJSON(t, schema, j) // a --json-lines line
	})
	if err != nil {
		t.Fatal(err)
	}
	doc := NewPingDocument(target, "encap", src, NewPingOptions(p.Options()), results, NewPingSummary(sum))
	validateJSON(t, schema, doc)
	for _, enc := range []probes.Encoding{probes.Encap, probes.EncapRed, probes.Insert, probes.InsertRed} {
		validateJSON(t, schema, NewPingDocument(target, enc.String(), src, NewPingOptions(p.Options()), results, NewPingSummary(sum)))
	}
	line := NewPingSummary(sum)
	line.Type = "summary"
	validateJSON(t, schema, line)
	if doc.SchemaVersion != 2 || doc.Mode != "echo" || len(results) != 3 {
		t.Errorf("envelope %+v", doc)
	}
}

func TestStampDocumentMatchesSchema(t *testing.T) {
	schema := compileSchema(t, "srv6-ping-stamp.schema.json")
	ms := int64(time.Millisecond)
	synced := oam.NewSTAMPErrorEstimate(true, true, 3*time.Microsecond)
	r := stamp.Result{Sequence: 1, T1: 10 * ms, T2: 12 * ms, T3: 13 * ms, T4: 16 * ms, SenderError: synced, ReflectorError: synced,
		ReflectorSynchronised: true, HopLimitAtReflector: 62, HopLimitAtSender: 62, ReplyBytes: 44}
	out := stamp.Outcome{Seq: 1, Reply: &r}
	out.Forward, out.Backward = stamp.Judge(&r, false)
	lost := stamp.Outcome{Seq: 2}
	results := []StampResult{NewStampResult(out, false), NewStampResult(lost, false)}
	one := oam.StatsSummary{Count: 1, Min: 4 * time.Millisecond, Avg: 4 * time.Millisecond, Max: 4 * time.Millisecond}
	sum := stamp.Summary{Transmitted: 2, Received: 1, RTT: one, Resid: one, Forward: one, Backward: one, MaxBound: 6 * time.Microsecond}
	target := oam.Target{Segments: oam.SegmentList{netip.MustParseAddr("fc00:0:2::e")}, Destination: netip.MustParseAddr("fc00:0:4::1")}
	doc := NewStampDocument(target, stamp.Options{Count: 2, Interval: time.Second, Timeout: 2 * time.Second, Size: 44},
		netip.MustParseAddrPort("[fc00:0:1::1]:40000"), netip.MustParseAddrPort("[fc00:0:4::1]:862"), results, &sum, nil)
	validateJSON(t, schema, doc)
}
