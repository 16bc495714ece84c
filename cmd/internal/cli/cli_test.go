package cli

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func testFlags() []cli.Flag {
	return []cli.Flag{&cli.IntFlag{Name: "c"}, &cli.Float64Flag{Name: "i", Value: 1}, &cli.StringFlag{Name: "I"},
		&cli.BoolFlag{Name: "q"}, &cli.BoolFlag{Name: "D"}, &cli.StringFlag{Name: "segs"}, &cli.BoolFlag{Name: "json"}}
}

func TestFlagsFirst(t *testing.T) {
	flags := testFlags()
	for _, c := range []struct{ in, want []string }{
		{[]string{"p", "dst"}, []string{"p", "--", "dst"}},
		{[]string{"p", "dst", "-c", "3"}, []string{"p", "-c", "3", "--", "dst"}},
		{[]string{"p", "-qD", "dst", "--segs", "a,b"}, []string{"p", "-qD", "--segs", "a,b", "--", "dst"}},
		{[]string{"p", "--segs=a", "dst", "-q"}, []string{"p", "--segs=a", "-q", "--", "dst"}},
		{[]string{"p", "-c"}, []string{"p", "-c"}},
	} {
		if got := FlagsFirst(flags, c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("FlagsFirst(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestShortValues: attached values split as getopt splits them for iputils, and nothing else
// is touched: negative values, "--", whole flag names with one dash, flag=value, unknown letters.
func TestShortValues(t *testing.T) {
	flags := testFlags()
	for _, c := range []struct{ in, want string }{
		{"p -c1 -i0.2 dst", "p -c 1 -i 0.2 dst"},
		{"p -qc1 dst", "p -q -c 1 dst"},
		{"p -qDc 3 dst", "p -q -D -c 3 dst"},
		{"p -Ito-r1 dst", "p -I to-r1 dst"},
		{"p -c -1 dst", "p -c -1 dst"},
		{"p -i -0.5 dst", "p -i -0.5 dst"},
		{"p -c-1 dst", "p -c -1 dst"},
		{"p -c=2 -segs a,b -json dst", "p -c=2 -segs a,b -json dst"},
		{"p --segs -c1 dst", "p --segs -c1 dst"},
		{"p dst -- -c1", "p dst -- -c1"},
		{"p -x1 -cx", "p -x1 -c x"},
		{"p -qx", "p -qx"},
		{"p -c", "p -c"},
	} {
		if got := strings.Join(ShortValues(flags, strings.Fields(c.in)), " "); got != c.want {
			t.Errorf("ShortValues(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

// TestRunUsageErrors: a usage error is one line naming the flag or argument, a hint to --help
// for the parser's errors, nothing on standard output, exit 2; a command's other errors exit
// with the status the command chose.
func TestRunUsageErrors(t *testing.T) {
	run := func(failure int, args ...string) (string, string, int) {
		var stdout, stderr bytes.Buffer
		app := &cli.App{Name: "p", HideHelpCommand: true, Flags: testFlags(), Writer: &stdout,
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return Usage("want one DESTINATION, got %d arguments", c.NArg())
				}
				if c.Args().First() == "fail" {
					return cli.Exit("it failed", 7)
				}
				if c.Args().First() == "plain" {
					return errMultiLine
				}
				stdout.WriteString("ran")
				return nil
			}}
		code := Run(app, append([]string{"p"}, args...), &stderr, failure)
		return stdout.String(), stderr.String(), code
	}
	for _, c := range []struct {
		args []string
		want string // stderr
	}{
		{[]string{"--bogus", "dst"}, "p: unknown option --bogus\nTry 'p --help' for more information.\n"},
		{[]string{"dst", "-bogus=3"}, "p: unknown option -bogus\nTry 'p --help' for more information.\n"},
		{[]string{"-z", "dst"}, "p: unknown option -z\nTry 'p --help' for more information.\n"},
		{[]string{"-c", "abc", "dst"}, "p: -c abc: not an integer\nTry 'p --help' for more information.\n"},
		{[]string{"-cabc", "dst"}, "p: -c abc: not an integer\nTry 'p --help' for more information.\n"},
		{[]string{"-i", "soon", "dst"}, "p: -i soon: not a number\nTry 'p --help' for more information.\n"},
		{[]string{"-c", "99999999999999999999", "dst"}, "p: -c 99999999999999999999: out of range\nTry 'p --help' for more information.\n"},
		{[]string{"dst", "-c"}, "p: -c: needs a value\nTry 'p --help' for more information.\n"},
		{[]string{"--json=maybe", "dst"}, "p: --json=maybe: a switch takes no value (or true or false)\nTry 'p --help' for more information.\n"},
		{nil, "p: want one DESTINATION, got 0 arguments\n"},
		{[]string{"a", "b"}, "p: want one DESTINATION, got 2 arguments\n"},
	} {
		stdout, stderr, code := run(ExitFailure, c.args...)
		if code != ExitUsage || stderr != c.want || stdout != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2, nothing on stdout and %q", c.args, code, stdout, stderr, c.want)
		}
	}
	if stdout, stderr, code := run(ExitFailure, "dst", "-c1", "-qi0.2"); code != 0 || stdout != "ran" || stderr != "" {
		t.Errorf("good command line: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, stderr, code := run(ExitFailure, "fail"); code != 7 || stderr != "p: it failed\n" {
		t.Errorf("cli.Exit: exit %d, stderr %q; want 7 and its message", code, stderr)
	}
	for _, failure := range []int{ExitFailure, ExitError} {
		if _, stderr, code := run(failure, "plain"); code != failure || stderr != "p: first; second\n" {
			t.Errorf("plain error: exit %d, stderr %q; want %d and one line", code, stderr, failure)
		}
	}
	stdout, stderr, code := run(ExitFailure, "--help")
	if code != 0 || stderr != "" || !strings.Contains(stdout, "--segs") || strings.Contains(stdout, "(default: false)") {
		t.Errorf("--help: exit %d, stderr %q, stdout:\n%s\nwant the help on stdout, switches without (default: false)", code, stderr, stdout)
	}
}

var errMultiLine = errorString("first\nsecond")

type errorString string

func (e errorString) Error() string { return string(e) }

// TestParseSourceRefusesForeignAddress: -I with an address this host does not have is refused
// naming -I, as iputils refuses it; one it has (::1) is accepted. No root needed: the check
// binds a UDP socket.
func TestParseSourceRefusesForeignAddress(t *testing.T) {
	if _, _, err := ParseSource("3fff::5"); err == nil || !strings.Contains(err.Error(), "-I 3fff::5: bind: cannot assign requested address (not an address of this host)") {
		t.Errorf("ParseSource(3fff::5) = %v, want a refusal naming -I and the bind error", err)
	}
	a, ifname, err := ParseSource("::1")
	if err != nil || a != netip.MustParseAddr("::1") || ifname != "" {
		t.Errorf("ParseSource(::1) = %v %q %v", a, ifname, err)
	}
	if _, ifname, err := ParseSource("lo"); err != nil || ifname != "lo" {
		t.Errorf("ParseSource(lo) = %q %v", ifname, err)
	}
}
