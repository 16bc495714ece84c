package trace_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/trace"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func target(dst string, segs ...string) oam.Target {
	t := oam.Target{Destination: mustAddr(dst)}
	for _, s := range segs {
		t.Segments = append(t.Segments, mustAddr(s))
	}
	return t
}

// up builds a bundled lab and lifts Linux's ICMPv6 error rate limit on every node
// (net.ipv6.icmp.ratelimit=0): tests and benchmarks trace the same routers many times a second,
// which the default (1 error per second per destination after a burst of 6) would turn into
// stars. One test keeps the default on purpose (TestRateLimitDefault).
func up(t testing.TB, topology string, unlimited bool) *testnet.Lab {
	t.Helper()
	lab := labtest.Up(t, topology)
	if unlimited {
		for _, n := range lab.Topology().Nodes {
			if err := lab.Exec(n.Name, func() error {
				return os.WriteFile("/proc/sys/net/ipv6/icmp/ratelimit", []byte("0"), 0o644)
			}); err != nil {
				t.Fatalf("node %s: sysctl net.ipv6.icmp.ratelimit=0: %v", n.Name, err)
			}
		}
	}
	return lab
}

// traceIn runs a trace from node; the sockets are opened in the node's namespace.
func traceIn(t testing.TB, lab *testnet.Lab, node string, tgt oam.Target, opts trace.Options) *trace.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var tr *trace.Tracer
	if err := lab.Exec(node, func() (err error) {
		tr, err = trace.New(ctx, tgt, opts)
		return err
	}); err != nil {
		t.Fatalf("trace.New in %s: %v", node, err)
	}
	rep, err := tr.Run(ctx)
	if err != nil {
		t.Fatalf("trace %s: %v", tgt, err)
	}
	return rep
}

// warmUp traces until the destination answers: in a lab just built the first packets wait for
// neighbour discovery.
func warmUp(t testing.TB, lab *testnet.Lab, node string, tgt oam.Target) {
	t.Helper()
	for i := 0; i < 10; i++ {
		rep := traceIn(t, lab, node, tgt, trace.Options{Queries: 1, Wait: time.Second})
		if rep.Reached && allAnswered(rep.Hops) {
			return
		}
	}
	t.Fatalf("warm-up: %s cannot trace %s", node, tgt)
}

func allAnswered(hops []trace.Hop) bool {
	for _, h := range hops {
		if len(h.Responders()) == 0 {
			return false
		}
	}
	return true
}

// hopAddrs is the first responder of every hop ("*" as the invalid address).
func hopAddrs(hops []trace.Hop) []netip.Addr {
	out := make([]netip.Addr, len(hops))
	for i, h := range hops {
		if rs := h.Responders(); len(rs) > 0 {
			out[i] = rs[0]
		}
	}
	return out
}

// ifaceAddr is the address of node's interface toward peer.
func ifaceAddr(t testing.TB, lab *testnet.Lab, node, peer string) netip.Addr {
	t.Helper()
	ifc, err := lab.Interface(node, peer)
	if err != nil {
		t.Fatal(err)
	}
	return ifc.Addr.Addr()
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// srv6Trace builds cmd/srv6-trace once per test binary.
func srv6Trace(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "srv6-trace-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "srv6-trace")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/srv6-trace")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build srv6-trace: %v", buildErr)
	}
	return binPath
}

// cli runs srv6-trace in node and returns its output and exit status.
func cli(t testing.TB, lab *testnet.Lab, node string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, srv6Trace(t), args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err := lab.Run(node, cmd)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	t.Fatalf("run srv6-trace %v: %v", args, err)
	return "", -1
}

func TestExplore(t *testing.T) {
	lab := up(t, "diamond", true)
	warmUp(t, lab, "h1", target("fc00:0:6::1"))
	for _, args := range [][]string{
		{"-n", "--topology", "diamond", "--segs", "fc00:0:2::e,fc00:0:5::e", "fc00:0:6::1"},
		{"-n", "--topology", "diamond", "--ecmp", "--segs", "fc00:0:5::e", "fc00:0:6::1"},
		{"-n", "--topology", "diamond", "--per-segment", "--segs", "fc00:0:2::e,fc00:0:5::e", "fc00:0:6::1"},
		{"-n", "--topology", "diamond", "--expect", "r1,r2,r4,h2", "--segs", "fc00:0:2::e,fc00:0:5::e", "fc00:0:6::1"},
	} {
		out, code := cli(t, lab, "h1", args...)
		t.Logf("srv6-trace %s (exit %d)\n%s", strings.Join(args, " "), code, out)
	}
}
