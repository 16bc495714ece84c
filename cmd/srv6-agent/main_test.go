package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/srv6oam/srv6oam/cmd/internal/cli/clitest"
)

// TestBadInput: a mistake in the command line exits 2 with one line naming the flag or
// argument (and a hint to --help for what the flag parser refuses); a configuration file that
// does not validate exits 1 naming the file; nothing on stdout, nothing loaded (no privileges
// needed: every check comes before the kernel is asked anything).
func TestBadInput(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "srv6-agent")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	badFile := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(badFile, []byte("node_id: 0\nsids: [{sid: fc00:0:2::b0, device: eth0}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const hint = "\nTry 'srv6-agent --help' for more information."
	for _, c := range []struct {
		args []string
		code int
		msg  string // stderr without "srv6-agent: " and the last newline
	}{
		{[]string{"--bogus"}, 2, "unknown option --bogus" + hint},
		{[]string{"--node-id", "x"}, 2, "--node-id x: not an integer of 0 or more" + hint},
		{[]string{"--report-rate", "fast"}, 2, "--report-rate fast: not a number" + hint},
		{[]string{"--node-id"}, 2, "--node-id: needs a value" + hint},
		{[]string{"--node-id", "2", "--sid", "fc00:0:2::b0,dev=eth0", "--collector", "fc00::/16", "extra"}, 2, `unexpected argument "extra": srv6-agent takes none`},
		{[]string{"--node-id", "2", "--sid", "fc00:0:2::b0"}, 2, `--sid "fc00:0:2::b0": dev=IFACE is required`},
		{[]string{"--node-id", "5000000000"}, 2, "--node-id 5000000000: larger than 32 bits"},
		{[]string{"--probe-tlv-type", "300"}, 2, "--probe-tlv-type 300: a TLV type is 0-255"},
		{nil, 2, "sids: at least one SID to bind is required (or a reflector, or path_tracing)"},
		{[]string{"--pt", "dev=eth0"}, 2, "--pt: id 0: want 1 to 4095 (12 bits)"},
		{[]string{"--pt", "dev=eth0,id=5,template=7"}, 2, `--pt "dev=eth0,id=5,template=7": timestamp template "7": want 1 (256 ns), 2 (4.096 µs), 3 (65.536 µs) or 4 (1.048576 ms)`},
		{[]string{"--pt", "dev=eth0,id=5", "--pt", "dev=eth1,id=5"}, 2, "path_tracing[1]: id 5 already names path_tracing[0]'s interface: a path would not say which"},
		{[]string{"--sid", "fc00:0:2::b0,dev=eth0"}, 2, "node_id: must be set and not 0 (0 marks an unwritten slot)"},
		{[]string{"--config", badFile}, 1, "config " + badFile + ": node_id: must be set and not 0 (0 marks an unwritten slot)"},
		{[]string{"--config", "/nonexistent.yaml"}, 1, "read config: open /nonexistent.yaml: no such file or directory"},
	} {
		cmd := exec.Command(bin, c.args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != c.code || stdout.Len() > 0 {
			t.Errorf("%q: %v, stdout %q, stderr %q; want exit %d and nothing on stdout", c.args, err, stdout.String(), stderr.String(), c.code)
			continue
		}
		if got := strings.TrimSuffix(stderr.String(), "\n"); got != "srv6-agent: "+c.msg {
			t.Errorf("%q: stderr %q, want %q", c.args, got, "srv6-agent: "+c.msg)
		}
	}
}

// TestHelp: --help prints every flag once, with one-word placeholders, its default once.
func TestHelp(t *testing.T) { clitest.CheckHelp(t, newApp()) }
