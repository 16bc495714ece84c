// Package clitest checks what every srv6oam command's --help must be, for the commands' tests.
package clitest

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	s6cli "github.com/srv6oam/srv6oam/cmd/internal/cli"
)

// placeholder is urfave/cli's: the first `backquoted` text of a flag's usage.
var placeholder = regexp.MustCompile("`([^`]*)`")

// CheckHelp runs app (and each of its subcommands) with --help as the command would, and fails
// t unless the help goes to standard output with status 0, names every flag on one line of its
// own and once only, says "(default" at most once per flag and never "(default: false)", and
// gives every flag that takes a value a one-word placeholder of its own (not urfave/cli's
// "value", not a backquoted phrase of the usage).
func CheckHelp(t *testing.T, app *cli.App) {
	t.Helper()
	check(t, app, nil, app.Flags)
	for _, cmd := range app.Commands {
		check(t, app, []string{cmd.Name}, cmd.Flags)
	}
}

func check(t *testing.T, app *cli.App, sub []string, flags []cli.Flag) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app.Writer = &stdout
	args := append(append([]string{app.Name}, sub...), "--help")
	if code := s6cli.Run(app, args, &stderr, s6cli.ExitFailure); code != 0 || stderr.Len() > 0 || stdout.Len() == 0 {
		t.Fatalf("%q: exit %d, stderr %q, %d bytes on stdout; want the help on stdout, exit 0", args, code, stderr.String(), stdout.Len())
	}
	help := stdout.String()
	if strings.Contains(help, "(default: false)") {
		t.Errorf("%q prints (default: false):\n%s", args, help)
	}
	lines := strings.Split(help, "\n")
	if !contains(flags, cli.HelpFlag) {
		flags = append(flags, cli.HelpFlag)
	}
	for _, f := range flags {
		names := make([]string, len(f.Names()))
		for i, n := range f.Names() {
			names[i] = "-" + n
			if len(n) > 1 {
				names[i] = "--" + n
			}
		}
		head := strings.Join(names, ", ")
		var found []string
		for _, l := range lines {
			if l := strings.TrimSpace(l); l == head || strings.HasPrefix(l, head+" ") {
				found = append(found, l)
			}
		}
		if len(found) != 1 {
			t.Errorf("%q: flag %s on %d lines of the help, want 1:\n%s", args, head, len(found), help)
			continue
		}
		if strings.Count(found[0], "(default") > 1 {
			t.Errorf("%q: %s says its default twice: %s", args, head, found[0])
		}
		df, ok := f.(cli.DocGenerationFlag)
		if !ok || !df.TakesValue() {
			continue
		}
		m := placeholder.FindStringSubmatch(df.GetUsage())
		if m == nil || strings.ContainsAny(m[1], " \t") {
			t.Errorf("%q: %s: the usage's first backquoted text is its placeholder; want one word, got %q in %q", args, head, m, df.GetUsage())
		}
	}
}

func contains(flags []cli.Flag, f cli.Flag) bool {
	for _, g := range flags {
		if g == f {
			return true
		}
	}
	return false
}
