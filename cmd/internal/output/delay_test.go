package output

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes/delay"
)

var (
	src  = netip.MustParseAddr("fc00:0:1::1")
	path = oam.SegmentList{netip.MustParseAddr("fc00:0:2::b0"), netip.MustParseAddr("fc00:0:3::b0"), src}
)

func testPoints() []collect.Point {
	pts := collect.PathPoints(oam.SegmentList{path[0], path[1], netip.MustParseAddr("fc00:0:4::b0"), src}, true)
	for i, n := range []string{"A", "B", "C"} {
		pts[i+1].Name = n
	}
	return pts
}

func TestFormat(t *testing.T) {
	pts := testPoints()
	d := func(us int64) collect.SegmentResult {
		return collect.SegmentResult{State: oam.DelayMeasured, Delay: time.Duration(us) * time.Microsecond, Bound: 2 * time.Microsecond, Raw: time.Duration(us) * time.Microsecond, HaveRaw: true}
	}
	r := delay.Result{ProbeResult: collect.ProbeResult{Sequence: 4, Status: collect.StatusComplete, RTT: 412 * time.Microsecond, LostOn: -1,
		Segments: []collect.SegmentResult{d(61), d(102), d(97), d(71)}}}
	var b bytes.Buffer
	if err := FormatDelayResult(&b, r, pts, false); err != nil {
		t.Fatal(err)
	}
	want := "seq=4 rtt=0.412 ms   src→A 0.061   A→B 0.102   B→C 0.097   C→src 0.071 ms (one-way, ±0.002)\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}

	// Unsynchronised and negative segments never print a number.
	r.Segments[1] = collect.SegmentResult{State: oam.DelayNegative, Raw: -30 * time.Microsecond, HaveRaw: true}
	r.Segments[2] = collect.SegmentResult{State: oam.DelayUnsynchronised, Raw: 5 * time.Second, HaveRaw: true}
	b.Reset()
	FormatDelayResult(&b, r, pts, false)
	if s := b.String(); !strings.Contains(s, "A→B neg!") || !strings.Contains(s, "B→C unsync") || strings.Contains(s, "-0.030") || strings.Contains(s, "5000") {
		t.Errorf("got %q", s)
	}

	lost := delay.Result{ProbeResult: collect.ProbeResult{Sequence: 5, Status: collect.StatusLost, LastSeen: 2, LostOn: 2,
		Segments: []collect.SegmentResult{d(61), d(102), {State: oam.DelayLost}, {State: oam.DelayNotReached}}},
		Transitions: []collect.Transition{{Segment: 2, From: "B", To: "C", Old: collect.LiveUp, New: collect.LiveDown, Sequence: 5}}}
	b.Reset()
	FormatDelayResult(&b, lost, pts, true)
	want = "seq=5 lost on B→C (last seen by B)   src→A 0.061   A→B 0.102   B→C LOST   C→src - ms (one-way, shared clock)\n" +
		"segment B→C is down (seq=5, was up)\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
}

// TestSummaryAndJSON runs a collector over a few synthetic probes and checks the summary text
// and the JSON document.
func TestSummaryAndJSON(t *testing.T) {
	pts := testPoints()
	var results []delay.Result
	c, err := collect.New(collect.Config{Session: 9, Points: pts, SharedClock: true, UpMultiplier: 1,
		OnResult: func(r *collect.ProbeResult) {
			cp := delay.Result{ProbeResult: *r}
			cp.Segments = append([]collect.SegmentResult(nil), r.Segments...)
			results = append(results, cp)
		}})
	if err != nil {
		t.Fatal(err)
	}
	const ms = int64(time.Millisecond)
	for seq := uint32(1); seq <= 3; seq++ {
		tx := int64(seq) * 100 * ms
		c.ObserveTx(seq, tx, tx)
		for v := 0; v < 3; v++ {
			if seq == 3 && v == 2 {
				break // lost between B and C
			}
			c.ObserveRecord(uint32(v+2), oam.ClockState{}, &oam.ReportRecord{SID: pts[v+1].SID, Session: 9, Sequence: seq,
				TimestampNs: uint64(tx + int64(v+1)*ms), SenderTxNs: uint64(tx), SegmentsLeft: uint8(pts[v+1].WireIndex - 1)}, tx)
		}
		if seq != 3 {
			c.ObserveReceive(seq, tx+5*ms, tx)
		}
	}
	c.Flush(time.Hour.Nanoseconds())
	s := delay.Summary{Summary: c.Summary(), Transmitted: 3, SharedClock: true}
	var b bytes.Buffer
	if err := FormatDelaySummary(&b, s, pts, "C"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"3 probes transmitted, 2 returned, 33.3% loss",
		"rtt min/avg/max/mdev = 5.000/5.000/5.000/0.000 ms",
		"src→A    1.000/1.000/1.000/0.000",
		"B→C      1.000/1.000/1.000/0.000",
		"33.3% (1/3)",
		"C→src    2.000/2.000/2.000/0.000",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	js, err := json.Marshal(NewDelayResult(results[2], pts))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":3,"status":"lost","tx_tai_ns":300000000,"lost_on":2,"last_seen":"B","segments":[` +
		`{"from":"src","to":"A","state":"measured","delay_ms":1,"bound_ms":0},` +
		`{"from":"A","to":"B","state":"measured","delay_ms":1,"bound_ms":0},` +
		`{"from":"B","to":"C","state":"lost"},{"from":"C","to":"src","state":"not-reached"}]}`
	if string(js) != want {
		t.Errorf("JSON\n got %s\nwant %s", js, want)
	}
	js, err = json.Marshal(NewDelaySummary(s, pts))
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	segs := back["segments"].([]any)
	bc := segs[2].(map[string]any)
	if bc["lost"].(float64) != 1 || bc["reached"].(float64) != 3 || bc["liveness"] != "up" {
		t.Errorf("B→C summary %v", bc)
	}
}

// TestOneWayHints: srv6-ping hints at any missing or unsynchronised timestamp; the per-segment
// view of srv6-trace only at segments that got no delay at all; a shared clock needs no
// synchronisation.
func TestOneWayHints(t *testing.T) {
	s := delay.Summary{Summary: collect.Summary{Segments: []collect.SegmentSummary{
		{Delay: oam.StatsSummary{Count: 4}, Missing: 1},
		{Unsynchronised: 5},
	}}}
	var b bytes.Buffer
	OneWayHints(&b, s, false, "fc00:0:1::1")
	if !strings.Contains(b.String(), "? = no timestamp from that node") || !strings.Contains(b.String(), "hold fc00:0:1::1?") ||
		!strings.Contains(b.String(), "unsync = ") {
		t.Errorf("srv6-ping hints:\n%s", b.String())
	}
	b.Reset()
	OneWayHints(&b, s, true, "this host")
	if strings.Contains(b.String(), "? = ") || !strings.Contains(b.String(), "unsync = ") {
		t.Errorf("per-segment hints (segment 0 was measured):\n%s", b.String())
	}
	b.Reset()
	s.SharedClock = true
	OneWayHints(&b, s, true, "this host")
	if b.Len() != 0 {
		t.Errorf("shared clock, a measured segment: %q, want no hint", b.String())
	}
}
