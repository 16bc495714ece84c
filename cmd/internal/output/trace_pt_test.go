package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/pt"
	"github.com/srv6oam/srv6oam/probes/pathtrace"
)

// ptRun is a run of three probes: one back with two midpoints timed and one ambiguous, one
// lost, one unreadable.
func ptRun() (oam.Target, pathtrace.Options, []pathtrace.Result, pathtrace.Summary) {
	sent := time.Unix(1700000000, 0)
	tmpl := pt.Template2
	hop := func(id uint16, at time.Duration, n int) pathtrace.Hop {
		h := pathtrace.Hop{MCD: pt.MCD{Interface: id, Load: 1, TTS: tmpl.Truncate(uint32(at))}, Candidates: n}
		if n == 1 {
			h.At = sent.Add(at).Truncate(tmpl.Resolution())
			h.Earliest, h.Latest = h.At, h.At.Add(tmpl.Resolution()-1)
		}
		return h
	}
	h1, h2, h3 := hop(0x12, 100*time.Microsecond, 1), hop(0x23, 300*time.Microsecond, 1), hop(0x42, 0, 3)
	h2.Delay, h2.DelayKnown = h2.At.Sub(h1.At), true
	results := []pathtrace.Result{
		{Seq: 1, Sent: sent, Received: sent.Add(time.Millisecond), RTT: time.Millisecond, Hops: []pathtrace.Hop{h1, h2, h3}},
		{Seq: 2, Sent: sent.Add(time.Second), Lost: true},
		{Seq: 3, Sent: sent.Add(2 * time.Second), Received: sent.Add(2*time.Second + time.Millisecond), RTT: time.Millisecond, Err: errors.New("no Hop-by-Hop header came back")},
	}
	sum := pathtrace.Summary{Sent: 3, Received: 2, Paths: map[string]int{results[0].PathKey(): 1}}
	target := oam.Target{Segments: oam.SegmentList{netip.MustParseAddr("fc00:0:2::e")}, Destination: netip.MustParseAddr("fc00:0:4::e")}
	opts := pathtrace.Options{Count: 3, MCDs: 12, Template: tmpl, Timeout: 2 * time.Second, Session: 9}
	return target, opts, results, sum
}

func TestPTText(t *testing.T) {
	target, opts, results, sum := ptRun()
	var b bytes.Buffer
	p := &PTPrinter{W: &b, Names: PTNames{0x12: "r1:to-r2"}, Template: opts.Template}
	p.Header(target, netip.MustParseAddr("fc00:0:1::1"), opts)
	for i := range results {
		p.Result(&results[i], opts.Timeout)
	}
	p.Summary(sum)
	for _, want := range []string{
		"srv6-trace --pt to fc00:0:4::e via fc00:0:2::e and back to fc00:0:1::1: 3 probes, 12 MCDs, template 2 (4.096 µs units, wrapping every 1.049 ms)",
		"probe 1: back in 1.000 ms, 3 midpoints",
		"   1  if 0x012 r1:to-r2     load  1  sent +0.098..+0.102 ms",
		"   2  if 0x023              load  1  sent +0.299..+0.303 ms  hop +0.197..+0.205 ms",
		"   3  if 0x042              load  1  time ambiguous: template 2 wraps every 1.049 ms, the probe was out longer",
		"probe 2: lost (not back within 2s)",
		"probe 3: back in 1.000 ms, unreadable: no Hop-by-Hop header came back",
		"--- 3 probes sent, 2 back, 1 paths",
		"  r1:to-r2 > 0x23 > 0x42  (1 probes)",
	} {
		if !strings.Contains(b.String(), want+"\n") {
			t.Errorf("lacks %q:\n%s", want, b.String())
		}
	}
}

func TestPTJSONSchema(t *testing.T) {
	target, opts, results, sum := ptRun()
	doc := NewPTDocument(target, netip.MustParseAddr("fc00:0:1::1"), opts, results, sum, PTNames{0x12: "r1:to-r2"})
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := schemaCheck(t, "srv6-trace-pt.schema.json")(string(b)); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	p := doc.Probes[0]
	if len(p.Hops) != 3 || p.Hops[0].Name != "r1:to-r2" || p.Hops[1].DelayMS == nil || p.Hops[2].AtMS != nil || doc.Probes[1].RTTMS != nil {
		t.Errorf("probes %s", b)
	}
	if len(doc.Paths) != 1 || len(doc.Paths[0].Interfaces) != 3 || doc.Paths[0].Interfaces[1] != 0x23 || doc.Paths[0].Names[0] != "r1:to-r2" {
		t.Errorf("paths %+v", doc.Paths)
	}
}

func TestParsePTNames(t *testing.T) {
	n, err := ParsePTNames("0x12=r1:to-r2, 35=r2:to-h2")
	if err != nil || n[0x12] != "r1:to-r2" || n[35] != "r2:to-h2" {
		t.Errorf("%v %v", n, err)
	}
	for _, bad := range []string{"12", "x=a", "0=a", "4096=a", "5="} {
		if _, err := ParsePTNames(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
