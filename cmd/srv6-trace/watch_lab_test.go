package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/bpf/agent/agenttest"
	"github.com/srv6oam/srv6oam/cmd/internal/cli/clitest"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// reportDoc is the part of srv6-trace --report --json the tests read.
type reportDoc struct {
	Paths []struct {
		FlowLabel uint32 `json:"flow_label"`
		End       string
		Rounds    int
		Hops      []struct {
			TTL         int
			SID         string
			Destination bool
			Hosts       []struct{ Address, Name string }
			Sent        int
			Received    int
			LossPercent float64  `json:"loss_percent"`
			AvgMS       *float64 `json:"avg_ms"`
		}
	}
	Summary struct {
		Rounds  int
		Stop    string
		Reached bool
	}
	Error string
}

// noRateLimit lets every router of lab answer every probe: the tests check the counting of
// answers, not Linux's ICMPv6 rate limit (which the ECMP discovery's probes would spend).
func noRateLimit(t *testing.T, lab *testnet.Lab, nodes ...string) {
	t.Helper()
	for _, n := range nodes {
		if out, err := lab.Output(context.Background(), n, "sysctl", "-qw", "net.ipv6.icmp.ratelimit=0"); err != nil {
			t.Fatalf("%s: %v %s", n, err, out)
		}
	}
}

func parseReport(t *testing.T, out string) reportDoc {
	t.Helper()
	clitest.ValidateSchema(t, "srv6-trace-report.schema.json", out)
	var d reportDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return d
}

// TestReportECMP: srv6-trace --report --ecmp -c 3 through the diamond: the two branches, each
// with its own flow label and rows, r2 on one and r3 on the other, every hop 3 probes sent and
// 3 answered, the destination reached; the text has the same rows.
func TestReportECMP(t *testing.T) {
	bin, _ := tools(t)
	lab := labtest.Up(t, "diamond")
	noRateLimit(t, lab, "r1", "r2", "r3", "r4", "h2")
	mustRunIn(t, lab, "h1", bin, "-q", "1", "fc00:0:6::1") // neighbours resolved
	d := parseReport(t, mustRunIn(t, lab, "h1", bin, "--report", "-c", "3", "-i", "0.1", "--ecmp", "--json", "fc00:0:6::1"))
	if len(d.Paths) != 2 || d.Summary.Rounds != 3 || d.Summary.Stop != "completed" || !d.Summary.Reached {
		t.Fatalf("%d paths, summary %+v", len(d.Paths), d.Summary)
	}
	middles := map[string]bool{}
	for i, p := range d.Paths {
		if p.End != "reached" || p.Rounds != 3 || len(p.Hops) != 4 {
			t.Errorf("path %d (flow %#x): end %s, %d rounds, %d hops", i, p.FlowLabel, p.End, p.Rounds, len(p.Hops))
			continue
		}
		for j, h := range p.Hops {
			if h.TTL != j+1 || h.Sent != 3 || h.Received != 3 || h.LossPercent != 0 || h.AvgMS == nil || len(h.Hosts) != 1 {
				t.Errorf("path %d hop %d: %+v, want 3 sent and answered by one host", i, j+1, h)
				continue
			}
			want := []string{"r1", "", "r4", "h2"}[j]
			if j == 1 {
				middles[h.Hosts[0].Name] = true
			} else if h.Hosts[0].Name != want {
				t.Errorf("path %d hop %d answered by %+v, want %s", i, j+1, h.Hosts[0], want)
			}
		}
		if !p.Hops[3].Destination {
			t.Errorf("path %d: hop 4 is not the destination", i)
		}
	}
	if !middles["r2"] || !middles["r3"] {
		t.Errorf("the branches' second hops are %v, want r2 on one and r3 on the other", middles)
	}

	text := mustRunIn(t, lab, "h1", bin, "--report", "-c", "2", "-i", "0.1", "--ecmp", "fc00:0:6::1")
	for _, re := range []string{`(?m)^path 1 of 2: flow label 0x[0-9a-f]{5}$`, `(?m)^path 2 of 2: `,
		`(?m)^  2\. r[23] \(fc00:0:[34]::1\) +0\.0% +2 +\d+\.\d{3}`, `(?m)^     destination reached$`} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("text lacks %s:\n%s", re, text)
		}
	}
	t.Logf("\n%s", text)
}

// TestReportSilentHopAndErrors: with r2's Time Exceeded messages dropped, the report through
// r2's SID has a hop that lost every probe (and no host) between hops that answered all, and
// still reaches the destination; a destination without a route gives a JSON document that
// says why, and exit status 2; an interrupted report is a document too, stop "interrupted".
func TestReportSilentHopAndErrors(t *testing.T) {
	bin, _ := tools(t)
	lab := labtest.Up(t, "diamond")
	noRateLimit(t, lab, "r1", "r2", "r3", "r4", "h2")
	for _, args := range [][]string{{"add", "table", "ip6", "silent"},
		{"add", "chain", "ip6", "silent", "out", "{ type filter hook output priority 0 ; }"},
		{"add", "rule", "ip6", "silent", "out", "icmpv6", "type", "time-exceeded", "drop"}} {
		if out, err := lab.Output(context.Background(), "r2", "nft", args...); err != nil {
			t.Fatalf("nft %v: %v %s", args, err, out)
		}
	}
	d := parseReport(t, mustRunIn(t, lab, "h1", bin, "--report", "-c", "3", "-i", "0.1", "-w", "0.5", "--json", "--segs", "fc00:0:3::e", "fc00:0:6::1"))
	if len(d.Paths) != 1 || d.Paths[0].End != "reached" || len(d.Paths[0].Hops) != 4 {
		t.Fatalf("%+v", d.Paths)
	}
	for j, h := range d.Paths[0].Hops {
		silent := j == 1
		if h.Sent != 3 || (silent && (h.Received != 0 || h.LossPercent != 100 || len(h.Hosts) != 0 || h.AvgMS != nil)) ||
			(!silent && (h.Received != 3 || len(h.Hosts) != 1)) {
			t.Errorf("hop %d: %+v (silent: %v)", j+1, h, silent)
		}
	}
	text := mustRunIn(t, lab, "h1", bin, "--report", "-c", "2", "-i", "0.1", "-w", "0.5", "--segs", "fc00:0:3::e", "fc00:0:6::1")
	if !regexp.MustCompile(`(?m)^  2\. \?\?\? +100\.0% +2 +- +- +- +- +-$`).MatchString(text) {
		t.Errorf("no silent row for hop 2:\n%s", text)
	}

	out, _, code := runIn(t, lab, "h1", bin, "--report", "-c", "2", "--json", "2001:db8::1")
	if code != 2 {
		t.Errorf("no route: exit %d, want 2", code)
	}
	if d := parseReport(t, out); d.Error == "" || d.Summary.Stop != "error" || len(d.Paths) != 0 {
		t.Errorf("no route: error %q, summary %+v, %d paths", d.Error, d.Summary, len(d.Paths))
	}

	var stdout bytes.Buffer
	// -w 0.3: r2 is still silent, and a round waits -w for it (the interrupt comes after 1 s).
	cmd := exec.Command(bin, "--report", "-c", "0", "-i", "0.1", "-w", "0.3", "--json", "fc00:0:6::1")
	cmd.Stdout = &stdout
	if err := lab.Start("h1", cmd); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	_ = cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Errorf("interrupted report: %v", err)
	}
	if d := parseReport(t, stdout.String()); d.Summary.Stop != "interrupted" || d.Summary.Rounds < 1 || len(d.Paths) != 1 {
		t.Errorf("interrupted: summary %+v, %d paths", d.Summary, len(d.Paths))
	}
}

// tmux drives a terminal: a server of its own (socket in a temporary directory), one session.
type tmux struct {
	t      *testing.T
	socket string
}

func (x *tmux) run(args ...string) string {
	x.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", x.socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (x *tmux) screen() string { return x.run("capture-pane", "-p", "-t", "live") }

// waitFor waits until the screen matches re and returns it (the test fails after 30 s).
func (x *tmux) waitFor(re string) string {
	x.t.Helper()
	r := regexp.MustCompile(re)
	var s string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if s = x.screen(); r.MatchString(s) {
			return s
		}
	}
	x.t.Fatalf("the screen never matched %s:\n%s", re, s)
	return ""
}

// TestLiveInTmux drives srv6-trace --live --ecmp through a real terminal (tmux) in the diamond:
// the table of both branches fills in and updates, p pauses (the round stops counting), n
// shows addresses only, d switches to the graph, ? shows the keys, q quits with the terminal
// restored (tmux's alternate screen off) and the last table printed; a smaller window redraws
// within its width; a second run ends on SIGTERM the same way.
func TestLiveInTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatalf("tmux: %v (make deps installs it)", err)
	}
	bin, _ := tools(t)
	lab := labtest.Up(t, "diamond")
	noRateLimit(t, lab, "r1", "r2", "r3", "r4", "h2")
	mustRunIn(t, lab, "h1", bin, "-q", "1", "fc00:0:6::1")
	dir := t.TempDir()
	x := &tmux{t: t, socket: filepath.Join(dir, "tmux")}
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", x.socket, "kill-server").Run() })
	start := func(pidFile string) {
		// The exit status and a marker stay on the pane after the command ends.
		sh := fmt.Sprintf("echo $$ > %s; exec ip netns exec %s %s --live -i 0.2 --ecmp fc00:0:6::1", pidFile, lab.NamespaceName("h1"), bin)
		x.run("new-session", "-d", "-s", "live", "-x", "132", "-y", "32", "-e", "TERM=xterm-256color",
			"sh -c '"+sh+"'; echo EXITED $?; sleep 60")
	}
	start(filepath.Join(dir, "pid1"))

	s := x.waitFor(`round [3-9]`)
	for _, re := range []string{`srv6-trace --live fc00:0:6::1 from fc00:0:1::1`, `Keys: q quit  p pause  r reset  d display  n names  \? help`,
		`path 1 of 2: flow label`, `path 2 of 2: flow label`, `(?m)^  2\. r2 \(fc00:0:3::1\) +0\.0%`, `(?m)^  2\. r3 \(fc00:0:4::1\) +0\.0%`,
		`(?m)^  4\. h2 \(fc00:0:6::1\) +0\.0% +\d+ +\d+\.\d{3}`} {
		if !regexp.MustCompile(re).MatchString(s) {
			t.Errorf("screen lacks %s:\n%s", re, s)
		}
	}
	if on := strings.TrimSpace(x.run("display-message", "-p", "-t", "live", "#{alternate_on}")); on != "1" {
		t.Errorf("alternate screen %q while --live runs, want 1", on)
	}

	x.run("send-keys", "-t", "live", "p")
	s = x.waitFor(`\[paused\]`)
	round := regexp.MustCompile(`round (\d+)`).FindStringSubmatch(s)[1]
	time.Sleep(time.Second) // five rounds' worth
	if now := regexp.MustCompile(`round (\d+)`).FindStringSubmatch(x.screen())[1]; now != round && now != fmt.Sprint(atoi(round)+1) {
		t.Errorf("paused at round %s, now round %s", round, now)
	}
	x.run("send-keys", "-t", "live", "n")
	s = x.waitFor(`(?m)^  2\. fc00:0:[34]::1 +0\.0%`)
	if strings.Contains(s, "r2 (") {
		t.Errorf("n: names still shown:\n%s", s)
	}
	x.run("send-keys", "-t", "live", "d")
	x.waitFor(`(?m)^  1\. fc00:0:2::1 +[▁▂▃▄▅▆▇█]+$`)
	x.run("send-keys", "-t", "live", "?")
	x.waitFor(`r      reset every hop's counters`)
	x.run("send-keys", "-t", "live", "x") // any key leaves the help page
	x.waitFor(`Keys: q quit`)
	x.run("send-keys", "-t", "live", "p") // resume
	// A smaller terminal: the view is drawn again within it, lines cut, not wrapped.
	x.run("resize-window", "-t", "live", "-x", "90", "-y", "20")
	s = x.waitFor(`srv6-trace --live`)
	for _, l := range strings.Split(s, "\n") {
		if n := len([]rune(l)); n > 90 {
			t.Errorf("after resizing to 90 columns a line of %d: %q", n, l)
		}
	}
	if !strings.Contains(s, "Keys: q quit") || !regexp.MustCompile(`(?m)^  1\. fc00:0:2::1`).MatchString(s) {
		t.Errorf("after resizing:\n%s", s)
	}
	x.run("resize-window", "-t", "live", "-x", "132", "-y", "32") // room for the last table
	x.run("send-keys", "-t", "live", "q")
	s = x.waitFor(`EXITED \d+`)
	if !strings.Contains(s, "EXITED 0") || !regexp.MustCompile(`srv6-trace --live: \d+ rounds`).MatchString(s) ||
		!regexp.MustCompile(`(?m)^  4\. fc00:0:6::1 +0\.0%`).MatchString(s) {
		t.Errorf("after q: want exit 0 and the last table:\n%s", s)
	}
	if on := strings.TrimSpace(x.run("display-message", "-p", "-t", "live", "#{alternate_on}")); on != "0" {
		t.Errorf("alternate screen %q after q, want 0 (terminal restored)", on)
	}
	t.Logf("after q:\n%s", s)
	x.run("kill-session", "-t", "live")

	// SIGTERM: the program ends, the terminal is restored, the table printed.
	pidFile := filepath.Join(dir, "pid2")
	start(pidFile)
	x.waitFor(`round [2-9]`)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	s = x.waitFor(`EXITED \d+`)
	if !strings.Contains(s, "EXITED 0") || !strings.Contains(s, "srv6-trace --live:") {
		t.Errorf("after SIGTERM:\n%s", s)
	}
	if on := strings.TrimSpace(x.run("display-message", "-p", "-t", "live", "#{alternate_on}")); on != "0" {
		t.Errorf("alternate screen %q after SIGTERM, want 0", on)
	}
}

func atoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

// TestReportTimestamps: --report --timestamps in line4 with srv6-agent's End.OAM SIDs on r1 and
// r2: beside the rounds (to h2's address), timestamped probes go along the list, through h2
// and back, and the report has each segment's one-way delay: measured on the two segments that
// end at End.OAM SIDs, missing where an end has none (h2's address, and the way back).
func TestReportTimestamps(t *testing.T) {
	bin, _ := tools(t)
	lab := labtest.Up(t, "line4")
	agenttest.StartAll(t, lab, agenttest.Line4[:2], []string{"fc00:0:1::/48"}, 100000)
	mustRunIn(t, lab, "h1", bin, "-q", "1", "fc00:0:4::1")
	args := []string{"--report", "-c", "4", "-i", "0.2", "--timestamps", "--shared-clock", "--segs", "fc00:0:2::b0,fc00:0:3::b0", "fc00:0:4::1"}
	out := mustRunIn(t, lab, "h1", bin, append([]string{"--json"}, args...)...)
	clitest.ValidateSchema(t, "srv6-trace-report.schema.json", out)
	var d struct {
		Paths []struct {
			End  string
			Hops []struct{ SID string }
		}
		OneWay []struct {
			From, To string
			Measured int
			P50MS    *float64 `json:"p50_ms"`
			Missing  int
		} `json:"one_way"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Paths) != 1 || d.Paths[0].End != "reached" || len(d.OneWay) != 4 {
		t.Fatalf("paths %+v, one-way %+v", d.Paths, d.OneWay)
	}
	for i, w := range d.OneWay {
		measured := i < 2
		if measured && (w.Measured < 1 || w.P50MS == nil || *w.P50MS < 0) || !measured && (w.Measured != 0 || w.Missing < 1) {
			t.Errorf("segment %d %s→%s: %+v (measured: %v)", i+1, w.From, w.To, w, measured)
		}
	}
	text := mustRunIn(t, lab, "h1", bin, args...)
	if !regexp.MustCompile(`(?m)^segment 2 → fc00:0:3::b0   one-way p50 \d+\.\d{3} ms, last \d+\.\d{3} \(shared clock\), \d+ measured, lost 0$`).MatchString(text) ||
		!strings.Contains(text, "return → fc00:0:1::1   one-way ?") {
		t.Errorf("text:\n%s", text)
	}
	t.Logf("\n%s", text)
}
