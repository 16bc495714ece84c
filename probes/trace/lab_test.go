package trace_test

import (
	"context"
	"errors"
	"fmt"
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
		unlimitICMP(t, lab)
	}
	return lab
}

// unlimitICMP sets net.ipv6.icmp.ratelimit=0 (no per-destination limit) and raises the
// per-namespace budget of ICMP errors (net.ipv4.icmp_msgs_per_sec and icmp_msgs_burst, which
// IPv6 shares) on every node of the lab.
func unlimitICMP(t testing.TB, lab *testnet.Lab) {
	t.Helper()
	for _, n := range lab.Topology().Nodes {
		if err := lab.Exec(n.Name, func() error {
			for _, kv := range [][2]string{
				{"ipv6/icmp/ratelimit", "0"},
				{"ipv4/icmp_msgs_per_sec", "100000"},
				{"ipv4/icmp_msgs_burst", "10000"},
			} {
				if err := os.WriteFile("/proc/sys/net/"+kv[0], []byte(kv[1]), 0o644); err != nil {
					return fmt.Errorf("sysctl net.%s=%s: %w", strings.ReplaceAll(kv[0], "/", "."), kv[1], err)
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("node %s: %v", n.Name, err)
		}
	}
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
	warmUpWith(t, lab, node, tgt, trace.Options{})
}

// warmUpWith is warmUp with the encoding and SID structure of opts.
func warmUpWith(t testing.TB, lab *testnet.Lab, node string, tgt oam.Target, opts trace.Options) {
	t.Helper()
	for i := 0; i < 10; i++ {
		rep := traceIn(t, lab, node, tgt, trace.Options{Queries: 1, Wait: time.Second, Encoding: opts.Encoding, Structure: opts.Structure})
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
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build
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

func loopback(t testing.TB, lab *testnet.Lab, node string) netip.Addr {
	t.Helper()
	a, err := lab.Loopback(node)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestDiamondSegments traces h1 → r1 End → r4 End → h2 across diamond: every hop attributed to
// the segment it travelled, both SID nodes marked with the Segments Left they consumed, and the
// router between the two SIDs (r2 or r3, which processes no SID) still listed.
func TestDiamondSegments(t *testing.T) {
	lab := up(t, "diamond", true)
	tgt := target("fc00:0:6::1", "fc00:0:2::e", "fc00:0:5::e")
	warmUp(t, lab, "h1", tgt)
	r1, r2, r3, r4, h2 := loopback(t, lab, "r1"), loopback(t, lab, "r2"), loopback(t, lab, "r3"), loopback(t, lab, "r4"), mustAddr("fc00:0:6::1")
	for _, enc := range []struct {
		name string
		opts trace.Options
	}{{"encap", trace.Options{}}, {"insert", trace.Options{Encoding: 1}}} {
		t.Run(enc.name, func(t *testing.T) {
			rep := traceIn(t, lab, "h1", tgt, enc.opts)
			if !rep.Reached || len(rep.Hops) != 4 {
				t.Fatalf("want 4 hops ending at h2, got reached=%v hops=%v", rep.Reached, hopAddrs(rep.Hops))
			}
			type want struct {
				addrs    []netip.Addr
				segment  int
				sid      netip.Addr // invalid: not a SID node
				slBefore int
				slAfter  int
			}
			wants := []want{
				{[]netip.Addr{r1}, 0, mustAddr("fc00:0:2::e"), 2, 1},
				{[]netip.Addr{r2, r3}, 1, netip.Addr{}, 0, 0},
				{[]netip.Addr{r4}, 1, mustAddr("fc00:0:5::e"), 1, 0},
				{[]netip.Addr{h2}, 2, netip.Addr{}, 0, 0},
			}
			for i, w := range wants {
				h := rep.Hops[i]
				if h.TTL != i+1 {
					t.Errorf("hop %d: TTL %d", i+1, h.TTL)
				}
				if len(h.Probes) != 3 {
					t.Errorf("hop %d: %d probes, want 3", i+1, len(h.Probes))
				}
				rs := h.Responders()
				if len(rs) != 1 || !contains(w.addrs, rs[0]) {
					t.Errorf("hop %d: answered by %v, want one of %v", i+1, rs, w.addrs)
				}
				for _, p := range h.Probes {
					if !p.Answered {
						t.Errorf("hop %d: a probe went unanswered", i+1)
					}
				}
				if h.Segment != w.segment {
					t.Errorf("hop %d: segment %d, want %d", i+1, h.Segment, w.segment)
				}
				if h.SID != w.sid.IsValid() || (h.SID && (h.SIDAddr != w.sid || h.SLBefore != w.slBefore || h.SLAfter != w.slAfter)) {
					t.Errorf("hop %d: SID=%v %v SL %d→%d, want SID=%v %v SL %d→%d", i+1, h.SID, h.SIDAddr, h.SLBefore, h.SLAfter,
						w.sid.IsValid(), w.sid, w.slBefore, w.slAfter)
				}
			}
			if last := rep.Hops[3]; !last.Destination || last.Probes[0].Kind != oam.KindReply {
				t.Errorf("hop 4: want the destination's Echo Reply, got %+v", last)
			}
		})
	}
}

func contains(s []netip.Addr, a netip.Addr) bool {
	for _, x := range s {
		if x == a {
			return true
		}
	}
	return false
}

// TestDiamondECMP finds both branches between r1 and r4 by varying the flow label, with at
// least the 11 flows the MDA stopping rule asks for once a hop has shown two next hops.
func TestDiamondECMP(t *testing.T) {
	lab := up(t, "diamond", true)
	tgt := target("fc00:0:6::1", "fc00:0:5::e")
	warmUp(t, lab, "h1", tgt)
	rep := traceIn(t, lab, "h1", tgt, trace.Options{ECMP: true})
	if len(rep.Branches) != 2 {
		for _, b := range rep.Branches {
			t.Logf("branch flows %v: %v", b.Flows, hopAddrs(b.Hops))
		}
		t.Fatalf("want 2 branches, got %d", len(rep.Branches))
	}
	if rep.Flows < trace.StoppingPoint(2, trace.Confidence) {
		t.Errorf("%d flows: fewer than n_2 = %d", rep.Flows, trace.StoppingPoint(2, trace.Confidence))
	}
	var second []netip.Addr
	for _, b := range rep.Branches {
		got := hopAddrs(b.Hops)
		if len(got) != 4 || got[0] != loopback(t, lab, "r1") || got[2] != loopback(t, lab, "r4") || got[3] != mustAddr("fc00:0:6::1") {
			t.Errorf("branch %v: want r1, r2|r3, r4, h2", got)
			continue
		}
		second = append(second, got[1])
		if !b.Hops[2].SID || b.Hops[2].SIDAddr != mustAddr("fc00:0:5::e") {
			t.Errorf("branch %v: r4 not marked as SID node", got)
		}
	}
	if !contains(second, loopback(t, lab, "r2")) || !contains(second, loopback(t, lab, "r3")) {
		t.Errorf("second hops %v: want both r2 and r3", second)
	}
	if !rep.Reached {
		t.Error("not every branch reached h2")
	}
}

// TestExpect runs the CLI as a lab pipeline would: --expect passes (exit 0) on the path taken,
// fails (exit 1, with a diff naming the hop) on a wrong one, and with --ecmp every branch must
// match.
func TestExpect(t *testing.T) {
	lab := up(t, "diamond", true)
	warmUp(t, lab, "h1", target("fc00:0:6::1", "fc00:0:5::e"))
	segs := []string{"-n", "--topology", "diamond", "--segs", "fc00:0:2::e,fc00:0:5::e", "fc00:0:6::1"}
	ecmp := []string{"-n", "--topology", "diamond", "--ecmp", "--segs", "fc00:0:5::e", "fc00:0:6::1"}
	for _, c := range []struct {
		name   string
		args   []string
		expect string
		code   int
		has    []string
	}{
		{"either middle router", segs, "r1,r2/r3,r4,h2", 0, []string{"path matches --expect"}},
		{"addresses", segs, "fc00:0:2::1,r2/r3,fc00:0:5::1,fc00:0:6::1", 0, []string{"path matches --expect"}},
		{"hop missing", segs, "r1,r4,h2", 1, []string{"does not match --expect", "! 2", "(nothing more)"}},
		{"wrong node", segs, "r1,r2/r3,r2,h2", 1, []string{"! 3    r2", "(r4)"}},
		{"names from the running lab", []string{"-n", "--segs", "fc00:0:2::e,fc00:0:5::e", "fc00:0:6::1"}, "r1,r2/r3,r4,h2", 0, []string{"r1 ", "[SID fc00:0:2::e End, SL 2→1]", "path matches --expect"}},
		{"ecmp both branches", ecmp, "r1,r2/r3,r4,h2", 0, []string{"2 branches", "path matches --expect"}},
		{"ecmp one branch wrong", ecmp, "r1,r2,r4,h2", 1, []string{"branch", "of 2", "(r3)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, code := cli(t, lab, "h1", append([]string{"--expect", c.expect}, c.args...)...)
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s", code, c.code, out)
			}
			for _, s := range c.has {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
		})
	}
	out, code := cli(t, lab, "h1", "--expect", "r1,nosuchnode", "-n", "--topology", "diamond", "fc00:0:6::1")
	if code != 2 || !strings.Contains(out, `hop 2 (nosuchnode)`) || strings.Contains(out, "hops max") {
		t.Errorf("unknown name: exit %d, want 2 and the hop named before any trace:\n%s", code, out)
	}
}

// hopsOf reads the hop addresses of a traceroute-style text output (" 3  fc00:0:4::1  0.1 ms";
// "*" for a hop without answer).
func hopsOf(out string) []string {
	var hops []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] == "" || f[0][0] < '0' || f[0][0] > '9' {
			continue
		}
		hops = append(hops, f[1])
	}
	return hops
}

// TestAgreesWithTracerouteAndScamper traces wan10's h1 → r1 End → r3 End → h2 and compares the
// hops with Debian's traceroute -6 and scamper on the path the kernel routes h1 → h2 without a
// segment list, which crosses the same nodes (h1 r1 p1 r3 h2). p1 is a plain IPv6 router
// (seg6_enabled=0) between the two SID nodes: it must be listed, in segment 2.
func TestAgreesWithTracerouteAndScamper(t *testing.T) {
	lab := up(t, "wan10", true)
	dst := "fc00:0:8::1"
	tgt := target(dst, "fc00:0:2::e", "fc00:0:4::e")
	warmUp(t, lab, "h1", tgt)
	rep := traceIn(t, lab, "h1", tgt, trace.Options{})
	var ours []string
	for _, a := range hopAddrs(rep.Hops) {
		ours = append(ours, a.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tr, err := lab.Output(ctx, "h1", "traceroute", "-6", "-n", "-q", "1", "-w", "2", dst)
	if err != nil {
		t.Fatalf("traceroute -6 (Debian package traceroute, `make deps`): %v", err)
	}
	sc, err := lab.Output(ctx, "h1", "scamper", "-c", "trace -P icmp-paris -q 1", "-i", dst)
	if err != nil {
		t.Fatalf("scamper (Debian package scamper, `make deps`): %v", err)
	}
	want := []string{loopback(t, lab, "r1").String(), loopback(t, lab, "p1").String(), loopback(t, lab, "r3").String(), dst}
	for name, got := range map[string][]string{"srv6-trace": ours, "traceroute -6": hopsOf(string(tr)), "scamper": hopsOf(string(sc))} {
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: hops %v, want %v (r1 p1 r3 h2)\ntraceroute:\n%s\nscamper:\n%s", name, got, want, tr, sc)
		}
	}
	if len(rep.Hops) == 4 {
		if p1 := rep.Hops[1]; p1.SID || p1.Segment != 1 {
			t.Errorf("p1: SID=%v segment %d, want a plain hop in segment 2", p1.SID, p1.Segment+1)
		}
		if !rep.Hops[0].SID || !rep.Hops[2].SID {
			t.Errorf("r1 and r3 should be marked as SID nodes: %+v %+v", rep.Hops[0], rep.Hops[2])
		}
	}
}

// TestPerSegment probes each prefix of the list with loop-back echoes: all alive, then, with
// r4's End SID removed, segment 2 down and segment 1 still alive.
func TestPerSegment(t *testing.T) {
	lab := up(t, "diamond", true)
	tgt := target("fc00:0:6::1", "fc00:0:2::e", "fc00:0:5::e")
	warmUp(t, lab, "h1", tgt)
	per := func() []trace.SegmentStatus {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var st []trace.SegmentStatus
		// PerSegment opens its sockets before it starts any goroutine: all of it runs here.
		if err := lab.Exec("h1", func() (err error) {
			st, _, err = trace.PerSegment(ctx, tgt, trace.Options{Wait: time.Second})
			return err
		}); err != nil {
			t.Fatalf("PerSegment: %v", err)
		}
		return st
	}
	st := per()
	if len(st) != 3 {
		t.Fatalf("%d segments, want 3", len(st))
	}
	for _, s := range st {
		if !s.Alive {
			t.Errorf("segment %d (%s): down, want alive: %+v", s.Index+1, s.SID, s)
		}
		if s.Loop != (s.Index < 2) {
			t.Errorf("segment %d: loop=%v", s.Index+1, s.Loop)
		}
	}
	if err := lab.DelSID("r4", mustAddr("fc00:0:5::e")); err != nil {
		t.Fatal(err)
	}
	st = per()
	if !st[0].Alive || st[1].Alive || st[2].Alive {
		t.Errorf("without r4's End SID: alive = %v %v %v, want true false false", st[0].Alive, st[1].Alive, st[2].Alive)
	}
}

// TestProgressLineOnlyOnTTY: --ecmp prints its progress line on a terminal (script(1) gives the
// command a pseudo-terminal) and erases it before the tree; through a pipe nothing extra.
func TestProgressLineOnlyOnTTY(t *testing.T) {
	lab := up(t, "diamond", true)
	warmUp(t, lab, "h1", target("fc00:0:6::1", "fc00:0:5::e"))
	args := []string{"-n", "--ecmp", "--segs", "fc00:0:5::e", "fc00:0:6::1"}
	piped, code := cli(t, lab, "h1", args...)
	if code != 0 || strings.Contains(piped, "probing:") || strings.Contains(piped, "\r") {
		t.Errorf("through a pipe: exit %d, want no progress line:\n%q", code, piped)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tty, err := lab.Output(ctx, "h1", "script", "-qec", srv6Trace(t)+" "+strings.Join(args, " "), "/dev/null")
	if err != nil {
		t.Fatalf("script (bsdutils): %v", err)
	}
	out := string(tty)
	if !strings.Contains(out, "\rprobing: ") && !strings.Contains(out, "probing: ") {
		t.Errorf("on a terminal: no progress line:\n%q", out)
	}
	if !strings.Contains(out, "\r\x1b[K") || !strings.Contains(out, "2 branches") {
		t.Errorf("on a terminal: progress line not erased before the tree, or no tree:\n%q", out)
	}
}

// TestRateLimitDefault keeps Linux's ICMPv6 rate limit on (a burst of 6 errors per
// destination, then one per net.ipv6.icmp.ratelimit) and spends it with 10 probes per hop: a trace right after
// finds the routers silent; with the retry (the default) every hop answers at least once.
func TestRateLimitDefault(t *testing.T) {
	lab := up(t, "line4", false)
	// Linux 6.18 defaults to 100 ms per error; kernels before it to 1000 ms, which this test
	// sets so that a spent budget stays spent for a while.
	for _, n := range lab.Topology().Nodes {
		if err := lab.Exec(n.Name, func() error {
			return os.WriteFile("/proc/sys/net/ipv6/icmp/ratelimit", []byte("1000"), 0o644)
		}); err != nil {
			t.Fatal(err)
		}
	}
	tgt := target("fc00:0:4::1", "fc00:0:2::e", "fc00:0:3::e")
	warmUp(t, lab, "h1", tgt)
	silent := func(rep *trace.Report) int {
		n := 0
		for _, h := range rep.Hops {
			if len(h.Responders()) == 0 {
				n++
			}
		}
		return n
	}
	// Spend every router's budget: 10 probes per hop.
	traceIn(t, lab, "h1", tgt, trace.Options{NoRetry: true, Queries: 10, Wait: 200 * time.Millisecond})
	rep := traceIn(t, lab, "h1", tgt, trace.Options{NoRetry: true, Wait: 200 * time.Millisecond})
	if silent(rep) == 0 {
		t.Errorf("right after 10 probes per hop the routers still answered (hops %v): is net.ipv6.icmp.ratelimit 0 here?", hopAddrs(rep.Hops))
	}
	// The retry is what is tested, not the HERE/NEAR rules: with them a retried probe is given
	// up ten times the destination's round trip after it left (a few milliseconds here), which
	// a stall of the loaded VM can outlast.
	rep = traceIn(t, lab, "h1", tgt, trace.Options{Wait: 200 * time.Millisecond, WaitHere: -1, WaitNear: -1})
	if !rep.Reached || len(rep.Hops) != 3 || silent(rep) != 0 {
		t.Errorf("with retry: reached=%v hops %v, want r1 r2 h2 all answering", rep.Reached, hopAddrs(rep.Hops))
	}
}
