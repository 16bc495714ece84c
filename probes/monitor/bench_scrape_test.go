package monitor

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/probetest"
)

// BenchmarkScrape: one Prometheus scrape (/metrics, protobuf with native histograms, as
// Prometheus asks) of a monitor of 9,000 echo jobs (SRV6_MONITOR_SCRAPE_JOBS overrides), each
// with a filled RTT histogram: the time, the bytes allocated (the garbage each scrape leaves)
// and the heap the jobs take.
func BenchmarkScrape(b *testing.B) {
	n := envJobs(b, "SRV6_MONITOR_SCRAPE_JOBS", 9000)
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	m := &Monitor{log: slog.New(slog.NewTextHandler(io.Discard, nil)), reg: prometheus.NewRegistry(), jobs: map[string]*runningJob{},
		demux: probes.NewDemux(probetest.New(nil))}
	defer m.demux.Close()
	m.registerMetrics()
	for i := range n {
		j := Job{Name: fmt.Sprintf("job-%05d", i), Kind: KindEcho, Target: oam.Target{Destination: netip.MustParseAddr("fc00:0:4::1")},
			Labels: map[string]string{"site": "lab"}, DetectMultiplier: 3, UpMultiplier: 3}
		rj := &runningJob{job: j, segs: []segState{{from: "src", to: "fc00:0:4::1"}}}
		rj.metrics = newJobMetrics(j, rj.segmentNames())
		rj.segs[0].live.State, rj.segs[0].changedAt = collect.LiveUp, time.Now()
		for k := range 200 {
			rj.metrics.rtt.Observe(float64(100+k%50) * 1e-6)
		}
		m.jobs[j.Name] = rj
	}
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
	req.Header.Set("Accept", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3")
	b.ReportAllocs()
	var bytes int64
	for b.Loop() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		k, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		bytes = k
	}
	b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/float64(n), "heap-B/job")
	b.ReportMetric(float64(bytes), "scrape-B")
}

// TestScrapeSeries: a job's series as Prometheus reads them: counters from the job's own
// counts with the job's labels, the segment's series with segment, from and to, the RTT
// histogram, HELP and TYPE from the shared descriptors; a job removed takes its series along.
func TestScrapeSeries(t *testing.T) {
	m := &Monitor{log: slog.New(slog.NewTextHandler(io.Discard, nil)), reg: prometheus.NewRegistry(), jobs: map[string]*runningJob{},
		demux: probes.NewDemux(probetest.New(nil))}
	defer m.demux.Close()
	m.registerMetrics()
	j := Job{Name: "a", Kind: KindEcho, Target: oam.Target{Destination: netip.MustParseAddr("fc00:0:4::1")}, Labels: map[string]string{"site": "lab"}}
	rj := &runningJob{job: j, segs: []segState{{from: "src", to: "fc00:0:4::1"}}}
	rj.metrics = newJobMetrics(j, rj.segmentNames())
	rj.sentN, rj.lostN, rj.segs[0].lost = 5, 2, 2
	rj.segs[0].live.State, rj.segs[0].changedAt = collect.LiveUp, time.Unix(1700000000, 500_000_000)
	rj.metrics.rtt.Observe(0.0002)
	rj.metrics.rtt.Observe(0.0003)
	rj.metrics.rtt.Observe(0.0003)
	m.jobs["a"] = rj
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	body := scrape()
	seg := `from="src",job_name="a",kind="echo",segment="0",site="lab",to="fc00:0:4::1"`
	for _, want := range []string{
		"# HELP srv6_monitor_probes_sent_total Probes sent by the job.",
		"# TYPE srv6_monitor_probes_sent_total counter",
		`srv6_monitor_probes_sent_total{job_name="a",kind="echo",site="lab"} 5`,
		`srv6_monitor_probes_lost_total{job_name="a",kind="echo",site="lab"} 2`,
		"# TYPE srv6_monitor_segment_up gauge",
		`srv6_monitor_segment_probes_lost_total{` + seg + `} 2`,
		`srv6_monitor_segment_up{` + seg + `} 1`,
		`srv6_monitor_segment_last_transition_timestamp_seconds{` + seg + `} 1.7000000005e+09`,
		"# TYPE srv6_monitor_rtt_seconds histogram",
		`srv6_monitor_rtt_seconds_bucket{job_name="a",kind="echo",site="lab",le="0.00025"} 1`,
		`srv6_monitor_rtt_seconds_bucket{job_name="a",kind="echo",site="lab",le="0.0005"} 3`,
		`srv6_monitor_rtt_seconds_count{job_name="a",kind="echo",site="lab"} 3`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(body, "srv6_monitor_clock_unsynchronised") {
		t.Error("an echo job exposes clock_unsynchronised")
	}
	delete(m.jobs, "a")
	if body := scrape(); strings.Contains(body, `job_name="a"`) {
		t.Error("a removed job's series are still scraped")
	}
}
