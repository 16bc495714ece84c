package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// TestStampNoReflector: no reflector on h2, every probe unanswered (the port is closed: the
// kernel's port unreachable shows as an error, or nothing comes back), exit 1, no panic.
func TestStampNoReflector(t *testing.T) {
	lab := labtest.Up(t, "line4")
	schema := compileSchema(t, "srv6-ping-stamp.schema.json")
	args := []string{"--stamp", "-c", "3", "-i", "0.2", "-W", "0.5", "fc00:0:4::1"}
	out, stderr, code := runCLI(t, lab, "h1", args...)
	t.Logf("srv6-ping %s\n%s%s", strings.Join(args, " "), out, stderr)
	if code != 1 || strings.Contains(stderr, "panic") {
		t.Fatalf("exit %d, want 1; stderr %s", code, stderr)
	}
	if !regexp.MustCompile(`3 probes transmitted, 0 received(, \+\d errors)?, 100\.0% loss`).MatchString(out) {
		t.Errorf("summary: want 3 transmitted, 0 received, 100%% loss")
	}
	if strings.Contains(out, "rtt=") || strings.Contains(out, "min/avg") {
		t.Errorf("a reply printed without one")
	}
	jout, _, code := runCLI(t, lab, "h1", append([]string{"--json"}, args...)...)
	if code != 1 {
		t.Fatalf("--json: exit %d", code)
	}
	validate(t, schema, jout)
	var doc stampJSON
	if err := json.Unmarshal([]byte(jout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary.Transmitted != 3 || doc.Summary.Received != 0 || doc.Summary.RTT != nil || len(doc.Results) != 3 {
		t.Errorf("summary %+v, %d results", doc.Summary, len(doc.Results))
	}
	for _, r := range doc.Results {
		if r.Status == "reply" {
			t.Errorf("seq %d: a reply", r.Seq)
		}
	}
}

// TestStampFlagErrors: flags that do not apply to --stamp, or out of range, exit 2 with a
// message naming the flag (no lab: nothing is sent).
func TestStampFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--stamp", "--encap", "fc00::1"}, "--encap cannot be used with --stamp"},
		{[]string{"--stamp", "--timestamps", "fc00::1"}, "--timestamps cannot be used with --stamp"},
		{[]string{"--stamp", "-t", "3", "fc00::1"}, "-t cannot be used with --stamp"},
		{[]string{"--stamp", "-s", "20", "fc00::1"}, "-s 20: with --stamp"},
		{[]string{"--stamp", "-s", "2000", "fc00::1"}, "-s 2000: with --stamp"},
		{[]string{"--stamp", "-i", "0", "fc00::1"}, "-i 0: with --stamp"},
		{[]string{"--stamp", "--stamp-port", "0", "fc00::1"}, "--stamp-port 0"},
		{[]string{"--stamp-port", "863", "fc00::1"}, "--stamp-port needs --stamp"},
		{[]string{"--stamp", "-I", "lo", "fc00::1"}, "with --stamp the source must be an address"},
		{[]string{"--stamp"}, "missing DESTINATION"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, binary, tc.args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		cancel()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("srv6-ping %v: %v, stderr %q; want exit 2 and %q", tc.args, err, stderr.String(), tc.want)
		}
	}
}
