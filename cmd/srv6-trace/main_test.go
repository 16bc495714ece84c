package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/srv6oam/srv6oam/cmd/internal/cli/clitest"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// TestBadInput runs the command with bad options: exit 2, one line naming the flag or argument
// on stderr (and a hint to --help for what the flag parser refuses), nothing on stdout, before
// any socket is opened (no privileges needed). Attached short values (-q0, -m300) reach the
// same checks as separate ones, and -I with an address this host does not have is refused.
func TestBadInput(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "srv6-trace")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	const hint = "\nTry 'srv6-trace --help' for more information."
	for _, c := range []struct {
		args []string
		msg  string // stderr without "srv6-trace: " and the last newline, or its start ending in "…"
	}{
		{nil, "missing DESTINATION (usage: srv6-trace [options] [--segs SID,...] DESTINATION)"},
		{[]string{"fc00::1", "fc00::2"}, `extra argument "fc00::2": one DESTINATION expected`},
		{[]string{"10.0.0.1"}, "destination…"},
		{[]string{"--bogus", "fc00::1"}, "unknown option --bogus" + hint},
		{[]string{"-q", "x", "fc00::1"}, "-q x: not an integer" + hint},
		{[]string{"fc00::1", "-w"}, "-w: needs a value" + hint},
		{[]string{"-q", "0", "fc00::1"}, "-q 0: probes per hop must be 1 to 10"},
		{[]string{"-q0", "fc00::1"}, "-q 0: probes per hop must be 1 to 10"},
		{[]string{"-m300", "fc00::1"}, "-m 300: max hops must be 1 to 255"},
		{[]string{"-f", "5", "-m", "3", "fc00::1"}, "-f 5: the first hop must be 1 to max hops (3)"},
		{[]string{"-nf5", "-m3", "fc00::1"}, "-f 5: the first hop must be 1 to max hops (3)"},
		{[]string{"-w0", "fc00::1"}, "-w 0: the wait must be more than 0 and at most 60 seconds"},
		{[]string{"-F", "zz", "fc00::1"}, "-F zz…"},
		{[]string{"-I", "3fff::5", "fc00::1"}, "-I 3fff::5: bind: cannot assign requested address (not an address of this host)"},
		{[]string{"-I3fff::5", "--per-segment", "--segs", "fc00::3", "fc00::1"}, "-I 3fff::5: bind: cannot assign requested address (not an address of this host)"},
		{[]string{"--segs", "fc00::1,nope", "fc00::2"}, "--segs: segment 2 of 2…"},
		{[]string{"--per-segment", "fc00::1"}, "--per-segment needs --segs"},
		{[]string{"--per-segment", "--ecmp", "--segs", "fc00::3", "fc00::1"}, "--per-segment probes segments, not hops: it cannot be combined with --ecmp or --expect"},
		{[]string{"--expect", "r1,,h2", "fc00::1"}, "--expect: hop 2 of 3…"},
		{[]string{"--timestamps", "--segs", "fc00::3", "fc00::1"}, "--timestamps needs --per-segment, --report or --live"},
		{[]string{"--shared-clock", "--per-segment", "--segs", "fc00::3", "fc00::1"}, "--shared-clock needs --timestamps or --ioam"},
		{[]string{"--ioam-nodes", "3", "fc00::1"}, "--ioam-nodes needs --ioam"},
		{[]string{"--ioam", "--ioam-type", "foo", "fc00::1"}, `--ioam-type: trace type: "foo" is not a bit name…`},
		{[]string{"--ioam", "--ioam-nodes", "100", "fc00::1"}, "--ioam-nodes 100: an option of 16-octet entries holds 1 to 15"},
		{[]string{"--ioam", "--ioam-namespace", "70000", "fc00::1"}, "--ioam-namespace 70000: must be 0 to 65535"},
		{[]string{"--ioam", "--per-segment", "--segs", "fc00::3", "fc00::1"}, "--ioam traces hops: it cannot be combined with --per-segment…"},
		{[]string{"--per-segment", "--timestamps", "--timestamp-count", "0", "--segs", "fc00::3", "fc00::1"}, "--timestamp-count 0: must be 1 to 1000"},
		{[]string{"--max-flows", "2", "fc00::1"}, "--max-flows 2: must be 6 to 4096"},
		{[]string{"--agent-nexthops", "fc00::1"}, "--agent-nexthops needs --segs…"},
		{[]string{"--topology", "/nonexistent.yaml", "fc00::1"}, "--topology…"},
		{[]string{"-c", "5", "fc00::1"}, "-c needs --report or --live"},
		{[]string{"--report", "--live", "fc00::1"}, "--report and --live: choose one (--report -c N prints the table after N rounds)"},
		{[]string{"--live", "--json", "fc00::1"}, "--json cannot be used with --live: use --report -c N --json"},
		{[]string{"--report", "-q", "2", "fc00::1"}, "-q cannot be used with --report: each round sends one probe per hop, as mtr does: -c sets the rounds"},
		{[]string{"--report", "-c", "-1", "fc00::1"}, "-c -1: the number of rounds must be 0 (until interrupted) or more"},
		{[]string{"--live", "-i", "0", "fc00::1"}, "-i 0: the interval between rounds must be more than 0 and at most 3600 seconds"},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Env = append(os.Environ(), "LANG=C")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitError || stdout.Len() > 0 {
			t.Errorf("%q: %v, stdout %q; want exit 2 and nothing on stdout", c.args, err, stdout.String())
			continue
		}
		got, _ := strings.CutSuffix(stderr.String(), "\n")
		want, prefix := strings.CutSuffix("srv6-trace: "+c.msg, "…")
		if prefix && (!strings.HasPrefix(got, want) || strings.Contains(got, "\n")) || !prefix && got != want {
			t.Errorf("%q: stderr %q, want %q", c.args, got, "srv6-trace: "+c.msg)
		}
	}
}

// TestHelp: --help prints every flag once, with one-word placeholders, its default once.
func TestHelp(t *testing.T) { clitest.CheckHelp(t, newApp()) }

// TestShortOptionsInLab: traceroute's attached short values trace as the separate ones do:
// -q1 -m5 -w1 sends one probe per hop, at most 5 hops; -I with another node's address is
// refused before anything is sent.
func TestShortOptionsInLab(t *testing.T) {
	lab := labtest.Up(t, "line4")
	bin := filepath.Join(t.TempDir(), "srv6-trace")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := lab.Run("h1", cmd)
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%q: %v", args, err)
		}
		return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
	}
	out, stderr, code := run("-n", "-q1", "-m5", "-w1", "--segs", "fc00:0:3::e", "fc00:0:4::1")
	last := regexp.MustCompile(`(?m)^ 3  fc00:0:4::1 .*$`).FindString(out)
	if code != 0 || !strings.Contains(out, "5 hops max") || strings.Count(last, " ms") != 1 {
		t.Errorf("-q1 -m5 -w1: exit %d, stderr %q, stdout:\n%s\nwant 5 hops max and one time on the destination's line", code, stderr, out)
	}
	out, stderr, code = run("-I", "fc00:0:2::1", "fc00:0:4::1")
	if code != exitError || out != "" || stderr != "srv6-trace: -I fc00:0:2::1: bind: cannot assign requested address (not an address of this host)\n" {
		t.Errorf("-I of r1's address from h1: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}
