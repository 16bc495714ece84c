package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/srv6oam/srv6oam/cmd/internal/cli/clitest"
	"github.com/srv6oam/srv6oam/cmd/internal/output"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// binary is srv6-ping built once for the lab tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "srv6-ping-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "srv6-ping")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("build srv6-ping: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runCLI runs srv6-ping in node and returns stdout, stderr and the exit status.
func runCLI(t *testing.T, lab *testnet.Lab, node string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return clitest.Run(t, exec.CommandContext(ctx, binary, args...), func(cmd *exec.Cmd) error { return lab.Run(node, cmd) })
}

func warm(t *testing.T, lab *testnet.Lab, node, dst string) {
	t.Helper()
	for i := 0; i < 5; i++ {
		if _, _, code := runCLI(t, lab, node, "-c", "1", "-W", "2", dst); code == 0 {
			return
		}
	}
	t.Fatalf("warm-up: %s cannot reach %s", node, dst)
}

// compileSchema compiles one of the published schemas, docs/json/<file>.
func compileSchema(t *testing.T, file string) *jsonschema.Schema {
	return clitest.CompileSchema(t, file)
}

// validate checks that doc is JSON and valid against s.
func validate(t *testing.T, s *jsonschema.Schema, doc string) { clitest.Validate(t, s, doc) }

// TestJSONValidates runs srv6-ping --json and --json-lines in the lab, for replies, errors and
// timeouts, and validates every document against the published schema.
func TestJSONValidates(t *testing.T) {
	schema := compileSchema(t, "srv6-ping.schema.json")
	lab := labtest.Up(t, "line4")
	warm(t, lab, "h1", "fc00:0:4::1")
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"replies", []string{"-c", "3", "-i", "0.05", "--segs", "fc00:0:2::e,fc00:0:3::e1", "fc00:0:4::1"}, 0},
		{"insert-oam", []string{"-c", "2", "-i", "0.05", "--insert", "--oam", "-F", "abcde", "--segs", "fc00:0:2::e", "fc00:0:4::1"}, 0},
		{"interface", []string{"-c", "2", "-i", "0.05", "-I", "to-r1", "-Q", "184", "--segs", "fc00:0:2::e", "fc00:0:4::1"}, 0},
		{"source", []string{"-c", "2", "-i", "0.05", "-I", "fd00:0:0:1::1", "--segs", "fc00:0:2::e", "fc00:0:4::1"}, 0},
		{"errors", []string{"-c", "2", "-i", "0.05", "-t", "1", "--segs", "fc00:0:3::e", "fc00:0:4::1"}, 1},
		{"errors-verbose", []string{"-v", "-c", "2", "-i", "0.05", "-t", "1", "--segs", "fc00:0:3::e", "fc00:0:4::1"}, 1},
		{"timeouts", []string{"-c", "2", "-i", "0.05", "-W", "0.3", "--segs", "fc00:0:2::e,fc00:0:3::77", "fc00:0:4::1"}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, stderr, code := runCLI(t, lab, "h1", append([]string{"--json"}, c.args...)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %s stdout %s", code, c.code, stderr, out)
			}
			validate(t, schema, out)
			if c.name == "errors-verbose" {
				checkQuotes(t, out)
			}
			var doc struct {
				Results []struct{ Kind string }
				Summary struct{ Transmitted int }
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Summary.Transmitted == 0 || len(doc.Results) == 0 {
				t.Errorf("document %s: %v", out, err)
			}
			out, _, code = runCLI(t, lab, "h1", append([]string{"--json-lines"}, c.args...)...)
			if code != c.code {
				t.Fatalf("--json-lines exit %d, want %d", code, c.code)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) < 2 {
				t.Fatalf("--json-lines printed %q", out)
			}
			for _, l := range lines {
				validate(t, schema, l)
			}
		})
	}
}

// TestErrorsUserCanActOn: each error names what is wrong and exits 2.
func TestErrorsUserCanActOn(t *testing.T) {
	lab := labtest.Up(t, "line4")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"bad segment", []string{"--segs", "fc00:0:2::e,fc00:0:3::zz", "fc00:0:4::1"}, `--segs: segment 2 of 2: "fc00:0:3::zz" is not an IPv6 address`},
		{"ipv4 segment", []string{"--segs", "10.0.0.1", "fc00:0:4::1"}, `--segs: segment 1 of 1: "10.0.0.1" is not an IPv6 address (SRv6 segments are IPv6)`},
		{"no route", []string{"--segs", "3fff::e", "fc00:0:4::1"}, "first segment: no route to 3fff::e (see `ip -6 route get 3fff::e`)"},
		{"no destination", []string{"-c", "1"}, "missing DESTINATION"},
		{"flow label", []string{"-F", "123456", "fc00:0:4::1"}, "-F 123456: the flow label is a hex number of at most 20 bits"},
		{"hmac without file", []string{"--hmac-keyid", "1", "--segs", "fc00:0:2::e", "fc00:0:4::1"}, "--hmac-keyid needs --hmac-secret-file"},
		{"decap insert", []string{"--decap", "--insert", "--segs", "fc00:0:2::e", "fc00:0:4::1"}, "--decap needs --segs and an encapsulation (--encap or --encap-red), not --insert"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, stderr, code := runCLI(t, lab, "h1", c.args...)
			if code != exitError || !strings.Contains(stderr, c.want) || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and %q on stderr only", code, out, stderr, c.want)
			}
		})
	}
	t.Run("no CAP_NET_RAW", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
			"--inh-caps=-all", "--bounding-set=-net_raw", binary, "-c", "1", "fc00:0:4::1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := lab.Run("h1", cmd)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitError || !strings.Contains(stderr.String(), "need CAP_NET_RAW") {
			t.Errorf("unprivileged: %v, stderr %q; want exit 2 naming CAP_NET_RAW", err, stderr.String())
		}
	})
}

// checkQuotes: with -v every error of a probe sent with hop limit 1 through r2's SID (the
// Time Exceeded of r1, the first hop) carries the probe as r1 quoted it: the outer header from
// h1 to r2's SID with its hop limit spent, the SRH with the SID and the destination, Segments
// Left 1 (nothing processed yet), the inner header to h2, the Echo Request.
func checkQuotes(t *testing.T, out string) {
	t.Helper()
	var doc struct {
		Results []struct {
			Kind  string
			Quote *output.JSONQuote
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range doc.Results {
		if r.Kind != "error" {
			continue
		}
		if r.Quote == nil || len(r.Quote.Layers) < 4 {
			t.Errorf("error without a decoded quote: %+v", r.Quote)
			continue
		}
		l := r.Quote.Layers
		if l[0].Name != "ipv6" || l[0].Src != "fc00:0:1::1" || l[0].Dst != "fc00:0:3::e" || l[1].Name != "ipv6.routing" ||
			l[1].SegmentsLeft == nil || *l[1].SegmentsLeft != 1 || strings.Join(l[1].Segments, " ") != "fc00:0:4::1 fc00:0:3::e" ||
			l[2].Dst != "fc00:0:4::1" || l[3].Name != "icmpv6" {
			t.Errorf("quote %+v", l)
		}
	}
}
