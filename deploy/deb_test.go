// Package deploy_test checks what deploy/ ships: the Debian package `make deb` builds is
// installed with dpkg into a scratch root, checked, and purged.
package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/srv6oam/srv6oam/bpf/agent"
	"github.com/srv6oam/srv6oam/probes/monitor"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

const testVersion = "0.1.0~test1"

var commands = []string{"srv6-agent", "srv6-monitor", "srv6-ping", "srv6-testnet", "srv6-trace"}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestExamplesValidate: the configurations the package installs as examples are accepted by
// the daemons' own loaders, as an operator copying them would find.
func TestExamplesValidate(t *testing.T) {
	if _, err := agent.LoadConfig("examples/agent.yaml"); err != nil {
		t.Errorf("examples/agent.yaml: %v", err)
	}
	cfg, err := monitor.LoadConfig("examples/monitor.yaml")
	if err != nil {
		t.Fatalf("examples/monitor.yaml: %v", err)
	}
	if len(cfg.Jobs) == 0 {
		t.Error("examples/monitor.yaml: no jobs")
	}
}

// TestDebInstallPurge builds the package as `make deb` does, installs it with dpkg into a
// scratch root (maintainer scripts run with DPKG_ROOT set, so this host's services are never
// touched), checks files, modes, capabilities, checksums and the units, then purges it and
// checks that nothing of it is left.
func TestDebInstallPurge(t *testing.T) {
	labtest.Require(t, "root (dpkg installs into a scratch root, setcap)")
	for _, tool := range []string{"dpkg-deb", "dpkg", "getcap"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing (make deps installs it)", tool)
			}
			t.Skipf("%s missing: make deps installs it", tool)
		}
	}
	tmp := t.TempDir()
	bin, out, root := filepath.Join(tmp, "bin"), filepath.Join(tmp, "out"), filepath.Join(tmp, "root")
	// The link flags of make deb (stripped) but the version; not its -trimpath, so that the
	// compiled packages come from the build cache and only the links are new.
	run(t, "..", []string{"CGO_ENABLED=0"}, "go", "build",
		"-ldflags", "-s -w -X github.com/srv6oam/srv6oam/cmd/internal/cli.Version="+testVersion, "-o", bin+"/", "./cmd/...")
	// mkdeb.sh prints the package's path last (nfpm's progress before it).
	lines := strings.Split(strings.TrimSpace(run(t, "..", nil, "scripts/mkdeb.sh", bin, out, testVersion)), "\n")
	deb := lines[len(lines)-1]
	if filepath.Base(deb) != "srv6oam_"+testVersion+"_amd64.deb" && filepath.Base(deb) != "srv6oam_"+testVersion+"_arm64.deb" {
		t.Fatalf("mkdeb.sh made %s", deb)
	}

	fields := run(t, "", nil, "dpkg-deb", "-f", deb, "Package", "Version", "Depends")
	if !strings.Contains(fields, "Package: srv6oam\n") || !strings.Contains(fields, "Version: "+testVersion+"\n") {
		t.Errorf("control fields:\n%s", fields)
	}
	if strings.Contains(fields, "Depends:") {
		t.Errorf("the binaries are static: the package needs no Depends:\n%s", fields)
	}
	want := map[string]string{ // path in the package: mode
		"./lib/systemd/system/srv6-agent.service":       "-rw-r--r--",
		"./lib/systemd/system/srv6-monitor.service":     "-rw-r--r--",
		"./usr/share/doc/srv6oam/copyright":             "-rw-r--r--",
		"./usr/share/doc/srv6oam/changelog.gz":          "-rw-r--r--",
		"./usr/share/lintian/overrides/srv6oam":         "-rw-r--r--",
		"./usr/share/doc/srv6oam/examples/agent.yaml":   "-rw-r--r--",
		"./usr/share/doc/srv6oam/examples/monitor.yaml": "-rw-r--r--",
		"./usr/share/doc/srv6oam/README.md":             "-rw-r--r--",
		"./usr/share/doc/srv6oam/srv6-monitor.md":       "-rw-r--r--",
		"./etc/srv6oam/": "drwxr-xr-x",
	}
	for _, c := range commands {
		want["./usr/bin/"+c] = "-rwxr-xr-x"
		want["./usr/share/man/man8/"+c+".8.gz"] = "-rw-r--r--"
		want["./usr/share/bash-completion/completions/"+c] = "-rw-r--r--"
		want["./usr/share/zsh/vendor-completions/_"+c] = "-rw-r--r--"
	}
	for _, line := range strings.Split(strings.TrimSpace(run(t, "", nil, "dpkg-deb", "-c", deb)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c: %q", line)
		}
		if f[1] != "root/root" {
			t.Errorf("%s owned by %s, want root/root", f[5], f[1])
		}
		if m, ok := want[f[5]]; ok {
			if f[0] != m {
				t.Errorf("%s: mode %s, want %s", f[5], f[0], m)
			}
			delete(want, f[5])
		}
	}
	for p := range want {
		t.Errorf("%s not in the package", p)
	}

	// Debian's own package checker finds no error and no warning (its informational tags are
	// not checked: they include words of iputils' -M dont and of libraries' strings).
	if _, err := exec.LookPath("lintian"); err == nil {
		report, err := exec.Command("lintian", "--tag-display-limit", "0", deb).CombinedOutput()
		var tags []string
		for _, l := range strings.Split(string(report), "\n") {
			if strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: ") {
				tags = append(tags, l)
			}
		}
		if err != nil || len(tags) > 0 {
			t.Errorf("lintian: %v\n%s", err, strings.Join(tags, "\n"))
		}
	} else if os.Getenv("CI") == "true" {
		t.Error("lintian missing (make deps installs it)")
	} else {
		t.Log("lintian not run: not installed (make deps installs it)")
	}

	for _, d := range []string{"var/lib/dpkg/updates", "var/lib/dpkg/info", "var/lib/dpkg/triggers"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dpkg := func(args ...string) string {
		return run(t, "", nil, "dpkg", append([]string{"--root=" + root, "--force-script-chrootless"}, args...)...)
	}
	dpkg("-i", deb)
	if s := dpkg("-s", "srv6oam"); !strings.Contains(s, "Status: install ok installed") {
		t.Fatalf("after dpkg -i:\n%s", s)
	}
	// dpkg --verify checks every installed file against the package's md5sums.
	if v := dpkg("--verify", "srv6oam"); v != "" {
		t.Errorf("dpkg --verify: %s", v)
	}
	// Every installed command runs: --version says the release, --help lists --man-page (the
	// last flag Run adds); its manual page is the one it prints, and man reads it; its bash
	// completion completes its flags.
	for _, c := range commands {
		p := filepath.Join(root, "usr/bin", c)
		if v := run(t, "", nil, p, "--version"); v != c+" version "+testVersion+"\n" {
			t.Errorf("%s --version: %q", c, v)
		}
		if h := run(t, "", nil, p, "--help"); !strings.Contains(h, "--man-page") || !strings.Contains(h, c) {
			t.Errorf("%s --help: no --man-page, or not its name:\n%s", c, h)
		}
		page := run(t, "", nil, "sh", "-c", "zcat "+filepath.Join(root, "usr/share/man/man8", c+".8.gz"))
		if page != run(t, "", nil, p, "--man-page") || !strings.HasPrefix(strings.TrimSpace(page), ".nh\n.TH "+c+" 8") {
			t.Errorf("%s.8.gz is not %s --man-page, or not a section 8 page: %.80q", c, c, page)
		}
		if _, err := exec.LookPath("man"); err == nil {
			if txt := run(t, "", []string{"MANWIDTH=80"}, "man", "-l", filepath.Join(root, "usr/share/man/man8", c+".8.gz")); !strings.Contains(txt, "--help") {
				t.Errorf("man -l %s.8.gz: no --help in:\n%.300s", c, txt)
			}
		}
		script := filepath.Join(root, "usr/share/bash-completion/completions", c)
		fn := "_" + strings.ReplaceAll(c, "-", "_")
		if got := run(t, "", nil, "bash", "-c", `source "$1"; COMP_WORDS=("$2" --ver); COMP_CWORD=1; `+fn+`; echo "${COMPREPLY[@]}"`, "bash", script, c); got != "--version\n" {
			t.Errorf("%s: bash completes --ver as %q, want --version", c, got)
		}
	}
	// The probers may be run by any user: CAP_NET_RAW in their file capabilities (postinst).
	for _, c := range []string{"srv6-ping", "srv6-trace"} {
		p := filepath.Join(root, "usr/bin", c)
		if caps := run(t, "", nil, "getcap", p); !strings.Contains(caps, "cap_net_raw=ep") {
			t.Errorf("getcap %s: %q, want cap_net_raw=ep", c, caps)
		}
	}
	// systemd-analyze verify resolves the units' dependencies in the root: give it the
	// targets and slices of this system, as the one the package lands on has them.
	targets, _ := filepath.Glob("/lib/systemd/system/*.target")
	slices, _ := filepath.Glob("/lib/systemd/system/*.slice")
	var lent []string // what the test puts in the root, taken out before the purge
	for _, f := range append(targets, slices...) {
		if b, err := os.ReadFile(f); err == nil {
			p := filepath.Join(root, "lib/systemd/system", filepath.Base(f))
			if os.WriteFile(p, b, 0o644) == nil {
				lent = append(lent, p)
			}
		}
	}
	// And the kill the monitor's ExecReload runs (procps, on every Debian system).
	if b, err := os.ReadFile("/bin/kill"); err == nil && os.MkdirAll(filepath.Join(root, "bin"), 0o755) == nil {
		if os.WriteFile(filepath.Join(root, "bin/kill"), b, 0o755) == nil {
			lent = append(lent, filepath.Join(root, "bin/kill"), filepath.Join(root, "bin"))
		}
	}

	// Each unit starts the installed binary on the config path the docs give.
	for unit, exe := range map[string]string{
		"srv6-agent.service":   "ExecStart=/usr/bin/srv6-agent --config /etc/srv6oam/agent.yaml",
		"srv6-monitor.service": "ExecStart=/usr/bin/srv6-monitor --config /etc/srv6oam/monitor.yaml",
	} {
		b, err := os.ReadFile(filepath.Join(root, "lib/systemd/system", unit))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "\n"+exe+"\n") {
			t.Errorf("%s: no line %q", unit, exe)
		}
		if _, err := os.Stat(filepath.Join(root, strings.Fields(strings.TrimPrefix(exe, "ExecStart="))[0])); err != nil {
			t.Errorf("%s: %v", unit, err)
		}
		// systemd's own judgement of the unit (verify: it parses, its binary exists) and of the
		// sandbox (security: 5.0 and below is "OK", docs/security.md).
		if _, err := exec.LookPath("systemd-analyze"); err == nil {
			run(t, "", nil, "systemd-analyze", "verify", "--man=no", "--root="+root, filepath.Join(root, "lib/systemd/system", unit))
			run(t, "", nil, "systemd-analyze", "security", "--offline=yes", "--root="+root, "--threshold=50", unit)
		}
	}

	for _, p := range lent {
		_ = os.Remove(p)
	}
	dpkg("-P", "srv6oam")
	if s, _ := exec.Command("dpkg", "--root="+root, "-s", "srv6oam").CombinedOutput(); !strings.Contains(string(s), "not installed") {
		t.Errorf("after dpkg -P, dpkg -s says:\n%s", s)
	}
	for _, p := range []string{"usr/bin", "lib/systemd", "usr/share/doc/srv6oam", "etc/srv6oam"} {
		if _, err := os.Stat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("after purge, %s is still there (%v)", p, err)
		}
	}
}
