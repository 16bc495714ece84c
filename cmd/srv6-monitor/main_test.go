package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/cmd/internal/cli/clitest"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// binary is srv6-monitor built once for the tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "srv6-monitor-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "srv6-monitor")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("build srv6-monitor: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestCheckBadConfigs: every bad config exits 1 with one line naming file:line, job and field,
// those the engines would refuse only when the job starts included (too many segments for an
// SRH or for the timestamp slots, a decapsulating timestamped job, an oversized timestamped
// probe): --check runs the validation the monitor runs at start.
func TestCheckBadConfigs(t *testing.T) {
	files, err := filepath.Glob("../../probes/monitor/testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad configs: %v", err)
	}
	for _, f := range files {
		var stderr bytes.Buffer
		cmd := exec.Command(binary, "--config", f, "--check")
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("%s: %v, want exit status 1", f, err)
		}
		msg := strings.TrimSpace(stderr.String())
		if !strings.HasPrefix(msg, "srv6-monitor: "+f+":") || strings.Count(msg, "\n") != 0 {
			t.Errorf("%s: stderr %q, want one line starting with the file and line", f, msg)
		}
	}
	out, err := exec.Command(binary, "--config", "../../probes/monitor/testdata/line4.yaml", "--check").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "4 jobs OK") {
		t.Errorf("good config: %v %s", err, out)
	}
}

// TestBadInput: a mistake in the command line exits 2 with one line naming the flag or
// argument (a hint to --help for what the flag parser refuses) and nothing on stdout, --check
// included; positional arguments are refused, not ignored.
func TestBadInput(t *testing.T) {
	good := "../../probes/monitor/testdata/line4.yaml"
	const hint = "\nTry 'srv6-monitor --help' for more information."
	for _, c := range []struct {
		args []string
		msg  string // stderr without "srv6-monitor: " and the last newline
	}{
		{[]string{"--config", good, "--bogus"}, "unknown option --bogus" + hint},
		{[]string{"--config"}, "--config: needs a value" + hint},
		{[]string{"--config", good, "--check", "extra"}, `unexpected argument "extra": srv6-monitor takes none`},
		{[]string{"--config", good, "extra"}, `unexpected argument "extra": srv6-monitor takes none`},
		{nil, "--config FILE is required (the jobs; docs/srv6-monitor.md)"},
		{[]string{"--check"}, "--config FILE is required (the jobs; docs/srv6-monitor.md)"},
		{[]string{"--config", good, "--check", "--log-level", "loud"}, `--log-level "loud": want debug, info, warn or error`},
		{[]string{"--config", good, "--check", "--listen", "9471"}, `--listen "9471": want HOST:PORT, e.g. [::]:9471: address 9471: missing port in address`},
	} {
		clitest.WantUsageError(t, binary, "srv6-monitor", c.args, c.msg)
	}
}

// TestHelp: --help prints every flag once, with one-word placeholders, its default once.
func TestHelp(t *testing.T) { clitest.CheckHelp(t, newApp()) }

// TestSIGHUP runs the command in h1 of line4, sends it a real SIGHUP after editing its config,
// and stops it with SIGTERM: it exits 0 and has written one JSON line per probe.
func TestSIGHUP(t *testing.T) {
	lab := labtest.Up(t, "line4")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "monitor.yaml")
	results := filepath.Join(dir, "results.jsonl")
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("defaults: {interval: 100ms}\njobs:\n  - name: a\n    target: fc00:0:4::1\n    segments: [fc00:0:2::e, fc00:0:3::e]\n  - name: b\n    target: fc00:0:2::1\n")
	var stderr bytes.Buffer
	cmd := exec.Command(binary, "--config", cfg, "--listen", "[::1]:9471", "--results", results)
	cmd.Stderr = &stderr
	if err := lab.Start("h1", cmd); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if t.Failed() {
			t.Logf("stderr:\n%s", stderr.String())
		}
	}()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := lab.Exec("h1", func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}}}
	jobs := func() map[string]string {
		resp, err := client.Get("http://[::1]:9471/api/v1/jobs")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var out struct {
			Jobs []struct {
				Name     string
				Liveness []struct{ State string }
			}
		}
		if json.NewDecoder(resp.Body).Decode(&out) != nil {
			return nil
		}
		m := map[string]string{}
		for _, j := range out.Jobs {
			m[j.Name] = j.Liveness[0].State
		}
		return m
	}
	waitFor := func(what string, cond func(map[string]string) bool) {
		t.Helper()
		for range 100 {
			if cond(jobs()) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: not within 10 s; jobs %v", what, jobs())
	}
	waitFor("a and b up", func(j map[string]string) bool { return j["a"] == "up" && j["b"] == "up" })

	write("defaults: {interval: 100ms}\njobs:\n  - name: a\n    target: fc00:0:4::1\n    segments: [fc00:0:2::e, fc00:0:3::e]\n  - name: c\n    target: fc00:0:3::1\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("c added, b removed, a kept up", func(j map[string]string) bool {
		_, hasB := j["b"]
		return j["c"] == "up" && !hasB && j["a"] == "up"
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("srv6-monitor exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("srv6-monitor did not stop within 10 s of SIGTERM")
	}
	f, err := os.Open(results)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct{ Job, Status string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("results line %q: %v", sc.Text(), err)
		}
		seen[r.Job+" "+r.Status]++
	}
	if seen["a reply"] < 5 || seen["b reply"] < 3 || seen["c reply"] < 3 {
		t.Errorf("results: %v", seen)
	}
	if !strings.Contains(stderr.String(), "added=1 removed=1 changed=0 kept=1") {
		t.Errorf("no reload log line in:\n%s", stderr.String())
	}
}
