package srh_test

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// The tests that need the kernel build two namespaces with plain `ip` commands (the testnet
// package was not ready when these tests were written; its YAML labs are more than two
// namespaces need). Names are unique per process and per test, and t.Cleanup removes them.

var labSeq atomic.Int32

// liveNamespaces are the namespaces this test process created and has not removed yet, so that
// SIGINT/SIGTERM (when t.Cleanup does not run) still removes them.
var liveNamespaces sync.Map

// removeLabsOnSignal removes every live namespace when the test process is interrupted. It is
// started by TestMain and stopped by the returned function.
func removeLabsOnSignal() (stop func()) {
	sigs := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-sigs:
			liveNamespaces.Range(func(name, _ any) bool {
				_ = exec.Command("ip", "netns", "del", name.(string)).Run()
				return true
			})
			fmt.Fprintf(os.Stderr, "srh tests: %v: lab namespaces removed\n", sig)
			os.Exit(130)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// needLab skips a kernel test when it cannot run, or fails it under CI=true.
func needLab(t *testing.T, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("lab test: -short")
	}
	missing := ""
	if os.Geteuid() != 0 {
		missing = "root (CAP_NET_ADMIN, CAP_NET_RAW) to build network namespaces"
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil && missing == "" {
			missing = fmt.Sprintf("%s in PATH (make deps installs it)", tool)
		}
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and this lab test needs %s", missing)
	}
	t.Skipf("lab test needs %s", missing)
}

// run runs a command and fails the test with its output when it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNamespace creates a namespace with lo up, removed when the test ends.
func newNamespace(t *testing.T, role string) string {
	t.Helper()
	name := fmt.Sprintf("srht%d-%d%s", os.Getpid(), labSeq.Add(1), role)
	run(t, "ip", "netns", "add", name)
	liveNamespaces.Store(name, struct{}{})
	t.Cleanup(func() {
		defer liveNamespaces.Delete(name)
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("remove namespace %s: %v: %s", name, err, out)
		}
	})
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}
