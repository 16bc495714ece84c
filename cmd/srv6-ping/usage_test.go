package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/srv6oam/srv6oam/cmd/internal/cli/clitest"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// runHost runs srv6-ping on this host (no lab, no privileges) and returns stdout, stderr and
// the exit status.
func runHost(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return clitest.Run(t, exec.Command(binary, args...), nil)
}

// TestBadInput: a usage or input error exits 2 with one line on stderr naming the flag or
// argument (and, for what the flag parser refuses, a hint to --help), nothing on stdout, before
// any socket is opened. Attached short values (-c-1, -t300) reach the same checks as separate
// ones, and -I with an address this host does not have is refused as iputils refuses it.
func TestBadInput(t *testing.T) {
	const hint = "Try 'srv6-ping --help' for more information.\n"
	for _, c := range []struct {
		args []string
		want string // the whole of stderr, after "srv6-ping: "
	}{
		{[]string{"--bogus", "fc00::1"}, "unknown option --bogus\n" + hint},
		{[]string{"fc00::1", "-y"}, "unknown option -y\n" + hint},
		{[]string{"-c", "abc", "fc00::1"}, "-c abc: not an integer\n" + hint},
		{[]string{"-cabc", "fc00::1"}, "-c abc: not an integer\n" + hint},
		{[]string{"-W", "soon", "fc00::1"}, "-W soon: not a number\n" + hint},
		{[]string{"fc00::1", "-c"}, "-c: needs a value\n" + hint},
		{[]string{"-c-1", "fc00::1"}, "-c -1: the count must be 0 or more\n"},
		{[]string{"-i-1", "fc00::1"}, "-i -1: the interval must be 0 to 3600 seconds\n"},
		{[]string{"-W0", "fc00::1"}, "-W 0: the timeout must be more than 0 and at most 3600 seconds\n"},
		{[]string{"-s70000", "fc00::1"}, "-s 70000: the payload size must be 0 to 65000\n"},
		{[]string{"-qt300", "fc00::1"}, "-t 300: the hop limit must be 1 to 255\n"},
		{nil, "missing DESTINATION (usage: srv6-ping [options] [--segs SID,...] DESTINATION)\n"},
		{[]string{"fc00::1", "fc00::2"}, "extra argument \"fc00::2\": one DESTINATION expected\n"},
		{[]string{"-I", "3fff::5", "fc00::1"}, "-I 3fff::5: bind: cannot assign requested address (not an address of this host)\n"},
		{[]string{"-I3fff::5", "--timestamps", "--segs", "fc00::2", "fc00::1"}, "-I 3fff::5: bind: cannot assign requested address (not an address of this host)\n"},
		{[]string{"-I", "3fff::5", "--stamp", "fc00::1"}, "-I 3fff::5: bind: cannot assign requested address (not an address of this host)\n"},
		{[]string{"-I", "no-such-if0", "fc00::1"}, "-I no-such-if0: neither an IPv6 address nor an interface of this host\n"},
		{[]string{"-M", "dont", "fc00::1"}, "-M dont: srv6-ping crafts every probe whole and never fragments it (as -M do); for the largest size that crosses the segment list, see srv6-trace --pmtu\n"},
		{[]string{"-Mmaybe", "fc00::1"}, "-M maybe: expected do, probe, want or dont\n"},
	} {
		stdout, stderr, code := runHost(t, c.args...)
		if code != exitError || stdout != "" || stderr != "srv6-ping: "+c.want {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2, nothing on stdout, stderr %q", c.args, code, stdout, stderr, "srv6-ping: "+c.want)
		}
	}
}

// TestHelp: --help prints every flag once, on stdout, with one-word placeholders and no
// "(default: false)"; srv6-ping --help from the binary exits 0.
func TestHelp(t *testing.T) {
	clitest.CheckHelp(t, newApp())
	stdout, stderr, code := runHost(t, "--help")
	if code != 0 || stderr != "" || !strings.Contains(stdout, "--decap ") {
		t.Errorf("--help: exit %d, stderr %q, stdout %q", code, stderr, stdout)
	}
}

// TestShortOptionsInLab: iputils' attached short values probe as the separate ones do
// (-c1 -i0.2 -W1 -s100 -t5: one probe of 100 data bytes, 108 bytes back), and -I with an
// address of another node of the lab is refused before anything is sent.
func TestShortOptionsInLab(t *testing.T) {
	lab := labtest.Up(t, "line4")
	warm(t, lab, "h1", "fc00:0:4::1")
	out, stderr, code := runCLI(t, lab, "h1", "-c1", "-i0.2", "-W1", "-s100", "-t5", "--segs", "fc00:0:2::e", "fc00:0:4::1")
	if code != 0 || !strings.Contains(out, "108 bytes from fc00:0:4::1: icmp_seq=1 hlim=") || !strings.Contains(out, "1 packets transmitted, 1 received") {
		t.Errorf("-c1 -i0.2 -W1 -s100 -t5: exit %d, stderr %q, stdout:\n%s", code, stderr, out)
	}
	out, stderr, code = runCLI(t, lab, "h1", "-c1", "-I", "fc00:0:2::1", "fc00:0:4::1")
	if code != exitError || out != "" || stderr != "srv6-ping: -I fc00:0:2::1: bind: cannot assign requested address (not an address of this host)\n" {
		t.Errorf("-I of r1's address from h1: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}
