package main

import (
	"strings"
	"testing"

	"github.com/srv6oam/srv6oam/cmd/internal/cli/clitest"
	"github.com/srv6oam/srv6oam/testnet"
)

// TestBadInput: a mistake in the command line, of the command or of a subcommand, exits 2
// with one line naming it (and a hint to the right --help for what the flag parser refuses),
// nothing on stdout; no lab or root needed.
func TestBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string // stderr without "srv6-testnet: " and the last newline
	}{
		{nil, "missing COMMAND: up, down, status, exec or graph\nTry 'srv6-testnet --help' for more information."},
		{[]string{"bogus"}, `unknown command "bogus": want up, down, status, exec or graph` + "\nTry 'srv6-testnet --help' for more information."},
		{[]string{"--bogus", "up"}, "unknown option --bogus\nTry 'srv6-testnet --help' for more information."},
		{[]string{"up", "--bogus", "line4"}, "unknown option --bogus\nTry 'srv6-testnet up --help' for more information."},
		{[]string{"up", "--name"}, "--name: needs a value\nTry 'srv6-testnet up --help' for more information."},
		{[]string{"up"}, "up: want one topology FILE (or a bundled name: " + strings.Join(testnet.Bundled(), ", ") + "), got 0 arguments"},
		{[]string{"up", "line4", "extra"}, "up: want one topology FILE (or a bundled name: " + strings.Join(testnet.Bundled(), ", ") + "), got 2 arguments"},
		{[]string{"down"}, "down: want a lab NAME or --all, got 0 arguments"},
		{[]string{"down", "--all", "lab"}, "down: want a lab NAME or --all, got 1 arguments"},
		{[]string{"status", "a", "b"}, "status: want at most one lab NAME, got 2 arguments"},
		{[]string{"exec", "lab", "h1"}, "exec: want NAME NODE -- CMD [ARG...], got 2 arguments"},
		{[]string{"graph"}, "graph: want one topology FILE, got 0 arguments"},
		{[]string{"graph", "--format", "png", "line4"}, "--format png: want dot or mermaid"},
	} {
		clitest.WantUsageError(t, binary, "srv6-testnet", c.args, c.msg)
	}
}

// TestHelp: the command's and every subcommand's --help print each flag once, with one-word
// placeholders, its default once.
func TestHelp(t *testing.T) { clitest.CheckHelp(t, newApp()) }
