package monitor

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// benchTargets are line4 destinations reached from h1, each with its segment list.
var benchTargets = []struct{ target, segments string }{
	{"fc00:0:4::1", "[fc00:0:2::e, fc00:0:3::e]"},
	{"fc00:0:4::1", "[]"},
	{"fc00:0:3::1", "[fc00:0:2::e]"},
	{"fc00:0:2::1", "[]"},
	{"fc00:0:4::100", "[fc00:0:2::e, fc00:0:3::d6]"},
}

func benchConfig(jobs int) string {
	var b strings.Builder
	b.WriteString("defaults:\n  interval: 1s\n  detect_multiplier: 3\njobs:\n")
	for i := range jobs {
		t := benchTargets[i%len(benchTargets)]
		fmt.Fprintf(&b, "  - name: job-%05d\n    target: %s\n    segments: %s\n", i, t.target, t.segments)
		if strings.HasSuffix(t.target, "::100") {
			b.WriteString("    decap: true\n")
		}
		if i%3 == 0 {
			b.WriteString("    flow_labels: 8\n")
		}
	}
	return b.String()
}

// BenchmarkTenThousandJobs runs 10,000 echo jobs (SRV6_MONITOR_BENCH_JOBS overrides) at 1 probe/s each from h1 of a line4 lab,
// through the monitor's one socket pair, and measures over a 20 s window (after a warm-up in
// which every job has started): the CPU the process used (getrusage, user + system, as a
// fraction of one core; the system time includes the kernel forwarding the probes through the
// lab's veths in the sender's context), the peak RSS (VmHWM), and how late probes left
// compared with their schedule (p99).
func BenchmarkTenThousandJobs(b *testing.B) {
	b.ReportAllocs()
	jobs := envJobs(b, "SRV6_MONITOR_BENCH_JOBS", 10000)
	window := 20 * time.Second
	if s := os.Getenv("SRV6_MONITOR_BENCH_WINDOW"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("SRV6_MONITOR_BENCH_WINDOW: %v", err)
		}
		window = d
	}
	lab := labtest.Up(b, "line4")
	cfg, err := ParseConfig([]byte(benchConfig(jobs)), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(cfg, Options{Exec: func(fn func() error) error { return lab.Exec("h1", fn) }})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	time.Sleep(3 * time.Second) // every job starts within its first interval

	b.ResetTimer()
	var cores, latP99, latMax, pps, lossPct float64
	for range b.N {
		w := measureWindow(b, m, window)
		cores, pps, lossPct = w.cores, w.pps, w.lossPct
		latP99, latMax = float64(w.lat.P99)/1e6, float64(w.lat.Max)/1e6
	}
	b.StopTimer()
	b.ReportMetric(cores, "cores")
	b.ReportMetric(float64(vmHWM(b))/(1<<20), "RSS-MB")
	b.ReportMetric(latP99, "lateness-p99-ms")
	b.ReportMetric(latMax, "lateness-max-ms")
	b.ReportMetric(pps, "probes/s")
	b.ReportMetric(lossPct, "loss-%")
}

// envJobs is the number of jobs the environment variable name says, def without it.
func envJobs(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s %q: a number of jobs", name, s)
	}
	return n
}

// windowFigures are what a monitor did over a measurement window.
type windowFigures struct {
	cores, pps, lossPct float64
	lat                 LatenessStats
}

// measureWindow runs the monitor for window and measures the CPU of the whole process
// (getrusage: user + system, as a fraction of one core), the probes sent per second, the
// share lost, and how late probes left; it logs user and system time.
func measureWindow(b *testing.B, m *Monitor, window time.Duration) windowFigures {
	b.Helper()
	sent0, lost0 := totals(m)
	m.ResetLateness()
	var ru0, ru1 unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	t0 := time.Now()
	time.Sleep(window)
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	wall := time.Since(t0)
	sent1, lost1 := totals(m)
	user, sys := tv(ru1.Utime)-tv(ru0.Utime), tv(ru1.Stime)-tv(ru0.Stime)
	w := windowFigures{cores: (user + sys).Seconds() / wall.Seconds(), pps: float64(sent1-sent0) / wall.Seconds(), lat: m.Lateness()}
	if sent1 > sent0 {
		w.lossPct = float64(lost1-lost0) * 100 / float64(sent1-sent0)
	}
	b.Logf("user %v, system %v over %v", user, sys, wall.Round(time.Millisecond))
	return w
}

func totals(m *Monitor) (sent, lost uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, rj := range m.jobs {
		rj.mu.Lock()
		sent += rj.sentN
		lost += rj.lostN
		rj.mu.Unlock()
	}
	return sent, lost
}

func tv(t unix.Timeval) time.Duration {
	return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
}

// vmHWM is the process's peak resident set size in bytes (/proc/self/status VmHWM).
func vmHWM(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
