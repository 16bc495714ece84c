package collect

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/srh"
)

// The test path: src → A → B → C → src (reflected): 4 segments, wire list [src C B A] reversed.
var (
	sidA = netip.MustParseAddr("fc00:0:2::b0")
	sidB = netip.MustParseAddr("fc00:0:3::b0")
	sidC = netip.MustParseAddr("fc00:0:4::b0")
	src  = netip.MustParseAddr("fc00:0:1::1")
	path = oam.SegmentList{sidA, sidB, sidC, src}
)

const (
	session = 0x5e55
	ms      = int64(time.Millisecond)
	us      = int64(time.Microsecond)
)

var synced = oam.ClockState{Synchronised: true, EstErrorMicros: 2, MaxErrorMicros: 100}

type harness struct {
	t       *testing.T
	c       *Collector
	results []ProbeResult
	trans   []Transition
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t}
	cfg := Config{
		Session: session, Points: PathPoints(path, true), Window: 8,
		Timeout: 100 * time.Millisecond, Linger: 20 * time.Millisecond,
		DetectMultiplier: 3, UpMultiplier: 2, SourceClock: synced,
		OnResult: func(r *ProbeResult) {
			cp := *r
			cp.Segments = append([]SegmentResult(nil), r.Segments...)
			h.results = append(h.results, cp)
		},
		OnTransition: func(tr Transition) { h.trans = append(h.trans, tr) },
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	return h
}

// report is one node's report of one probe: visiting index v (0 = A) at node time ts.
func report(v int, seq uint32, ts, tx int64, clock oam.ClockState) *oam.Report {
	sid := path[v]
	k := len(path) - 1 - v
	return &oam.Report{NodeID: uint32(10 + v), Clock: clock, Records: []oam.ReportRecord{{
		SID: sid, Session: session, Sequence: seq, TimestampNs: uint64(ts), SenderTxNs: uint64(tx),
		SegmentsLeft: uint8(k - 1), SlotWritten: true,
	}}}
}

// probe sends seq at tx and has every node and the return observed: A at +1ms, B at +3ms,
// C at +6ms, back at +10ms.
func (h *harness) full(seq uint32, tx int64, order string) {
	obs := map[byte]func(){
		't': func() { h.c.ObserveTx(seq, tx, tx) },
		'a': func() { h.c.ObserveReport(report(0, seq, tx+1*ms, tx, synced), tx+11*ms) },
		'b': func() { h.c.ObserveReport(report(1, seq, tx+3*ms, tx, synced), tx+11*ms) },
		'c': func() { h.c.ObserveReport(report(2, seq, tx+6*ms, tx, synced), tx+11*ms) },
		'r': func() { h.c.ObserveReceive(seq, tx+10*ms, tx+10*ms) },
	}
	for i := 0; i < len(order); i++ {
		obs[order[i]]()
	}
}

func wantDelays(t *testing.T, r ProbeResult, want ...int64) {
	t.Helper()
	for i, w := range want {
		s := r.Segments[i]
		if s.State != oam.DelayMeasured || int64(s.Delay) != w {
			t.Errorf("seq %d segment %d: %v %v, want measured %v", r.Sequence, i, s.State, s.Delay, time.Duration(w))
		}
		if s.Bound != 4*time.Microsecond {
			t.Errorf("seq %d segment %d: bound %v, want 4µs (2µs + 2µs)", r.Sequence, i, s.Bound)
		}
	}
}

func TestCorrelationOrders(t *testing.T) {
	for _, order := range []string{"tabcr", "trabc", "tcbar", "abctr", "rtcab", "tarbc"} {
		t.Run(order, func(t *testing.T) {
			h := newHarness(t, nil)
			h.full(1, 1000*ms, order)
			if len(h.results) != 1 {
				t.Fatalf("%d results, want 1 (complete probes resolve at once)", len(h.results))
			}
			r := h.results[0]
			if r.Status != StatusComplete || r.RTT != 10*time.Millisecond || r.LostOn != -1 || r.LastSeen != 4 {
				t.Fatalf("result %+v", r)
			}
			wantDelays(t, r, 1*ms, 2*ms, 3*ms, 4*ms)
		})
	}
}

func TestPartialWaitsLingerThenResolves(t *testing.T) {
	h := newHarness(t, nil)
	tx := 1000 * ms
	h.c.ObserveTx(1, tx, tx)
	h.c.ObserveReport(report(0, 1, tx+1*ms, tx, synced), tx+2*ms)
	h.c.ObserveReceive(1, tx+10*ms, tx+10*ms) // B's and C's reports not yet here
	if len(h.results) != 0 {
		t.Fatal("resolved before the linger time")
	}
	h.c.ObserveReport(report(2, 1, tx+6*ms, tx, synced), tx+15*ms)
	h.c.Expire(tx + 29*ms)
	if len(h.results) != 0 {
		t.Fatal("resolved before the linger time")
	}
	h.c.Expire(tx + 30*ms)
	if len(h.results) != 1 {
		t.Fatal("not resolved after the linger time")
	}
	r := h.results[0]
	if r.Status != StatusPartial || r.LostOn != -1 {
		t.Fatalf("status %v lostOn %d, want partial, not lost", r.Status, r.LostOn)
	}
	want := []oam.DelayState{oam.DelayMeasured, oam.DelayMissing, oam.DelayMissing, oam.DelayMeasured}
	for i, w := range want {
		if r.Segments[i].State != w {
			t.Errorf("segment %d: %v, want %v", i, r.Segments[i].State, w)
		}
	}
	// A late report is counted, not applied.
	h.c.ObserveReport(report(1, 1, tx+3*ms, tx, synced), tx+40*ms)
	if h.c.Counters().Late != 1 {
		t.Errorf("late = %d, want 1", h.c.Counters().Late)
	}
}

func TestReportsWithoutReplyLocaliseLoss(t *testing.T) {
	h := newHarness(t, nil)
	tx := 1000 * ms
	h.c.ObserveTx(1, tx, tx)
	// A's report lost on its way, B saw the probe, C never did.
	h.c.ObserveReport(report(1, 1, tx+3*ms, tx, synced), tx+5*ms)
	h.c.Expire(tx + 99*ms)
	if len(h.results) != 0 {
		t.Fatal("resolved before the timeout")
	}
	h.c.Expire(tx + 100*ms)
	r := h.results[0]
	if r.Status != StatusLost || r.LastSeen != 2 || r.LostOn != 2 {
		t.Fatalf("status %v lastSeen %d lostOn %d, want lost on segment 2 (B→C)", r.Status, r.LastSeen, r.LostOn)
	}
	want := []oam.DelayState{oam.DelayMissing, oam.DelayMissing, oam.DelayLost, oam.DelayNotReached}
	for i, w := range want {
		if r.Segments[i].State != w {
			t.Errorf("segment %d: %v, want %v", i, r.Segments[i].State, w)
		}
	}
	s := h.c.Summary()
	if s.Segments[2].Lost != 1 || s.Segments[1].Crossed != 1 || s.Segments[3].Crossed != 0 || s.Lost != 1 {
		t.Errorf("summary %+v", s)
	}
	// Without any report, the loss is on the first segment.
	h.c.ObserveTx(2, tx+200*ms, tx+200*ms)
	h.c.Expire(tx + 300*ms)
	if r := h.results[1]; r.LostOn != 0 || r.LastSeen != 0 {
		t.Errorf("probe without reports: lostOn %d lastSeen %d, want 0 0", r.LostOn, r.LastSeen)
	}
}

func TestClockStates(t *testing.T) {
	unsynced := oam.ClockState{Synchronised: false, State: 5, EstErrorMicros: 16000000}
	h := newHarness(t, nil)
	tx := 1000 * ms
	h.c.ObserveTx(1, tx, tx)
	h.c.ObserveReport(report(0, 1, tx+1*ms, tx, unsynced), tx)
	h.c.ObserveReport(report(1, 1, tx-2*ms, tx, synced), tx) // B's clock behind: negative
	h.c.ObserveReport(report(2, 1, tx+6*ms, tx, oam.ClockState{Synchronised: true, EstErrorMicros: 50}), tx)
	h.c.ObserveReceive(1, tx+10*ms, tx+10*ms)
	r := h.results[0]
	want := []oam.DelayState{oam.DelayUnsynchronised, oam.DelayUnsynchronised, oam.DelayMeasured, oam.DelayMeasured}
	for i, w := range want {
		if r.Segments[i].State != w {
			t.Errorf("segment %d: %v, want %v", i, r.Segments[i].State, w)
		}
	}
	if r.Segments[2].Bound != 52*time.Microsecond || r.Segments[2].Delay != 8*time.Millisecond {
		t.Errorf("B→C: %v ± %v, want 8ms ± 52µs", r.Segments[2].Delay, r.Segments[2].Bound)
	}
	if r.Segments[1].Delay != 0 || !r.Segments[1].HaveRaw || r.Segments[1].Raw != -3*time.Millisecond {
		t.Errorf("A→B: delay %v raw %v: an unsynchronised segment has a raw difference and no delay", r.Segments[1].Delay, r.Segments[1].Raw)
	}

	// Both ends synchronised but disagreeing: negative, never a delay.
	h.c.ObserveTx(2, tx, tx)
	h.c.ObserveReport(report(0, 2, tx+1*ms, tx, synced), tx)
	h.c.ObserveReport(report(1, 2, tx+500*us, tx, synced), tx)
	h.c.ObserveReport(report(2, 2, tx+6*ms, tx, synced), tx)
	h.c.ObserveReceive(2, tx+10*ms, tx+10*ms)
	r = h.results[1]
	if s := r.Segments[1]; s.State != oam.DelayNegative || s.Delay != 0 || s.Raw != -500*time.Microsecond {
		t.Errorf("A→B: %+v, want negative with raw -500µs and no delay", s)
	}
	sum := h.c.Summary()
	if sum.Segments[1].Negative != 1 || sum.Segments[1].Unsynchronised != 1 || sum.Segments[1].Delay.Count != 0 {
		t.Errorf("A→B summary %+v: negative and unsynchronised delays must not enter the statistics", sum.Segments[1])
	}

	// A shared clock needs no synchronisation and has no bound.
	hs := newHarness(t, func(c *Config) { c.SharedClock = true; c.SourceClock = unsynced })
	hs.c.ObserveTx(1, tx, tx)
	hs.c.ObserveReport(report(0, 1, tx+1*ms, tx, unsynced), tx)
	hs.c.ObserveReport(report(1, 1, tx+3*ms, tx, unsynced), tx)
	hs.c.ObserveReport(report(2, 1, tx+6*ms, tx, unsynced), tx)
	hs.c.ObserveReceive(1, tx+10*ms, tx+10*ms)
	for i, s := range hs.results[0].Segments {
		if s.State != oam.DelayMeasured || s.Bound != 0 {
			t.Errorf("shared clock segment %d: %+v", i, s)
		}
	}
}

func TestDuplicatesAndReordering(t *testing.T) {
	h := newHarness(t, nil)
	tx := 1000 * ms
	for seq := uint32(1); seq <= 3; seq++ {
		h.c.ObserveTx(seq, tx+int64(seq)*ms, tx)
	}
	// Probe 3 completes first, then 2, then 1: results still come out 1, 2, 3.
	for _, seq := range []uint32{3, 2, 1} {
		t0 := tx + int64(seq)*ms
		h.c.ObserveReport(report(0, seq, t0+1*ms, t0, synced), tx)
		h.c.ObserveReport(report(0, seq, t0+1*ms, t0, synced), tx) // duplicate
		h.c.ObserveReport(report(1, seq, t0+3*ms, t0, synced), tx)
		h.c.ObserveReport(report(2, seq, t0+6*ms, t0, synced), tx)
		h.c.ObserveReceive(seq, t0+10*ms, tx)
		h.c.ObserveReceive(seq, t0+10*ms, tx) // duplicate reply
	}
	if len(h.results) != 3 {
		t.Fatalf("%d results, want 3", len(h.results))
	}
	for i, r := range h.results {
		if r.Sequence != uint32(i+1) || r.Status != StatusComplete {
			t.Errorf("result %d: seq %d %v", i, r.Sequence, r.Status)
		}
	}
	c := h.c.Counters()
	if c.Duplicates+c.Late != 6 {
		t.Errorf("duplicates %d + late %d, want 6 (one extra report and one extra reply per probe)", c.Duplicates, c.Late)
	}
}

func TestWindowBoundsMemory(t *testing.T) {
	h := newHarness(t, nil) // window 8
	tx := 1000 * ms
	for seq := uint32(1); seq <= 20; seq++ {
		h.c.ObserveTx(seq, tx, tx)
	}
	if h.c.Outstanding() != 8 {
		t.Errorf("outstanding %d, want the window, 8", h.c.Outstanding())
	}
	if c := h.c.Counters(); c.Evicted != 12 {
		t.Errorf("evicted %d, want 12", c.Evicted)
	}
	if len(h.results) != 12 || !h.results[0].Evicted || h.results[0].Status != StatusLost {
		t.Errorf("%d results, first %+v", len(h.results), h.results[0])
	}
	// Far older than the window: stale.
	h.c.ObserveReceive(1, tx, tx) // its slot now holds probe 17
	h.c.ObserveReceive(0xfffffff0, tx, tx)
	if c := h.c.Counters(); c.Stale != 2 {
		t.Errorf("stale %d, want 2", c.Stale)
	}
	// A jump far ahead resolves everything without walking the gap.
	h.c.ObserveTx(1<<30, tx, tx)
	if h.c.Outstanding() != 1 {
		t.Errorf("outstanding %d after a jump, want 1", h.c.Outstanding())
	}
	h.c.Flush(tx)
	if h.c.Outstanding() != 0 {
		t.Error("flush left probes outstanding")
	}
}

func TestTxFirstAndForeign(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.TxFirst = true })
	tx := 1000 * ms
	h.c.ObserveReport(report(0, 1, tx, tx, synced), tx) // before any TX
	h.c.ObserveTx(1, tx, tx)
	h.c.ObserveReport(report(0, 5, tx, tx, synced), tx) // never sent
	r := report(0, 1, tx+1*ms, tx, synced)
	r.Records[0].Session = 77
	h.c.ObserveReport(r, tx)
	r = report(0, 1, tx+1*ms, tx, synced)
	r.Records[0].SID = sidB // A's slot index with B's SID: not our path
	h.c.ObserveReport(r, tx)
	r = report(0, 1, tx+1*ms, tx, synced)
	r.Records[0].SegmentsLeft = 9
	h.c.ObserveReport(r, tx)
	c := h.c.Counters()
	if c.Unexpected != 2 || c.Foreign != 1 || c.PathMismatch != 2 || h.c.Outstanding() != 1 {
		t.Errorf("counters %+v outstanding %d", c, h.c.Outstanding())
	}
}

func TestInBandSlots(t *testing.T) {
	h := newHarness(t, nil)
	reg := srh.DefaultRegistry()
	tlv, err := reg.SlotsTLV(len(path))
	if err != nil {
		t.Fatal(err)
	}
	slots, err := srh.ParseSlots(tlv.Value)
	if err != nil {
		t.Fatal(err)
	}
	tx := 1000 * ms
	for v, off := range []int64{1 * ms, 3 * ms, 6 * ms} {
		k := len(path) - 1 - v
		slots.SetSlot(k, srh.Slot{NodeID: uint32(10 + v), Flags: srh.SlotWritten, SegmentsLeft: uint8(k - 1), Timestamp: uint64(tx + off)})
	}
	probe := srh.Probe{Session: session, Sequence: 1, TxTimestamp: uint64(tx)}
	// Node A (id 10) has reported before (probe 0), B and C not: their clocks are unknown.
	h.c.ObserveReport(report(0, 0, tx-5*ms, tx-6*ms, synced), tx-100*ms)
	h.c.ObserveSlots(probe, slots, tx+10*ms)
	h.c.ObserveReceive(1, tx+10*ms, tx+10*ms)
	h.c.Expire(tx + 15*ms) // probe 0 resolves; probe 1 waits (Linger) for its nodes' clocks
	if len(h.results) != 1 {
		t.Fatalf("%d results: a probe with in-band timestamps of unknown clocks must wait for reports", len(h.results))
	}
	// C's report arrives later with the same timestamp: it brings C's clock. B's never comes.
	h.c.ObserveReport(report(2, 1, tx+6*ms, tx, synced), tx+16*ms)
	h.c.Expire(tx + 31*ms)
	var r *ProbeResult
	for i := range h.results {
		if h.results[i].Sequence == 1 {
			r = &h.results[i]
		}
	}
	if r == nil {
		t.Fatal("probe 1 not resolved")
	}
	want := []oam.DelayState{oam.DelayMeasured, oam.DelayClockUnknown, oam.DelayClockUnknown, oam.DelayMeasured}
	for i, w := range want {
		if r.Segments[i].State != w {
			t.Errorf("segment %d: %v, want %v", i, r.Segments[i].State, w)
		}
	}
	if r.Status != StatusComplete || r.Segments[0].Delay != time.Millisecond {
		t.Errorf("result %+v", r)
	}
	// A report disagreeing with the slot is counted and ignored.
	h.c.ObserveTx(2, tx, tx)
	probe.Sequence = 2
	h.c.ObserveSlots(probe, slots, tx)
	h.c.ObserveReport(report(0, 2, tx+2*ms, tx, synced), tx)
	if h.c.Counters().TimeMismatch != 1 {
		t.Errorf("time mismatch %d, want 1", h.c.Counters().TimeMismatch)
	}
	// A slot agreeing with a report that came first is neither a duplicate nor a mismatch; the
	// same slot twice is a duplicate.
	h.c.ObserveTx(3, tx, tx)
	h.c.ObserveReport(report(0, 3, tx+1*ms, tx, synced), tx)
	probe.Sequence = 3
	h.c.ObserveSlots(probe, slots, tx)
	if c := h.c.Counters(); c.Duplicates != 0 || c.TimeMismatch != 1 || c.Slots != 9 {
		t.Errorf("counters %+v, want no duplicate, 1 mismatch, 9 slots", c)
	}
	h.c.ObserveSlots(probe, slots, tx)
	if c := h.c.Counters(); c.Duplicates != 3 {
		t.Errorf("duplicates %d, want 3 (the same three slots again)", c.Duplicates)
	}
}

func TestLiveness(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Window = 64 })
	tx := int64(0)
	seq := uint32(0)
	step := func(lastNode int) { // lastNode: -1 none, 0..2 the nodes that see it, 3 = returns
		seq++
		tx += 10 * ms
		h.c.ObserveTx(seq, tx, tx)
		for v := 0; v <= min(lastNode, 2); v++ {
			h.c.ObserveReport(report(v, seq, tx+int64(v+1)*ms, tx, synced), tx+ms)
		}
		if lastNode == 3 {
			h.c.ObserveReceive(seq, tx+5*ms, tx+5*ms)
		}
		h.c.Expire(tx + 200*ms)
	}
	for i := 0; i < 2; i++ {
		step(3)
	}
	for i := 0; i < 4; i++ {
		if got := h.c.Liveness(i); got != LiveUp {
			t.Fatalf("segment %d %v after 2 good probes (up multiplier 2)", i, got)
		}
	}
	// Lost between B and C: B→C goes down on the third, C→src is not judged.
	step(1)
	step(1)
	if h.c.Liveness(2) != LiveUp {
		t.Fatal("down after 2 losses with detect multiplier 3")
	}
	step(1)
	if h.c.Liveness(2) != LiveDown || h.c.Liveness(1) != LiveUp || h.c.Liveness(3) != LiveUp {
		t.Fatalf("liveness %v %v %v %v", h.c.Liveness(0), h.c.Liveness(1), h.c.Liveness(2), h.c.Liveness(3))
	}
	step(3)
	if h.c.Liveness(2) != LiveDown {
		t.Fatal("up after one good probe with up multiplier 2")
	}
	step(3)
	if h.c.Liveness(2) != LiveUp {
		t.Fatal("not up after 2 good probes")
	}
	var b strings.Builder
	for _, tr := range h.trans {
		b.WriteString(tr.From + "→" + tr.To + " " + tr.Old.String() + ">" + tr.New.String() + ";")
	}
	want := "src→fc00:0:2::b0 unknown>up;fc00:0:2::b0→fc00:0:3::b0 unknown>up;fc00:0:3::b0→fc00:0:4::b0 unknown>up;fc00:0:4::b0→src unknown>up;" +
		"fc00:0:3::b0→fc00:0:4::b0 up>down;fc00:0:3::b0→fc00:0:4::b0 down>up;"
	if b.String() != want {
		t.Errorf("transitions\n got %s\nwant %s", b.String(), want)
	}
	down := h.trans[4]
	if down.Sequence != 5 || down.AtNs != 50*ms+200*ms {
		t.Errorf("down transition at seq %d, %d ns", down.Sequence, down.AtNs)
	}
	s := h.c.Summary()
	if s.Segments[2].Lost != 3 || s.Segments[2].Transitions != 3 || s.Segments[2].LossPercent() != 3*100.0/7 {
		t.Errorf("B→C summary %+v loss %.1f%%", s.Segments[2], s.Segments[2].LossPercent())
	}
}

func TestStats(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Window = 2048 })
	tx := int64(0)
	// A→B delays 1..1000 µs.
	for seq := uint32(1); seq <= 1000; seq++ {
		tx += ms
		h.c.ObserveTx(seq, tx, tx)
		h.c.ObserveReport(report(0, seq, tx+10*us, tx, synced), tx)
		h.c.ObserveReport(report(1, seq, tx+10*us+int64(seq)*us, tx, synced), tx)
		h.c.ObserveReport(report(2, seq, tx+2*ms, tx, synced), tx)
		h.c.ObserveReceive(seq, tx+3*ms, tx)
	}
	d := h.c.Summary().Segments[1].Delay
	check := func(name string, got time.Duration, want int64) {
		t.Helper()
		if diff := int64(got) - want; diff < -want/500 || diff > want/500 {
			t.Errorf("%s = %v, want %v (±0.2%%)", name, got, time.Duration(want))
		}
	}
	if d.Count != 1000 || d.Min != time.Microsecond || d.Max != time.Millisecond {
		t.Errorf("count %d min %v max %v", d.Count, d.Min, d.Max)
	}
	check("avg", d.Avg, 500500)
	check("mdev", d.Mdev, 288675) // sqrt((n²-1)/12) µs
	check("p50", d.P50, 500*us)
	check("p90", d.P90, 900*us)
	check("p99", d.P99, 990*us)
	if r := h.c.Summary().RTT; r.Count != 1000 || r.Min != 3*time.Millisecond || r.Max != 3*time.Millisecond {
		t.Errorf("rtt %+v", r)
	}
}

func TestConfigErrors(t *testing.T) {
	pts := PathPoints(path, true)
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no points", func(c *Config) { c.Points = nil }, "points: 0"},
		{"first not source", func(c *Config) { c.Points = pts[1:] }, "points[0]"},
		{"last not final", func(c *Config) { c.Points = pts[:3] }, "final point"},
		{"wire order", func(c *Config) {
			c.Points = append([]Point(nil), pts...)
			c.Points[1], c.Points[2] = c.Points[2], c.Points[1]
		}, "WireIndex"},
		{"window", func(c *Config) { c.Window = -1 }, "window"},
		{"timeout", func(c *Config) { c.Timeout = -1 }, "timeout"},
		{"detect", func(c *Config) { c.DetectMultiplier = 1000 }, "detect multiplier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Points: pts}
			tc.mod(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestPathPoints(t *testing.T) {
	pts := PathPoints(path, false)
	if len(pts) != 5 || pts[4].Kind != PointReply || pts[4].SID != src || pts[1].WireIndex != 3 || pts[3].WireIndex != 1 {
		t.Errorf("points %+v", pts)
	}
	if pts := PathPoints(path, true); pts[4].Kind != PointReturn || pts[4].Name != "src" {
		t.Errorf("reflected final point %+v", pts[4])
	}
}

// TestMachineSilent: the detection timer takes an up segment down at once; losses after it
// find it down, one crossing does not bring it back with Up 2, two do; a segment not yet up
// is left alone.
func TestMachineSilent(t *testing.T) {
	m := Machine{Detect: 3, Up: 2}
	if st, ch := m.Silent(); st != LiveUnknown || ch {
		t.Fatalf("unknown segment: Silent = %v, %v; want unknown, unchanged", st, ch)
	}
	m.Observe(true)
	if st, ch := m.Observe(true); st != LiveUp || !ch {
		t.Fatalf("two crossings: %v, %v; want up, changed", st, ch)
	}
	if st, ch := m.Silent(); st != LiveDown || !ch {
		t.Fatalf("Silent on up: %v, %v; want down, changed", st, ch)
	}
	if st, ch := m.Observe(false); st != LiveDown || ch {
		t.Fatalf("loss after Silent: %v, %v; want down, unchanged", st, ch)
	}
	if st, ch := m.Observe(true); st != LiveDown || ch {
		t.Fatalf("one crossing with Up 2: %v, %v; want down, unchanged", st, ch)
	}
	if st, ch := m.Observe(true); st != LiveUp || !ch {
		t.Fatalf("second crossing: %v, %v; want up, changed", st, ch)
	}
	// Silent on a down segment changes nothing.
	m.Silent()
	if st, ch := m.Silent(); st != LiveDown || ch {
		t.Fatalf("Silent twice: %v, %v; want down, unchanged", st, ch)
	}
}
