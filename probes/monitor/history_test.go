package monitor

import (
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
)

// TestHistoryBuckets: quantiles of one bucket (fewer measurements than the reservoir holds:
// exact), losses counted, and the ring keeping the last hour oldest first.
func TestHistoryBuckets(t *testing.T) {
	h := newHistory(1, 1)
	t0 := time.Unix(1_800_000_000, 0) // a multiple of 20 s
	for i := 1; i <= 50; i++ {
		h.observe(0, t0.Add(time.Duration(i)*100*time.Millisecond), time.Duration(i)*time.Millisecond, false)
	}
	h.observe(0, t0.Add(6*time.Second), 0, true)
	h.observe(0, t0.Add(7*time.Second), 0, true)
	w := h.window(0, t0.Add(-time.Hour))
	if len(w) != 1 {
		t.Fatalf("%d buckets, want the current one", len(w))
	}
	b := w[0]
	// 1..50 ms sorted: min, p25 (index round(12.25) = 12: 13 ms), median (index round(24.5) =
	// 25: 26 ms), p75 (index round(36.75) = 37: 38 ms), max.
	want := [5]float32{0.001, 0.013, 0.026, 0.038, 0.050}
	for i := range want {
		if d := b.q[i] - want[i]; d > 1e-6 || d < -1e-6 {
			t.Errorf("quantile %d = %v, want %v", i, b.q[i], want[i])
		}
	}
	if b.sent != 52 || b.lost != 2 || b.start != uint32(t0.Unix()) {
		t.Errorf("bucket %+v", b)
	}
	// 200 more buckets: the ring keeps the last 180 finished ones and the current one.
	for k := 1; k <= 200; k++ {
		h.observe(0, t0.Add(time.Duration(k)*historyStep*time.Second), time.Duration(k)*time.Microsecond, false)
	}
	w = h.window(0, time.Unix(0, 0))
	if len(w) != historyBuckets+1 {
		t.Fatalf("%d buckets, want %d", len(w), historyBuckets+1)
	}
	for i := 1; i < len(w); i++ {
		if w[i].start != w[i-1].start+historyStep {
			t.Fatalf("bucket %d starts at %d after %d", i, w[i].start, w[i-1].start)
		}
	}
	if last := w[len(w)-1]; last.start != uint32(t0.Unix())+200*historyStep || last.q[2] != float32(200e-6) {
		t.Errorf("current bucket %+v", last)
	}
	// A window keeps only the buckets that start inside it.
	if got := h.window(0, t0.Add(190*historyStep*time.Second)); len(got) != 11 {
		t.Errorf("window of the last 11 buckets: %d", len(got))
	}
}

// TestHistoryReservoir: more measurements than the reservoir holds still give quantiles of
// the whole bucket, near the true ones (uniform sample).
func TestHistoryReservoir(t *testing.T) {
	h := newHistory(1, 7)
	t0 := time.Unix(1_800_000_000, 0)
	for i := range 2000 {
		h.observe(0, t0.Add(time.Duration(i)*time.Millisecond), time.Duration(i%1000)*time.Microsecond, false)
	}
	b := h.window(0, t0)[0]
	if b.sent != 2000 || b.q[2] < 300e-6 || b.q[2] > 700e-6 || b.q[0] > 100e-6 || b.q[4] < 900e-6 {
		t.Errorf("bucket %+v: median of 0..999 µs should be near 500 µs", b)
	}
}

// TestHandlerPageAndHistory: the page and its assets are served from the binary, and a job's
// history comes back as the page reads it.
func TestHandlerPageAndHistory(t *testing.T) {
	m := &Monitor{log: slog.New(slog.NewTextHandler(io.Discard, nil)), reg: prometheus.NewRegistry(), jobs: map[string]*runningJob{}}
	rj := &runningJob{job: Job{Name: "j1", Kind: KindStamp}, segs: []segState{{from: "src", to: "r"}, {from: "r", to: "src"}}, hist: newHistory(3, 1)}
	now := time.Now()
	rj.hist.observe(0, now, 2*time.Millisecond, false)
	rj.hist.observe(1, now, time.Millisecond, false)
	rj.hist.observe(0, now, 0, true)
	rj.hist.transition(now, 1, "down")
	m.jobs["j1"] = rj
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	get := func(path string, code int) string {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != code {
			t.Fatalf("GET %s: %d, want %d: %s", path, resp.StatusCode, code, b)
		}
		return string(b)
	}
	if page := get("/", 200); !strings.Contains(page, `<script src="static/uPlot.iife.min.js">`) {
		t.Errorf("page: %.200s", page)
	}
	if js := get("/static/uPlot.iife.min.js", 200); !strings.HasPrefix(js, "/*! https://github.com/leeoniya/uPlot (v1.6.32) */") {
		t.Errorf("uPlot: %.80s", js)
	}
	get("/static/app.js", 200)
	get("/static/uPlot.LICENSE", 200)
	get("/api/v1/jobs/nope/history", 404)
	get("/api/v1/jobs/j1/history?window=0", 400)
	var h JobHistory
	if err := json.Unmarshal([]byte(get("/api/v1/jobs/j1/history?window=60", 200)), &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Series) != 3 || h.BucketSeconds != 20 || len(h.Transitions) != 1 || h.Transitions[0].State != "down" {
		t.Fatalf("history %+v", h)
	}
	s0, s1, s2 := h.Series[0], h.Series[1], h.Series[2]
	if len(s0.Time) != 1 || *s0.Median[0] != float64(float32(0.002)) || s0.Sent[0] != 2 || s0.Lost[0] != 1 {
		t.Errorf("round trip %+v", s0)
	}
	if s1.From != "src" || s1.To != "r" || *s1.Min[0] != float64(float32(0.001)) || len(s2.Time) != 0 {
		t.Errorf("segments %+v %+v", s1, s2)
	}
}

// BenchmarkHistoryMemory fills an hour of history (180 finished buckets and the current one)
// for jobs of one series (echo, ioam) and of three (a stamp job, a two-segment timestamped one)
// and reports the heap it takes per job: docs/srv6-monitor.md multiplies it by 10,000.
func BenchmarkHistoryMemory(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(map[int]string{1: "series=1", 3: "series=3"}[n], func(b *testing.B) {
			b.ReportAllocs()
			const jobs = 1000
			t0 := time.Unix(1_800_000_000, 0)
			for range b.N {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				hs := make([]*history, jobs)
				for j := range hs {
					hs[j] = newHistory(n, uint64(j))
					for k := 0; k <= historyBuckets; k++ {
						for s := range n {
							hs[j].observe(s, t0.Add(time.Duration(k)*historyStep*time.Second), time.Millisecond, false)
						}
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/jobs, "bytes/job")
				runtime.KeepAlive(hs)
			}
		})
	}
}

// TestPageInChromium renders the page in headless Chromium against a monitor whose jobs'
// history the test wrote: each graph holds exactly the API's buckets (milliseconds), and a
// segment that is down is drawn red, one that is up green.
func TestPageInChromium(t *testing.T) {
	b := browser(t)
	m := &Monitor{log: slog.New(slog.NewTextHandler(io.Discard, nil)), reg: prometheus.NewRegistry(), jobs: map[string]*runningJob{}}
	now := time.Now()
	for _, name := range []string{"alpha", "beta"} {
		rj := &runningJob{job: Job{Name: name, Kind: KindStamp, Target: oam.Target{Destination: netip.MustParseAddr("fc00:0:4::1")}},
			segs: []segState{{from: "src", to: "[fc00:0:4::1]:862"}, {from: "[fc00:0:4::1]:862", to: "src"}}, hist: newHistory(3, 1)}
		for k := range 30 {
			at := now.Add(time.Duration(k-30) * historyStep * time.Second)
			for s := range 3 {
				rj.hist.observe(s, at, time.Duration(k+s+1)*100*time.Microsecond, false)
				rj.hist.observe(s, at, time.Duration(k+s+2)*100*time.Microsecond, k%7 == 3)
			}
		}
		rj.segs[0].live.State, rj.segs[1].live.State = collect.LiveUp, collect.LiveUp
		if name == "beta" {
			rj.segs[1].live.State = collect.LiveDown
			rj.hist.transition(now.Add(-time.Minute), 1, "down")
		}
		m.jobs[name] = rj
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	ctx := browse(t, b, srv.URL+"/")
	var charts map[string][][]*float64
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		charts, err = chromedp.Run(ctx, chromedp.Evaluate[map[string][][]*float64](`(() => {
			const out = {};
			for (const [k, u] of Object.entries((window.srv6monitor || {charts: {}}).charts)) out[k] = u.data;
			return out;
		})()`))
		if err == nil && len(charts) == 6 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(charts) != 6 {
		t.Fatalf("%d charts on the page, want 6 (two jobs, three series each)", len(charts))
	}
	for _, name := range []string{"alpha", "beta"} {
		h, _ := m.History(name, 15*time.Minute)
		for i, s := range h.Series {
			data := charts[name+"|"+strconv.Itoa(i)]
			if len(data) != 7 || len(data[0]) != len(s.Time) {
				t.Fatalf("%s series %d: %d columns, %d points; API %d points", name, i, len(data), len(data[0]), len(s.Time))
			}
			for k := range s.Time {
				if int64(*data[0][k]) != s.Time[k] || math.Abs(*data[3][k]-*s.Median[k]*1000) > 1e-9 ||
					math.Abs(*data[6][k]-100*float64(s.Lost[k])/float64(s.Sent[k])) > 1e-9 {
					t.Errorf("%s series %d point %d: graph t=%v median=%v loss=%v, API t=%d median=%v lost %d/%d",
						name, i, k, *data[0][k], *data[3][k], deref(data[6][k]), s.Time[k], *s.Median[k], s.Lost[k], s.Sent[k])
				}
			}
		}
	}
	colors, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.meta .seg')].map(s =>
		s.closest('.job').dataset.job + " " + s.dataset.segment + " " + s.dataset.state + " " + getComputedStyle(s).backgroundColor)`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alpha 0 up rgb(42, 138, 42)", "alpha 1 up rgb(42, 138, 42)", "beta 0 up rgb(42, 138, 42)", "beta 1 down rgb(221, 34, 34)"}
	if !slices.Equal(colors, want) {
		t.Errorf("segments on the page %q, want %q", colors, want)
	}
	screenshot(t, ctx)
}

// TestPageBranches: an ioam job's branches are on its card, one row per path the API lists,
// with its node ids in order; the last reply's row is the active one, a path not seen for a
// minute is faded.
func TestPageBranches(t *testing.T) {
	b := browser(t)
	m := &Monitor{log: slog.New(slog.NewTextHandler(io.Discard, nil)), reg: prometheus.NewRegistry(), jobs: map[string]*runningJob{}}
	now := time.Now()
	rj := &runningJob{job: Job{Name: "ecmp", Kind: KindIOAM, Target: oam.Target{Destination: netip.MustParseAddr("fc00:0:9::e")}},
		segs: []segState{{from: "src", to: "fc00:0:9::e"}}, hist: newHistory(1, 1)}
	rj.segs[0].live.State = collect.LiveUp
	rj.branches.observe(7, "1>2>3>7>5>9", now.Add(-5*time.Minute)) // stale
	rj.branches.observe(1, "1>2>6>4>5>9", now.Add(-2*time.Second))
	rj.branches.observe(2, "1>2>6>7>5>9", now.Add(-time.Second))
	rj.branches.observe(3, "1>2>6>4>5>9", now) // the last reply: active
	m.jobs["ecmp"] = rj
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	ctx := browse(t, b, srv.URL+"/")
	type row struct {
		Path, Active, Stale string
		Nodes               []string
	}
	var rows []row
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var err error
		rows, err = chromedp.Run(ctx, chromedp.Evaluate[[]row](`[...document.querySelectorAll('.job[data-job="ecmp"] .branch')].map(r => ({
			Path: r.dataset.path, Active: r.dataset.active, Stale: r.dataset.stale,
			Nodes: [...r.querySelectorAll('.node')].map(n => n.textContent)}))`))
		if err == nil && len(rows) > 0 {
			break
		}
	}
	api := rj.state().IOAMBranches
	if len(rows) != len(api) || len(api) != 3 {
		t.Fatalf("%d branch rows on the page, the API lists %d (want 3): %+v", len(rows), len(api), rows)
	}
	for i, a := range api {
		r := rows[i]
		wantStale := now.Sub(a.LastSeen) > time.Minute
		if r.Path != a.Path || strings.Join(r.Nodes, ">") != a.Path || r.Active != strconv.FormatBool(a.Active) || r.Stale != strconv.FormatBool(wantStale) {
			t.Errorf("row %d: %+v; API %s active %v, stale %v", i, r, a.Path, a.Active, wantStale)
		}
	}
	if !api[1].Active || api[1].Path != "1>2>6>4>5>9" || !slices.Equal(api[1].FlowLabels, []uint32{1, 3}) {
		t.Errorf("API branch 1: %+v, want 1>2>6>4>5>9 active with labels 1 and 3", api[1])
	}
}
