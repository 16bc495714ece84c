package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func packagingApp() *cli.App {
	return &cli.App{Name: "srv6-x", Version: "1.2", Usage: "try",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "segs", Usage: "the segment `LIST`: a,b"},
			&cli.BoolFlag{Name: "json", Usage: "print [JSON] it's so"},
			&cli.IntFlag{Name: "c", Usage: "count"},
		},
		Action: func(*cli.Context) error { return nil }}
}

// TestManPage: --man-page prints a section 8 page naming every flag, --help and --version
// included, that man reads; the flags are in --help.
func TestManPage(t *testing.T) {
	var out, errb bytes.Buffer
	app := packagingApp()
	app.Writer = &out
	if code := Run(app, []string{"srv6-x", "--man-page"}, &errb, 1); code != ExitOK || errb.Len() > 0 {
		t.Fatalf("--man-page: exit %d, %s", code, errb.String())
	}
	page := out.String()
	if !strings.HasPrefix(page, ".nh\n.TH srv6-x 8") {
		t.Errorf("page starts %.40q, want a section 8 .TH", page)
	}
	for _, f := range []string{"--segs", "--json", "-c", "--help", "--version", "--man-page", "--completion"} {
		if !strings.Contains(page, "\\"+f) && !strings.Contains(page, f) {
			t.Errorf("page lacks %s", f)
		}
	}
	if _, err := exec.LookPath("man"); err == nil {
		f := filepath.Join(t.TempDir(), "srv6-x.8")
		if err := os.WriteFile(f, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("man", "-l", f)
		cmd.Env = append(os.Environ(), "MANWIDTH=100")
		txt, err := cmd.Output()
		if err != nil || !strings.Contains(string(txt), "segment LIST") {
			t.Errorf("man -l: %v:\n%s", err, txt)
		}
	}
	out.Reset()
	app = packagingApp()
	app.Writer = &out
	Run(app, []string{"srv6-x", "--help"}, &errb, 1)
	if !strings.Contains(out.String(), "--man-page") || !strings.Contains(out.String(), "--completion SHELL") {
		t.Errorf("--help lacks the packaging flags:\n%s", out.String())
	}
}

// TestCompletions: the bash script completes flags (and subcommands, and a subcommand's flags)
// in bash; the zsh script is valid zsh; an unknown shell is a usage error.
func TestCompletions(t *testing.T) {
	gen := func(app *cli.App, shell string) string {
		t.Helper()
		var out, errb bytes.Buffer
		app.Writer = &out
		if code := Run(app, []string{app.Name, "--completion", shell}, &errb, 1); code != ExitOK {
			t.Fatalf("--completion %s: exit %d: %s", shell, code, errb.String())
		}
		f := filepath.Join(t.TempDir(), shell)
		if err := os.WriteFile(f, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	complete := func(script, fn string, words ...string) string {
		t.Helper()
		args := append([]string{"-c", `s=$1; f=$2; shift 2; source "$s"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); $f; echo "${COMPREPLY[*]}"`, "bash", script, fn}, words...)
		out, err := exec.Command("bash", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	b := gen(packagingApp(), "bash")
	for in, want := range map[string]string{"--se": "--segs", "--j": "--json", "--vers": "--version", "--man": "--man-page"} {
		if got := complete(b, "_srv6_x", "srv6-x", in); got != want {
			t.Errorf("bash completes %q as %q, want %q", in, got, want)
		}
	}
	withCmds := &cli.App{Name: "srv6-y", Commands: []*cli.Command{
		{Name: "up", Usage: "bring: it up", Flags: []cli.Flag{&cli.StringFlag{Name: "topology"}}},
		{Name: "down", Usage: "take it down"},
	}}
	bc := gen(withCmds, "bash")
	if got := complete(bc, "_srv6_y", "srv6-y", "u"); got != "up" {
		t.Errorf("bash completes subcommand u as %q, want up", got)
	}
	if got := complete(bc, "_srv6_y", "srv6-y", "up", "--to"); got != "--topology" {
		t.Errorf("bash completes up --to as %q, want --topology", got)
	}
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("zsh missing under CI (make deps installs it)")
		}
		t.Skip("zsh not installed: the zsh scripts' syntax is not checked")
	}
	for _, app := range []*cli.App{packagingApp(), withCmds} {
		z := gen(app, "zsh")
		if out, err := exec.Command(zsh, "-n", z).CombinedOutput(); err != nil {
			t.Errorf("zsh -n %s's script: %v: %s", app.Name, err, out)
		}
		body, _ := os.ReadFile(z)
		if !strings.HasPrefix(string(body), "#compdef "+app.Name+"\n") {
			t.Errorf("%s's zsh script starts %.30q", app.Name, body)
		}
	}
	var errb bytes.Buffer
	if code := Run(packagingApp(), []string{"srv6-x", "--completion", "fish"}, &errb, 1); code != ExitUsage || !strings.Contains(errb.String(), "want bash or zsh") {
		t.Errorf("--completion fish: exit %d, %q", code, errb.String())
	}
}
