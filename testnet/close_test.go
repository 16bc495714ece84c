package testnet_test

import (
	"bufio"
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// leftovers lists what of lab remains: namespaces under /run/netns and
// links in the caller's namespace named like ours.
func leftovers(t *testing.T, lab string) []string {
	t.Helper()
	var out []string
	entries, err := os.ReadDir("/run/netns")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), testnet.NamespacePrefix+lab+"-") {
			out = append(out, "namespace "+e.Name())
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, "to-") {
			out = append(out, "link "+l.Attrs().Name)
		}
	}
	return out
}

// delayed is line4 with a delay on r1-r2, so that the relay namespace and
// its goroutines are part of what Close must remove.
func delayed(t *testing.T) *testnet.Topology {
	t.Helper()
	topo, err := testnet.Load("line4")
	if err != nil {
		t.Fatal(err)
	}
	topo.Links[1].Delay = time.Millisecond
	return topo
}

func TestCloseLeavesNothing(t *testing.T) {
	labtest.Require(t, "network namespaces")
	name := labtest.UniqueName("close")
	lab, err := testnet.Up(context.Background(), delayed(t), testnet.WithName(name))
	if err != nil {
		t.Fatal(err)
	}
	if l := leftovers(t, name); len(l) != 5 { // 4 nodes + relay
		t.Fatalf("lab %s: want 5 namespaces while up, got %v", name, l)
	}
	ping6(t, lab, "h1", mustLoopback(t, lab, "h2"), 3)
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	if l := leftovers(t, name); len(l) > 0 {
		t.Fatalf("left after Close: %v", l)
	}
	if err := lab.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func mustLoopback(t testing.TB, lab *testnet.Lab, node string) (a netip.Addr) {
	t.Helper()
	a, err := lab.Loopback(node)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestFailureHalfwayLeavesNothing(t *testing.T) {
	labtest.Require(t, "network namespaces")
	injected := errors.New("injected failure")
	for _, step := range []string{"namespace h1", "namespace r2", "link r1-r2", "link r2-h2", "routes r1", "srv6 h2", "delay relays"} {
		t.Run(step, func(t *testing.T) {
			name := labtest.UniqueName("fail")
			seen := false
			_, err := testnet.Up(context.Background(), delayed(t), testnet.WithName(name),
				testnet.WithStepHook(func(s string) error {
					if s == step {
						seen = true
						return injected
					}
					return nil
				}))
			if !seen {
				t.Fatalf("step %q never ran", step)
			}
			if !errors.Is(err, injected) {
				t.Fatalf("Up: want the injected error, got %v", err)
			}
			if l := leftovers(t, name); len(l) > 0 {
				t.Fatalf("left after failing at %q: %v", step, l)
			}
		})
	}
}

func TestDownRemovesLeftovers(t *testing.T) {
	labtest.Require(t, "network namespaces")
	name := labtest.UniqueName("crash")
	lab, err := testnet.Up(context.Background(), delayed(t), testnet.WithName(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	// A crashed run never calls Close: Down finds the lab by name.
	labs, err := testnet.Labs()
	if err != nil {
		t.Fatal(err)
	}
	if len(labs[name]) != 5 {
		t.Fatalf("Labs()[%s] = %v, want 4 nodes and _relay", name, labs[name])
	}
	removed, err := testnet.Down(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 5 {
		t.Errorf("Down removed %v, want 5 namespaces", removed)
	}
	if l := leftovers(t, name); len(l) > 0 {
		t.Fatalf("left after Down: %v", l)
	}
}

// TestCloseStopsProcessesInItsNodes: Close stops a process that entered a node without Start
// (srv6-testnet exec while `up` runs in the foreground): SIGTERM, which it handles, before the
// namespaces go; otherwise it would keep its namespace, and what it added there, alive.
func TestCloseStopsProcessesInItsNodes(t *testing.T) {
	labtest.Require(t, "network namespaces")
	name := labtest.UniqueName("closeproc")
	topo, err := testnet.Load("line4")
	if err != nil {
		t.Fatal(err)
	}
	lab, err := testnet.Up(context.Background(), topo, testnet.WithName(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	cmd := exec.Command("sh", "-c", `trap 'exit 7' TERM; echo ready; while :; do sleep 0.1; done`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := testnet.StartIn(name, "h1", cmd); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("the process in h1 after Close: %v, want its SIGTERM handler's exit 7", err)
	}
	if l := leftovers(t, name); len(l) > 0 {
		t.Fatalf("left after Close: %v", l)
	}
}
