package bpf

import (
	"errors"
	"os"
	"testing"
)

// requireRoot skips unprivileged runs outside CI and fails them in CI, where the lab must work.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("loading BPF programs needs root (CAP_BPF, CAP_NET_ADMIN); CI must run as root")
	}
	t.Skip("loading BPF programs needs root (CAP_BPF, CAP_NET_ADMIN)")
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
