package agent_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/bpf"
	"github.com/srv6oam/srv6oam/bpf/agent"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A second agent with the first one's SID is refused, naming the process that owns it; told to
// take over, it does, and the first agent lets the SID go (sids_bound 0), neither removing the
// second one's route nor claiming it when it stops. Before: the second agent silently replaced
// the route, removed it when it stopped, and the first still reported the SID bound.
func TestAgentSIDOwnership(t *testing.T) {
	lab := labtest.Up(t, "line4")
	h, err := lab.Handle("r1")
	if err != nil {
		t.Fatal(err)
	}
	a, stopA := startAgent(t, lab, r1Config())
	idA, err := a.ProgramID()
	if err != nil {
		t.Fatal(err)
	}
	owner := func() uint32 {
		routes, err := bpf.BoundRoutes(h)
		if err != nil || len(routes) != 1 {
			return 0
		}
		id, _ := bpf.RouteProgramID(&routes[0])
		return id
	}
	if owner() != uint32(idA) {
		t.Fatalf("route program %d, want agent A's %d", owner(), idA)
	}

	// B without take-over: refused, and A keeps the SID.
	err = lab.Exec("r1", func() error {
		b, err := agent.New(r1Config(), nil)
		if err == nil {
			b.Close()
		}
		return err
	})
	var owned *bpf.OwnedError
	if !errors.Is(err, bpf.ErrSIDOwned) || !errors.As(err, &owned) || len(owned.Holders) == 0 || owned.Holders[0].PID != os.Getpid() {
		t.Fatalf("second agent: %v, want ErrSIDOwned naming this process (pid %d)", err, os.Getpid())
	}
	t.Logf("refused: %v", err)
	if owner() != uint32(idA) || a.SIDsBound() != 1 {
		t.Fatalf("after the refusal: route program %d, A bound %d; want A's %d, 1", owner(), a.SIDsBound(), idA)
	}

	// B with take-over: the route runs B's program, A lets the SID go.
	cfgB := r1Config()
	cfgB.TakeOver = true
	b, stopB := startAgent(t, lab, cfgB)
	idB, err := b.ProgramID()
	if err != nil {
		t.Fatal(err)
	}
	if owner() != uint32(idB) {
		t.Fatalf("route program %d after take-over, want B's %d", owner(), idB)
	}
	waitFor(t, "A lets the SID go", 5*time.Second, func() bool { return a.SIDsBound() == 0 })
	if b.SIDsBound() != 1 {
		t.Errorf("B bound %d, want 1", b.SIDsBound())
	}
	// A stopping leaves B's route alone.
	if err := stopA(); err != nil {
		t.Fatalf("agent A: %v", err)
	}
	if owner() != uint32(idB) {
		t.Fatalf("route program %d after A stopped, want B's %d: A removed B's route", owner(), idB)
	}
	if err := stopB(); err != nil {
		t.Fatalf("agent B: %v", err)
	}
	if routes, _ := bpf.BoundRoutes(h); len(routes) != 0 {
		t.Errorf("routes left after both stopped: %v", routes)
	}
}

// A SID whose route someone deletes is bound again (on_sid_lost: rebind, the default); with
// on_sid_lost: exit the agent stops with an error instead.
func TestAgentSIDLost(t *testing.T) {
	lab := labtest.Up(t, "line4")
	h, err := lab.Handle("r1")
	if err != nil {
		t.Fatal(err)
	}
	sid := bpf.SID{Prefix: netip.PrefixFrom(r1SID, 128), Device: "to-r2"}

	a, stop := startAgent(t, lab, r1Config())
	if err := bpf.UnbindSID(h, sid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the SID seen lost", 5*time.Second, func() bool { return a.SIDsBound() == 0 })
	waitFor(t, "the SID bound again", 10*time.Second, func() bool {
		routes, err := bpf.BoundRoutes(h)
		return err == nil && len(routes) == 1 && a.SIDsBound() == 1
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if routes, _ := bpf.BoundRoutes(h); len(routes) != 0 {
		t.Errorf("routes left: %v", routes)
	}

	cfg := r1Config()
	cfg.OnSIDLost = agent.OnSIDLostExit
	var b *agent.Agent
	if err := lab.Exec("r1", func() (err error) { b, err = agent.New(cfg, nil); return err }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()) }()
	if err := bpf.UnbindSID(h, sid); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "on_sid_lost: exit") {
			t.Errorf("Run returned %v, want the lost SID", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the agent did not stop after its SID's route was deleted")
	}
}

// An agent whose network namespace is deleted (its name under /run/netns removed, as ip netns
// del and srv6-testnet down do) stops, instead of running on in a namespace nobody can reach.
func TestAgentStopsWhenNamespaceDeleted(t *testing.T) {
	lab := labtest.Up(t, "line4")
	var a *agent.Agent
	if err := lab.Exec("r1", func() (err error) { a, err = agent.New(r1Config(), nil); return err }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	path := lab.NamespacePath("r1")
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
		t.Fatalf("unmount %s: %v", path, err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "network namespace") || !strings.Contains(err.Error(), filepath.Base(path)) {
			t.Errorf("Run returned %v, want the deleted namespace named", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the agent did not stop after its namespace was deleted")
	}
}
