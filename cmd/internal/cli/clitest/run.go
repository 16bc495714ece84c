package clitest

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Run runs cmd through start (nil: cmd.Run; a lab's Run to run it in one of its nodes) and
// returns its standard output, standard error and exit status. A command that could not be run
// at all fails the test.
func Run(t testing.TB, cmd *exec.Cmd, start func(*exec.Cmd) error) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if start == nil {
		start = (*exec.Cmd).Run
	}
	err := start(cmd)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	}
	t.Fatalf("run %s %q: %v", cmd.Path, cmd.Args[1:], err)
	return "", "", -1
}

// WantUsageError runs binary with args on this host and fails the test unless it exits 2 with
// nothing on standard output and exactly "name: msg" as the one line of standard error.
func WantUsageError(t testing.TB, binary, name string, args []string, msg string) {
	t.Helper()
	stdout, stderr, code := Run(t, exec.Command(binary, args...), nil)
	if code != 2 || stdout != "" {
		t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and nothing on stdout", args, code, stdout, stderr)
		return
	}
	if got := strings.TrimSuffix(stderr, "\n"); got != name+": "+msg {
		t.Errorf("%q: stderr %q, want %q", args, got, name+": "+msg)
	}
}

// CompileSchema compiles the published schema docs/json/<file> (the test runs two directories
// below the module root, as commands' tests do).
func CompileSchema(t testing.TB, file string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile("../../docs/json/" + file)
	if err != nil {
		t.Fatalf("compile schema %s: %v", file, err)
	}
	return s
}

// Validate checks that doc is JSON valid against s.
func Validate(t testing.TB, s *jsonschema.Schema, doc string) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	if err := s.Validate(v); err != nil {
		t.Errorf("does not validate against %s: %v\n%s", s.Location, err, doc)
	}
}

// ValidateSchema checks that doc is JSON valid against the published schema docs/json/<file>.
func ValidateSchema(t testing.TB, file, doc string) {
	t.Helper()
	Validate(t, CompileSchema(t, file), doc)
}
