package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// binary is srv6-testnet, built once for the package's tests (a build costs tens of seconds
// under the VM's CPU emulation).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "srv6-testnet-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "srv6-testnet")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("build srv6-testnet: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build returns srv6-testnet for a test that builds labs with it.
func build(t *testing.T) string {
	t.Helper()
	labtest.Require(t, "network namespaces (srv6-testnet builds labs)")
	return binary
}

func run(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

func leftover(t *testing.T, lab string) []string {
	t.Helper()
	labs, err := testnet.Labs()
	if err != nil {
		t.Fatal(err)
	}
	return labs[lab]
}

// TestUpExecDown is the documented workflow: up returns, the lab outlives
// it, exec pings across it, status shows it, down removes it.
func TestUpExecDown(t *testing.T) {
	bin := build(t)
	name := labtest.UniqueName("cli")
	t.Cleanup(func() { _, _ = testnet.Down(name) })
	out, err := run(t, bin, "up", "--name", name, "../../testnet/topologies/line4.yaml")
	if err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	if !strings.Contains(out, "sid      fc00:0:2::e End") || !strings.Contains(out, "lab "+name+" is up") {
		t.Errorf("up output lacks the lab's SIDs or the up line:\n%s", out)
	}
	out, err = run(t, bin, "exec", name, "h1", "--", "ping", "-6", "-c1", "-W2", "fc00:0:4::1")
	if err != nil || !strings.Contains(out, "1 received") {
		t.Fatalf("exec ping: %v\n%s", err, out)
	}
	if _, err := run(t, bin, "exec", name, "h1", "--", "false"); err == nil {
		t.Error("exec of a failing command exited 0")
	}
	out, err = run(t, bin, "status", name)
	if err != nil || !strings.Contains(out, "policy   fc00:0:4::100/128 encap segs [fc00:0:2::e fc00:0:3::d6]") {
		t.Errorf("status: %v\n%s", err, out)
	}
	out, err = run(t, bin, "down", name)
	if err != nil || strings.Count(out, "removed namespace") != 4 {
		t.Fatalf("down: %v\n%s", err, out)
	}
	if l := leftover(t, name); len(l) > 0 {
		t.Fatalf("left after down: %v", l)
	}
}

// TestUpForegroundSIGINT: a lab with a delay link keeps up in the
// foreground (its relay is a child of srv6-testnet); SIGINT tears it down.
func TestUpForegroundSIGINT(t *testing.T) {
	bin := build(t)
	topo := filepath.Join(t.TempDir(), "slow.yaml")
	if err := os.WriteFile(topo, []byte("nodes:\n  a: {loopback: fc00:0:1::1}\n  b: {loopback: fc00:0:2::1}\nlinks:\n  - {a: a, b: b, delay: 2ms}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := labtest.UniqueName("sigint")
	t.Cleanup(func() { _, _ = testnet.Down(name) })
	if out, err := run(t, bin, "up", "--detach", "--name", name, topo); err == nil || !strings.Contains(out, "delay links") {
		t.Errorf("up --detach of a delayed topology: want a refusal naming delay links, got %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "up", "--name", name, topo)
	var stdout syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stdout.String(), "Ctrl-C tears it down") {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("up did not come up:\n%s", stdout.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, err := run(t, bin, "exec", name, "a", "--", "ping", "-6", "-c3", "-W2", "fc00:0:2::1")
	if err != nil || !strings.Contains(out, "3 received") {
		t.Errorf("ping over the delay link: %v\n%s", err, out)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("up after SIGINT: %v\n%s", err, stdout.String())
	}
	if l := leftover(t, name); len(l) > 0 {
		t.Fatalf("left after SIGINT: %v\n%s", l, stdout.String())
	}
	if !strings.Contains(stdout.String(), "tearing down lab "+name) {
		t.Errorf("no teardown message:\n%s", stdout.String())
	}
}

// TestUpHMACStatus: up of hmac (policies with an HMAC TLV) shows them in
// its status step, with their segments and key id.
func TestUpHMACStatus(t *testing.T) {
	bin := build(t)
	name := labtest.UniqueName("clihmac")
	t.Cleanup(func() { _, _ = testnet.Down(name) })
	out, err := run(t, bin, "up", "--name", name, "../../testnet/topologies/hmac.yaml")
	if err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	for _, want := range []string{
		"policy   fc00:0:4::100/128 encap segs [fc00:0:3::d6] hmac 1",
		"policy   fc00:0:4::200/128 encap segs [fc00:0:3::d6]\n",
		"policy   fc00:0:4::300/128 inline segs [fc00:0:3::e] hmac 1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("up output lacks %q:\n%s", want, out)
		}
	}
	if out, err := run(t, bin, "down", name); err != nil {
		t.Fatalf("down: %v\n%s", err, out)
	}
}

func TestBadTopologyNamesFileAndLine(t *testing.T) {
	bin := build(t)
	out, err := run(t, bin, "up", "../../testnet/testdata/bad/unknown-node.yaml")
	if err == nil || !strings.Contains(out, `unknown-node.yaml:5: link a-zz: unknown node "zz"`) {
		t.Errorf("want file:line error, got %v\n%s", err, out)
	}
}

// syncBuffer is a bytes.Buffer the command's output copier and the test
// can use at the same time.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
