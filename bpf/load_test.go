package bpf

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/srv6oam/srv6oam/testnet/labtest"
	"golang.org/x/sys/unix"
)

// requireRoot skips unprivileged runs outside CI and fails them in CI, where the lab must work.
func requireRoot(t *testing.T) {
	t.Helper()
	labtest.Require(t, "loading BPF programs (CAP_BPF, CAP_NET_ADMIN)")
}

func TestLoadVerifierAccepts(t *testing.T) {
	requireRoot(t)
	if err := CheckFeatures(); err != nil {
		t.Fatalf("CheckFeatures: %v", err)
	}
	e, err := Load(Options{NodeID: 7})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	info, err := e.Program().Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != ProgramName {
		t.Errorf("program name %q, want %q", info.Name, ProgramName)
	}
	c, err := e.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c != (Counters{}) {
		t.Errorf("fresh counters %+v, want zero", c)
	}
}

func TestLoadRejectsBadOptions(t *testing.T) {
	for _, opts := range []Options{
		{NodeID: 0},
		{NodeID: 1, ProbeTLVType: 9, SlotsTLVType: 9},
		{NodeID: 1, ProbeTLVType: 5},
	} {
		if _, err := Load(opts); err == nil {
			t.Errorf("Load(%+v) succeeded, want an error", opts)
		}
	}
}

func TestClassifyPermission(t *testing.T) {
	if err := classify(errors.New("x")); errors.Is(err, ErrPermission) {
		t.Error("plain error classified as permission")
	}
}

// TestFeaturesNamePermission re-runs this test binary without privileges (and then with all but
// CAP_PERFMON) and checks that CheckFeatures names what is missing instead of failing later.
func TestFeaturesNamePermission(t *testing.T) {
	if os.Getenv("BPF_FEATURES_CHILD") == "1" {
		err := CheckFeatures()
		fmt.Printf("errors.Is(ErrPermission)=%v\n%v\n", errors.Is(err, ErrPermission), err)
		return
	}
	requireRoot(t)
	// The test binary lives in a directory only root may enter: give nobody a copy.
	dir := t.TempDir()
	bin := dir + "/bpf.test"
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		ambient []uintptr
		missing string
	}{
		{"unprivileged", nil, "CAP_BPF is not effective"},
		{"no CAP_PERFMON", []uintptr{unix.CAP_BPF, unix.CAP_NET_ADMIN}, "CAP_PERFMON is not effective"},
	} {
		cmd := exec.Command(bin, "-test.run=^TestFeaturesNamePermission$")
		cmd.Env = append(os.Environ(), "BPF_FEATURES_CHILD=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, AmbientCaps: tc.ambient}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: child: %v\n%s", tc.name, err, out)
		}
		if !strings.Contains(string(out), "errors.Is(ErrPermission)=true") || !strings.Contains(string(out), tc.missing) {
			t.Errorf("%s: CheckFeatures said:\n%s\nwant ErrPermission naming %q", tc.name, out, tc.missing)
		}
	}
}
