package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// labMonitor is srv6-monitor's Serve running in this test process with its sockets and HTTP
// listener in a lab node's namespace, and a real Prometheus server (Debian's package) started
// in the same namespace, scraping it every second.
type labMonitor struct {
	t       *testing.T
	lab     *testnet.Lab
	node    string
	cfgPath string
	addr    string // monitor HTTP, inside the node
	prom    string // Prometheus base URL, inside the node
	client  *http.Client
	reload  chan struct{}
}

func startLabMonitor(t *testing.T, lab *testnet.Lab, node, config string) *labMonitor {
	t.Helper()
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("prometheus not installed (CI=true: a lab test may not skip); run `make deps`")
		}
		t.Skip("prometheus not installed; run `make deps` (Debian package prometheus)")
	}
	dir := t.TempDir()
	lm := &labMonitor{t: t, lab: lab, node: node, cfgPath: filepath.Join(dir, "monitor.yaml"), reload: make(chan struct{}, 1)}
	lm.writeConfig(config)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	lm.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := lab.Exec(node, func() error {
				var err error
				c, err = dialer.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	var logBuf syncBuffer
	go func() {
		done <- Serve(ctx, DaemonOptions{
			ConfigPath: lm.cfgPath, Listen: "[::1]:0",
			Ready: func(a net.Addr) { ready <- a },
			Options: Options{
				Exec:   func(fn func() error) error { return lab.Exec(node, fn) },
				Logger: slog.New(slog.NewTextHandler(&logBuf, nil)),
			},
		}, lm.reload)
	}()
	select {
	case a := <-ready:
		lm.addr = a.String()
	case err := <-done:
		cancel()
		t.Fatalf("monitor: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("monitor: %v", err)
		}
		if t.Failed() {
			t.Logf("monitor log:\n%s", logBuf.String())
		}
	})

	promCfg := filepath.Join(dir, "prometheus.yml")
	err = os.WriteFile(promCfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: srv6-monitor
    static_configs:
      - targets: ['%s']
`, lm.addr)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	promListen := "[::1]:9090"
	cmd := exec.Command(promBin, "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promListen, "--enable-feature=native-histograms", "--log.level=warn")
	var promLog syncBuffer
	cmd.Stdout, cmd.Stderr = &promLog, &promLog
	if err := lab.Start(node, cmd); err != nil {
		t.Fatalf("start prometheus in %s: %v", node, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", promLog.String())
		}
	})
	lm.prom = "http://" + promListen
	lm.waitFor("Prometheus ready", 60*time.Second, func() (bool, string) {
		resp, err := lm.client.Get(lm.prom + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return lm
}

func (lm *labMonitor) writeConfig(s string) {
	lm.t.Helper()
	if err := os.WriteFile(lm.cfgPath, []byte(s), 0o644); err != nil {
		lm.t.Fatal(err)
	}
}

// waitFor polls cond every 200 ms until it holds or the limit passes.
func (lm *labMonitor) waitFor(what string, limit time.Duration, cond func() (bool, string)) {
	lm.t.Helper()
	deadline := time.Now().Add(limit)
	last := ""
	for time.Now().Before(deadline) {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		time.Sleep(200 * time.Millisecond)
	}
	lm.t.Fatalf("%s: not within %v (last: %s)", what, limit, last)
}

// query runs a PromQL instant query through Prometheus's HTTP API and returns each series'
// value by its job_name label.
func (lm *labMonitor) query(q string) (map[string]float64, error) {
	resp, err := lm.client.Get(lm.prom + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", q, out.Error)
	}
	vals := map[string]float64{}
	for _, r := range out.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %q", q, s)
		}
		vals[r.Metric["job_name"]] = v
	}
	return vals, nil
}

// promValue waits until query gives job want.
func (lm *labMonitor) promValue(what, q, job string, limit time.Duration, want func(v float64, ok bool) bool) {
	lm.t.Helper()
	lm.waitFor(what, limit, func() (bool, string) {
		vals, err := lm.query(q)
		if err != nil {
			return false, err.Error()
		}
		v, ok := vals[job]
		return want(v, ok), fmt.Sprintf("%s = %v", q, vals)
	})
}

func (lm *labMonitor) jobs() map[string]JobState {
	lm.t.Helper()
	resp, err := lm.client.Get("http://" + lm.addr + "/api/v1/jobs")
	if err != nil {
		lm.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Jobs []JobState }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		lm.t.Fatal(err)
	}
	m := map[string]JobState{}
	for _, j := range out.Jobs {
		m[j.Name] = j
	}
	return m
}

// nft runs an nft command in node.
func nft(t *testing.T, lab *testnet.Lab, node string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := lab.Output(ctx, node, "nft", args...); err != nil {
		t.Fatalf("nft %v in %s: %v\n%s", args, node, err, out)
	}
}

// dropFrom drops everything node receives from peer (prerouting), until the returned
// function is called (also registered as cleanup).
func dropFrom(t *testing.T, lab *testnet.Lab, node, peer string) (restore func()) {
	t.Helper()
	table := "s6mon"
	nft(t, lab, node, "add", "table", "inet", table)
	var once sync.Once
	restore = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = lab.Output(ctx, node, "nft", "delete", "table", "inet", table)
		})
	}
	t.Cleanup(restore)
	nft(t, lab, node, "add", "chain", "inet", table, "pre", "{ type filter hook prerouting priority -300 ; }")
	nft(t, lab, node, "add", "rule", "inet", table, "pre", "iifname", "to-"+peer, "drop")
	return restore
}

const line4Jobs = `defaults:
  interval: 200ms
  timeout: 200ms
  detect_multiplier: 3
jobs:
  - name: via-r1-r2
    target: fc00:0:4::1
    segments: [fc00:0:2::e, fc00:0:3::e]
    flow_labels: 4
    labels: {path: r1-r2}
  - name: r1-only
    target: fc00:0:2::1
`

// TestLabLine4 runs jobs from h1 in line4 with Prometheus scraping the monitor: the series
// come back through Prometheus's query API; dropping what r2 receives from r1 takes the
// r1-r2 job down within the detect time, restoring it brings it back; a reload adds and
// removes jobs and keeps the state of the job that did not change.
func TestLabLine4(t *testing.T) {
	lab := labtest.Up(t, "line4")
	lm := startLabMonitor(t, lab, "h1", line4Jobs)
	up := `srv6_monitor_segment_up`
	isOne := func(v float64, ok bool) bool { return ok && v == 1 }
	isZero := func(v float64, ok bool) bool { return ok && v == 0 }
	lm.promValue("via-r1-r2 up in Prometheus", up, "via-r1-r2", 30*time.Second, isOne)
	lm.promValue("r1-only up in Prometheus", up, "r1-only", 30*time.Second, isOne)
	lm.promValue("probes sent", `srv6_monitor_probes_sent_total`, "via-r1-r2", 10*time.Second, func(v float64, ok bool) bool { return ok && v >= 5 })
	// The RTT native histogram: the median RTT through two veth hops is well under 10 ms.
	lm.promValue("native RTT histogram", `histogram_quantile(0.5, rate(srv6_monitor_rtt_seconds[5s]))`, "via-r1-r2", 15*time.Second,
		func(v float64, ok bool) bool { return ok && v > 0 && v < 0.01 })

	// Break r1 → r2.
	broke := time.Now()
	restore := dropFrom(t, lab, "r2", "r1")
	lm.waitFor("via-r1-r2 down in the monitor", 10*time.Second, func() (bool, string) {
		j := lm.jobs()["via-r1-r2"]
		return j.Liveness[0].State == "down", j.Liveness[0].State
	})
	j := lm.jobs()["via-r1-r2"]
	// The rules (down after detect_multiplier probes lost in a row, or detect_multiplier ×
	// interval without a reply) are TestLivenessStateMachine's and TestDetectionTimer's; here
	// the network's effect: down after the break, with a probe lost, and more than an interval
	// after it (the timer runs 3 intervals from the last reply, which came before the break:
	// sooner would mean two replies missing before it; a timer cannot fire early, so this
	// holds on a loaded machine). How long it took depends on how busy the machine is: logged.
	if took := j.Liveness[0].LastTransition.Sub(broke); j.Lost < 1 || took < 200*time.Millisecond {
		t.Errorf("via-r1-r2 went down %v after the break with %d probes lost: want more than one 200 ms interval, one lost",
			took, j.Lost)
	}
	t.Logf("via-r1-r2 went down %v after the break (%d probes lost)", j.Liveness[0].LastTransition.Sub(broke), j.Lost)
	lm.promValue("via-r1-r2 down in Prometheus", up, "via-r1-r2", 10*time.Second, isZero)
	if v, err := lm.query(up); err != nil || v["r1-only"] != 1 {
		t.Errorf("r1-only while r2 drops: %v %v, want up (1)", v, err)
	}
	lm.promValue("lost probes", `srv6_monitor_probes_lost_total`, "via-r1-r2", 10*time.Second, func(v float64, ok bool) bool { return ok && v >= 3 })
	lm.promValue("last transition", `srv6_monitor_segment_last_transition_timestamp_seconds`, "via-r1-r2", 10*time.Second,
		func(v float64, ok bool) bool { return ok && v >= float64(broke.Unix()) })

	restore()
	lm.promValue("via-r1-r2 up again in Prometheus", up, "via-r1-r2", 20*time.Second, isOne)

	// Reload: r1-only removed, h2-plain added, via-r1-r2 unchanged (its state kept).
	before := lm.jobs()["via-r1-r2"]
	lm.writeConfig(strings.Replace(line4Jobs, `  - name: r1-only
    target: fc00:0:2::1
`, `  - name: h2-plain
    target: fc00:0:4::1
`, 1))
	lm.reload <- struct{}{}
	lm.waitFor("reload applied", 10*time.Second, func() (bool, string) {
		js := lm.jobs()
		_, added := js["h2-plain"]
		_, removed := js["r1-only"]
		return added && !removed, fmt.Sprint(len(js), " jobs")
	})
	after := lm.jobs()["via-r1-r2"]
	if !after.Started.Equal(before.Started) || after.Sent < before.Sent || after.Liveness[0].Transitions != before.Liveness[0].Transitions {
		t.Errorf("via-r1-r2 lost its state across the reload: before %+v, after %+v", before, after)
	}
	lm.promValue("h2-plain up in Prometheus", up, "h2-plain", 20*time.Second, isOne)
	lm.promValue("r1-only gone from Prometheus", `srv6_monitor_probes_sent_total`, "r1-only", 10*time.Second,
		func(_ float64, ok bool) bool { return !ok })

	// A bad config on reload changes nothing.
	lm.writeConfig("jobs:\n  - name: x\n    target: nope\n")
	lm.reload <- struct{}{}
	time.Sleep(500 * time.Millisecond)
	if js := lm.jobs(); len(js) != 2 {
		t.Errorf("after a bad reload: %d jobs, want the 2 still running", len(js))
	}
	lm.waitFor("config_last_reload_successful 0 in Prometheus", 10*time.Second, func() (bool, string) {
		v, err := lm.query(`srv6_monitor_config_last_reload_successful`)
		if err != nil {
			return false, err.Error()
		}
		return len(v) == 1 && v[""] == 0, fmt.Sprint(v)
	})
}

const diamondJobs = `defaults:
  interval: 200ms
  timeout: 200ms
  detect_multiplier: 3
jobs:
  - name: via-r2
    target: fc00:0:6::1
    segments: [fc00:0:3::e, fc00:0:5::e]
  - name: via-r3
    target: fc00:0:6::1
    segments: [fc00:0:4::e, fc00:0:5::e]
  - name: ecmp
    target: fc00:0:6::1
    flow_labels: 16
  - name: nowhere
    target: fc00:0:99::1
`

// TestLabDiamond: one job per path of the diamond; dropping what r2 receives takes only the
// job through r2 down, in the monitor and in Prometheus.
func TestLabDiamond(t *testing.T) {
	lab := labtest.Up(t, "diamond")
	lm := startLabMonitor(t, lab, "h1", diamondJobs)
	up := `srv6_monitor_segment_up`
	isOne := func(v float64, ok bool) bool { return ok && v == 1 }
	for _, j := range []string{"via-r2", "via-r3", "ecmp"} {
		lm.promValue(j+" up", up, j, 30*time.Second, isOne)
	}
	// A target without a route does not stop the monitor: the job is down and says why.
	lm.promValue("nowhere down", up, "nowhere", 10*time.Second, func(v float64, ok bool) bool { return ok && v == 0 })
	if j := lm.jobs()["nowhere"]; !strings.Contains(j.LastError, "no route") || j.Sent == 0 || j.Lost != j.Sent {
		t.Errorf("nowhere: sent %d lost %d last error %q, want every probe lost to %q", j.Sent, j.Lost, j.LastError, "no route")
	}
	dropFrom(t, lab, "r2", "r1")
	lm.promValue("via-r2 down", up, "via-r2", 15*time.Second, func(v float64, ok bool) bool { return ok && v == 0 })
	vals, err := lm.query(up)
	if err != nil {
		t.Fatal(err)
	}
	if vals["via-r3"] != 1 {
		t.Errorf("via-r3 = %v while only r2 drops, want 1", vals["via-r3"])
	}
	// The ECMP job spreads 16 flow labels over both paths: it loses some probes (those hashed
	// through r2) but never detect_multiplier in a row for long.
	lm.promValue("ecmp loses probes", `srv6_monitor_probes_lost_total`, "ecmp", 15*time.Second, func(v float64, ok bool) bool { return ok && v > 0 })
}

// syncBuffer is a bytes buffer safe for the concurrent writes of a logger and a child process.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var _ io.Writer = (*syncBuffer)(nil)

// runMonitor runs a Monitor of cfg's jobs on node until the test ends; ctx ends with it.
func runMonitor(t *testing.T, lab *testnet.Lab, node string, cfg *Config) (*Monitor, context.Context) {
	t.Helper()
	m, err := New(cfg, Options{Exec: func(fn func() error) error { return lab.Exec(node, fn) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("monitor: %v", err)
		}
	})
	return m, ctx
}

// TestLabIdentifierWrap: echo identifiers are handed out in sequence from a random start, so a
// monitor with many jobs (or a few, now and then) reaches 0 after 0xffff. 0 tells the probers
// to pick their own identifier; a job given it once sent its probes under one and waited for
// replies under another, and never saw one (found in fleet runs: one job of 9,000 silent).
// Here the sequence is made to wrap across three jobs through h1 → r1 → r2 → h2 of line4: each
// gets a distinct identifier other than 0, and every one is answered.
func TestLabIdentifierWrap(t *testing.T) {
	lab := labtest.Up(t, "line4")
	cfgFor := func(names ...string) *Config {
		s := "defaults:\n  interval: 100ms\njobs:\n"
		for _, n := range names {
			s += fmt.Sprintf("  - name: %s\n    target: fc00:0:4::1\n    segments: [fc00:0:2::e, fc00:0:3::e]\n", n)
		}
		cfg, err := ParseConfig([]byte(s), "test.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	m, _ := runMonitor(t, lab, "h1", cfgFor("first"))
	m.reloadMu.Lock()
	m.nextID = 0xfffe
	m.reloadMu.Unlock()
	if _, err := m.Reload(cfgFor("first", "w1", "w2", "w3")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var waiting []string
		jobs := m.Jobs()
		for _, j := range jobs {
			if j.Received < 5 {
				waiting = append(waiting, fmt.Sprintf("%s (echo identifier %d): %d of %d answered", j.Name, *j.Identifier, j.Received, j.Sent))
			}
		}
		if len(jobs) != 4 {
			t.Fatalf("%d jobs, want 4", len(jobs))
		}
		if len(waiting) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: %s", strings.Join(waiting, "; "))
		}
		time.Sleep(100 * time.Millisecond)
	}
	ids := map[uint16]string{}
	for _, j := range m.Jobs() {
		if *j.Identifier == 0 {
			t.Errorf("job %s: echo identifier 0", j.Name)
		}
		if other, dup := ids[*j.Identifier]; dup {
			t.Errorf("jobs %s and %s share echo identifier %d", other, j.Name, *j.Identifier)
		}
		ids[*j.Identifier] = j.Name
	}
}
