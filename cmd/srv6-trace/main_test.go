package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInput runs the command with bad options: exit 2 and one line naming the flag, before
// any socket is opened (no privileges needed).
func TestBadInput(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "srv6-trace")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{nil, "missing DESTINATION"},
		{[]string{"fc00::1", "fc00::2"}, "one DESTINATION"},
		{[]string{"10.0.0.1"}, "destination"},
		{[]string{"-q", "0", "fc00::1"}, "-q 0"},
		{[]string{"-m", "300", "fc00::1"}, "-m 300"},
		{[]string{"-f", "5", "-m", "3", "fc00::1"}, "-f 5"},
		{[]string{"-w", "0", "fc00::1"}, "-w 0"},
		{[]string{"-F", "zz", "fc00::1"}, "-F zz"},
		{[]string{"--segs", "fc00::1,nope", "fc00::2"}, "--segs: segment 2 of 2"},
		{[]string{"--per-segment", "fc00::1"}, "--per-segment needs --segs"},
		{[]string{"--per-segment", "--ecmp", "--segs", "fc00::3", "fc00::1"}, "cannot be combined"},
		{[]string{"--expect", "r1,,h2", "fc00::1"}, "--expect: hop 2 of 3"},
		{[]string{"--timestamps", "--segs", "fc00::3", "fc00::1"}, "--timestamps needs --per-segment"},
		{[]string{"--shared-clock", "--per-segment", "--segs", "fc00::3", "fc00::1"}, "--shared-clock needs --timestamps"},
		{[]string{"--per-segment", "--timestamps", "--timestamp-count", "0", "--segs", "fc00::3", "fc00::1"}, "--timestamp-count 0"},
		{[]string{"--max-flows", "2", "fc00::1"}, "--max-flows 2"},
		{[]string{"--agent-nexthops", "fc00::1"}, "--agent-nexthops needs --segs"},
		{[]string{"--topology", "/nonexistent.yaml", "fc00::1"}, "--topology"},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Env = append(os.Environ(), "LANG=C")
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit 2\n%s", c.args, err, out)
			continue
		}
		if !strings.HasPrefix(string(out), "srv6-trace: ") || !strings.Contains(string(out), c.msg) || strings.Count(string(out), "\n") != 1 {
			t.Errorf("%v: output %q, want one line with %q", c.args, out, c.msg)
		}
	}
}
