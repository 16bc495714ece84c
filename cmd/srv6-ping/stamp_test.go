package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/bpf/agent"
	"github.com/srv6oam/srv6oam/bpf/agent/agenttest"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// stampJSON is the part of --stamp --json the tests check.
type stampJSON struct {
	SchemaVersion int `json:"schema_version"`
	Mode          string
	Target        struct {
		Source   string
		Segments []string
	}
	STAMP   struct{ Reflector string } `json:"stamp"`
	Results []struct {
		Seq          uint32
		Status       string
		OneWay       string                          `json:"one_way"`
		RTTMS        *float64                        `json:"rtt_ms"`
		ForwardMS    *float64                        `json:"forward_ms"`
		BackwardMS   *float64                        `json:"backward_ms"`
		ResidenceMS  *float64                        `json:"residence_ms"`
		BoundMS      *float64                        `json:"bound_ms"`
		RawForwardMS *float64                        `json:"raw_forward_ms"`
		TAINs        *struct{ T1, T2, T3, T4 int64 } `json:"tai_ns"`
	}
	Summary struct {
		Transmitted, Received, Errors, Unsynchronised int
		RTT, Forward, Backward                        *struct{ Count int }
	}
}

// TestStampLab runs `srv6-ping --stamp` in h1 of line4 toward srv6-agent's reflector on h2, on
// the plain path and through an explicit segment list, and checks text and JSON output.
func TestStampLab(t *testing.T) {
	lab := labtest.Up(t, "line4")
	a, _ := agenttest.Start(t, lab, "h2", agent.Config{Reflector: &agent.ReflectorConfig{
		Senders: []string{"fc00:0:1::/48", "fd00::/16"}, Rate: 1000}})
	warm(t, lab, "h1", "fc00:0:4::1")
	schema := compileSchema(t, "srv6-ping-stamp.schema.json")
	const n = 5
	// rttBound is generous: a round trip across three veth hops takes tens of microseconds.
	const rttBound = 100.0 // ms
	num := `(\d+\.\d{3})`
	probeLine := regexp.MustCompile(`(?m)^seq=(\d+) rtt=` + num + ` ms  fwd ` + num + `  back ` + num + `  reflector ` + num + ` ms \(one-way, shared clock\)$`)
	replies := uint64(0)

	for _, tc := range []struct {
		name     string
		segs     []string
		wantSegs int
	}{
		{"plain", nil, 0},
		{"segs", []string{"--segs", "fc00:0:2::e,fc00:0:3::e"}, 2},
		// RFC 8972's Session-Sender Identifier: replies match only if the reflector copies it.
		{"ssid", []string{"--stamp-ssid", "48879"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--stamp", "--shared-clock", "-c", strconv.Itoa(n), "-i", "0.05"}, tc.segs...)
			args = append(args, "fc00:0:4::1")
			out, stderr, code := runCLI(t, lab, "h1", args...)
			t.Logf("srv6-ping %s\n%s", strings.Join(args, " "), out)
			if code != 0 {
				t.Fatalf("exit %d, stderr %s", code, stderr)
			}
			header := "SRV6-PING STAMP fc00:0:4::1, reflector port 862: 44 bytes of UDP payload, from ["
			if tc.wantSegs > 0 {
				header = "SRV6-PING STAMP fc00:0:4::1 via fc00:0:2::e → fc00:0:3::e, reflector port 862: 44 bytes of UDP payload, from ["
			}
			if !strings.HasPrefix(out, header) {
				t.Errorf("header: %q, want prefix %q", strings.SplitN(out, "\n", 2)[0], header)
			}
			lines := probeLine.FindAllStringSubmatch(out, -1)
			if len(lines) != n {
				t.Fatalf("%d probe lines with rtt, fwd, back and reflector, want %d", len(lines), n)
			}
			for i, l := range lines {
				f := func(k int) float64 { v, _ := strconv.ParseFloat(l[k], 64); return v }
				rtt, fwd, back := f(2), f(3), f(4)
				if l[1] != strconv.Itoa(i+1) || rtt <= 0 || rtt > rttBound || fwd <= 0 || back <= 0 {
					t.Errorf("line %q: want seq=%d, 0 < rtt ≤ %v ms, positive one-way delays", l[0], i+1, rttBound)
				}
				// One clock: rtt = fwd + back, up to the rounding of three printed decimals.
				if math.Abs(fwd+back-rtt) > 0.0021 {
					t.Errorf("line %q: fwd + back = %.3f, rtt %.3f", l[0], fwd+back, rtt)
				}
			}
			if !strings.Contains(out, fmt.Sprintf("%d probes transmitted, %d received, 0.0%% loss", n, n)) {
				t.Errorf("summary: want %d received, 0.0%% loss", n)
			}
			for _, name := range []string{"rtt", "fwd", "back", "reflector"} {
				if !regexp.MustCompile(`(?m)^` + name + ` min/avg/max/mdev = ` + num + `/` + num + `/` + num + `/` + num + ` ms`).MatchString(out) {
					t.Errorf("summary: no %s min/avg/max/mdev line", name)
				}
			}

			jout, stderr, code := runCLI(t, lab, "h1", append([]string{"--json"}, args...)...)
			if code != 0 {
				t.Fatalf("--json: exit %d, stderr %s", code, stderr)
			}
			validate(t, schema, jout)
			if testing.Verbose() {
				t.Logf("--json:\n%s", jout)
			}
			var doc stampJSON
			if err := json.Unmarshal([]byte(jout), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.SchemaVersion != 2 || doc.Mode != "stamp" || doc.STAMP.Reflector != "[fc00:0:4::1]:862" || len(doc.Results) != n ||
				doc.Summary.Received != n || doc.Summary.Forward == nil || doc.Summary.Forward.Count != n {
				t.Fatalf("schema %d mode %q reflector %s, %d results, %d received, forward %+v", doc.SchemaVersion, doc.Mode, doc.STAMP.Reflector, len(doc.Results), doc.Summary.Received, doc.Summary.Forward)
			}
			if len(doc.Target.Segments) != tc.wantSegs {
				t.Errorf("segments %v", doc.Target.Segments)
			}
			for _, r := range doc.Results {
				if r.Status != "reply" || r.OneWay != "measured" || r.RTTMS == nil || r.ForwardMS == nil || r.BackwardMS == nil || r.TAINs == nil {
					t.Fatalf("seq %d: %+v", r.Seq, r)
				}
				ts := r.TAINs
				if !(ts.T1 < ts.T2 && ts.T2 <= ts.T3 && ts.T3 < ts.T4) {
					t.Errorf("seq %d: timestamps out of order %+v", r.Seq, *ts)
				}
				if *r.RTTMS <= 0 || *r.RTTMS > rttBound || math.Abs(*r.ForwardMS+*r.BackwardMS-*r.RTTMS) > 1e-6 || *r.BoundMS != 0 {
					t.Errorf("seq %d: rtt %v fwd %v back %v bound %v", r.Seq, *r.RTTMS, *r.ForwardMS, *r.BackwardMS, *r.BoundMS)
				}
				// rtt excludes the reflector's residence; T4 − T1 includes it.
				if got := float64(ts.T4-ts.T1) / 1e6; math.Abs(got-*r.RTTMS-*r.ResidenceMS) > 1e-6 {
					t.Errorf("seq %d: T4 − T1 %v ms ≠ rtt %v + residence %v", r.Seq, got, *r.RTTMS, *r.ResidenceMS)
				}
			}
			replies += 2 * n
			// The reflector counts a reply once sent, which can be just after it arrived here.
			for deadline := time.Now().Add(5 * time.Second); a.Reflector().Stats().Replies.Load() < replies && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			if got := a.Reflector().Stats().Replies.Load(); got != replies {
				t.Errorf("reflector replies %d, want %d", got, replies)
			}
		})
	}

	// Without --shared-clock, a one-way delay is believed only when adjtimex says the clock is
	// synchronised (sender and reflector read the same host clock here).
	t.Run("clock state", func(t *testing.T) {
		args := []string{"--json-lines", "--stamp", "-c", "2", "-i", "0.05", "fc00:0:4::1"}
		out, stderr, code := runCLI(t, lab, "h1", args...)
		if code != 0 {
			t.Fatalf("exit %d, stderr %s", code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 {
			t.Fatalf("%d lines, want 2 results and a summary:\n%s", len(lines), out)
		}
		synced := probes.LocalClock().Synchronised
		for _, l := range lines[:2] {
			validate(t, schema, l)
			var r struct {
				OneWay    string   `json:"one_way"`
				ForwardMS *float64 `json:"forward_ms"`
				RawFwd    *float64 `json:"raw_forward_ms"`
			}
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatal(err)
			}
			switch {
			case !synced && (r.OneWay != "unsynchronised" || r.ForwardMS != nil || r.RawFwd == nil):
				t.Errorf("unsynchronised clock: %s", l)
			case synced && r.OneWay == "unsynchronised":
				t.Errorf("synchronised clock flagged: %s", l)
			}
		}
		validate(t, schema, lines[2])
		text, _, _ := runCLI(t, lab, "h1", args[1:]...)
		t.Logf("clock synchronised: %t\n%s", synced, text)
		if !synced && (!strings.Contains(text, "fwd unsync  back unsync") || strings.Contains(text, "fwd min/avg")) {
			t.Errorf("an unsynchronised one-way delay printed as a delay:\n%s", text)
		}
	})

	// -s pads the test packets, and the reflector answers in kind; -D prefixes the time.
	t.Run("size and D", func(t *testing.T) {
		args := []string{"--stamp", "-D", "-s", "200", "-c", "2", "-i", "0.05", "fc00:0:4::1"}
		out, stderr, code := runCLI(t, lab, "h1", args...)
		if code != 0 {
			t.Fatalf("exit %d, stderr %s", code, stderr)
		}
		if !strings.Contains(out, ": 200 bytes of UDP payload") ||
			len(regexp.MustCompile(`(?m)^\[\d+\.\d{6}\] seq=\d rtt=`).FindAllString(out, -1)) != 2 {
			t.Errorf("want a 200-byte header and 2 lines with a -D time:\n%s", out)
		}
		jout, _, code := runCLI(t, lab, "h1", append([]string{"--json-lines"}, args...)...)
		if code != 0 || strings.Count(jout, `"reply_bytes":200,`) != 2 {
			t.Errorf("exit %d, want 2 replies of 200 bytes:\n%s", code, jout)
		}
	})

	// Ctrl-C, between probes and during a probe's wait for its reply: the statistics of what
	// was sent, exit 0 when a reply came and 1 when none did, and no wait for -W.
	t.Run("interrupt", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			args  []string
			after string // SIGINT once this line prefix is printed
			code  int
			sum   string
		}{
			{"replies", []string{"-i", "0.05", "fc00:0:4::1"}, "seq=3 ", 0, `(?m)^\d+ probes transmitted, \d+ received, `},
			{"waiting", []string{"-W", "60", "--segs", "fc00:0:3::77", "fc00:0:4::1"}, "SRV6-PING ", 1, `(?m)^1 probes transmitted, 0 received, 100\.0% loss`},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			cmd := exec.CommandContext(ctx, binary, append([]string{"--stamp"}, tc.args...)...)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := lab.Start("h1", cmd); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			var sent time.Time
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				out.WriteString(sc.Text() + "\n")
				if strings.HasPrefix(sc.Text(), tc.after) && sent.IsZero() {
					time.Sleep(200 * time.Millisecond) // the first probe is out and waiting
					sent = time.Now()
					if err := cmd.Process.Signal(os.Interrupt); err != nil {
						t.Fatal(err)
					}
				}
			}
			err = cmd.Wait()
			cancel()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			took := time.Since(sent)
			t.Logf("%s: exit %d %v after SIGINT\n%s", tc.name, code, took.Round(time.Millisecond), out.String())
			if code != tc.code || !regexp.MustCompile(tc.sum).MatchString(out.String()) || took > 5*time.Second {
				t.Errorf("%s: exit %d after %v; want %d, summary %q, at once", tc.name, code, took, tc.code, tc.sum)
			}
		}
	})

	// A SID nobody bound on r2's locator: the segment list is really on the packets (the
	// plain path answers), so nothing comes back.
	t.Run("segs through an unbound SID", func(t *testing.T) {
		out, stderr, code := runCLI(t, lab, "h1", "--stamp", "-c", "2", "-i", "0.1", "-W", "0.5", "--segs", "fc00:0:3::77", "fc00:0:4::1")
		t.Logf("%s%s", out, stderr)
		if code != 1 || !strings.Contains(out, "2 probes transmitted, 0 received") {
			t.Errorf("exit %d, want 1 with 0 received", code)
		}
	})
}
