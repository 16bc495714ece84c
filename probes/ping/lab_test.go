package ping_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/ping"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// pingIn runs one ping from node and collects its results. Sockets are opened inside the
// node's namespace (they stay there); the run itself needs no namespace.
func pingIn(t testing.TB, lab *testnet.Lab, node string, target oam.Target, opts ping.Options) ([]oam.Result, oam.Summary) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var p *ping.Pinger
	if err := lab.Exec(node, func() (err error) {
		p, err = ping.New(ctx, target, opts)
		return err
	}); err != nil {
		t.Fatalf("ping.New in %s: %v", node, err)
	}
	defer p.Close()
	var results []oam.Result
	sum, err := p.Run(ctx, func(r oam.Result) { results = append(results, r) })
	if err != nil {
		t.Fatalf("ping %s: %v", target, err)
	}
	return results, sum
}

// warmUp pings dst from node until a reply comes: in a lab just built the first packets wait
// about a second for neighbour discovery (links come up while the first solicitations go out),
// which would otherwise show up as a lost first probe.
func warmUp(t testing.TB, lab *testnet.Lab, node string, dsts ...string) {
	t.Helper()
	for _, dst := range dsts {
		ok := false
		for i := 0; i < 5 && !ok; i++ {
			_, sum := pingIn(t, lab, node, target(dst), ping.Options{Count: 1, Timeout: 2 * time.Second})
			ok = sum.Received > 0
		}
		if !ok {
			t.Fatalf("warm-up: %s cannot reach %s", node, dst)
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func target(dst string, segs ...string) oam.Target {
	t := oam.Target{Destination: mustAddr(dst)}
	for _, s := range segs {
		t.Segments = append(t.Segments, mustAddr(s))
	}
	return t
}

// sidCounters counts, in node's prerouting hook, the packets arriving with each address as
// IPv6 destination and an SRH as first extension header: what a SID on that node sees.
type sidCounters struct {
	lab  *testnet.Lab
	node string
}

func countSIDs(t *testing.T, lab *testnet.Lab, node string, sids ...string) *sidCounters {
	t.Helper()
	ctx := context.Background()
	cmds := [][]string{
		{"add", "table", "ip6", "p4count"},
		{"add", "chain", "ip6", "p4count", "pre", "{ type filter hook prerouting priority -300 ; }"},
	}
	for _, s := range sids {
		cmds = append(cmds, []string{"add", "rule", "ip6", "p4count", "pre", "ip6", "daddr", s, "ip6", "nexthdr", "43", "counter"})
	}
	for _, c := range cmds {
		if out, err := lab.Output(ctx, node, "nft", c...); err != nil {
			t.Fatalf("nft in %s: %v %s", node, err, out)
		}
	}
	return &sidCounters{lab: lab, node: node}
}

var counterRE = regexp.MustCompile(`ip6 daddr (\S+) .*counter packets (\d+)`)

func (c *sidCounters) read(t *testing.T) map[string]int {
	t.Helper()
	out, err := c.lab.Output(context.Background(), c.node, "nft", "list", "chain", "ip6", "p4count", "pre")
	if err != nil {
		t.Fatalf("nft list in %s: %v", c.node, err)
	}
	m := map[string]int{}
	for _, line := range strings.Split(string(out), "\n") {
		if g := counterRE.FindStringSubmatch(line); g != nil {
			n, _ := strconv.Atoi(g[2])
			m[mustAddr(g[1]).String()] = n
		}
	}
	return m
}

func replies(rs []oam.Result) (n int) {
	for _, r := range rs {
		if r.Kind == oam.KindReply && !r.Duplicate && !r.Late {
			n++
		}
	}
	return n
}

// TestLine4ThroughSegments: probes in both encodings visit exactly the listed SIDs (counted on
// the SID nodes) and every one is answered.
func TestLine4ThroughSegments(t *testing.T) {
	lab := labtest.Up(t, "line4")
	warmUp(t, lab, "h1", "fc00:0:4::1")
	warmUp(t, lab, "h2", "fc00:0:1::1")
	r1 := countSIDs(t, lab, "r1", "fc00:0:2::e", "fc00:0:2::e1", "fc00:0:2::e2")
	r2 := countSIDs(t, lab, "r2", "fc00:0:3::e", "fc00:0:3::e1", "fc00:0:3::e2")
	const n = 5
	var wantR1, wantR2 int
	for _, enc := range []probes.Encoding{probes.Encap, probes.Insert} {
		t.Run(enc.String(), func(t *testing.T) {
			tg := target("fc00:0:4::1", "fc00:0:2::e", "fc00:0:3::e1")
			rs, sum := pingIn(t, lab, "h1", tg, ping.Options{Count: n, Interval: 20 * time.Millisecond, Timeout: 2 * time.Second, Encoding: enc})
			if got := replies(rs); got != n || sum.Received != n || sum.Transmitted != n {
				t.Fatalf("%d replies, summary %+v; want %d", got, sum, n)
			}
			for _, r := range rs {
				if r.From != tg.Destination || r.RTT <= 0 || r.Bytes != 64 {
					t.Errorf("reply %+v: want from %s, 64 bytes, positive RTT", r, tg.Destination)
				}
				if r.SentClock != oam.ClockKernel || r.ReceivedClock != oam.ClockKernel {
					t.Errorf("seq %d: clocks sent=%v received=%v, want kernel timestamps on veth", r.Seq, r.SentClock, r.ReceivedClock)
				}
			}
			wantR1 += n
			wantR2 += n
			c1, c2 := r1.read(t), r2.read(t)
			if c1["fc00:0:2::e"] != wantR1 || c2["fc00:0:3::e1"] != wantR2 {
				t.Errorf("SID counters r1 %v r2 %v: want %d at fc00:0:2::e and fc00:0:3::e1", c1, c2, wantR1)
			}
			if c1["fc00:0:2::e1"]+c1["fc00:0:2::e2"]+c2["fc00:0:3::e"]+c2["fc00:0:3::e2"] != 0 {
				t.Errorf("unlisted SIDs counted packets: r1 %v r2 %v", c1, c2)
			}
		})
	}
}

// TestDiamondPicksBranch: the segment list, not the shortest path, decides which branch of the
// diamond the probes take.
func TestDiamondPicksBranch(t *testing.T) {
	lab := labtest.Up(t, "diamond")
	warmUp(t, lab, "h1", "fc00:0:6::1", "fc00:0:3::1", "fc00:0:4::1")
	warmUp(t, lab, "h2", "fc00:0:1::1")
	r2 := countSIDs(t, lab, "r2", "fc00:0:3::e")
	r3 := countSIDs(t, lab, "r3", "fc00:0:4::e")
	for _, branch := range []struct{ sid, via string }{{"fc00:0:3::e", "r2"}, {"fc00:0:4::e", "r3"}} {
		c2, c3 := r2.read(t), r3.read(t)
		before := c2["fc00:0:3::e"] + c3["fc00:0:4::e"]
		rs, _ := pingIn(t, lab, "h1", target("fc00:0:6::1", branch.sid), ping.Options{Count: 4, Interval: 10 * time.Millisecond, Timeout: 2 * time.Second})
		if replies(rs) != 4 {
			t.Fatalf("via %s: %d replies, want 4: %+v", branch.sid, replies(rs), rs)
		}
		c2, c3 = r2.read(t), r3.read(t)
		got := map[string]int{"r2": c2["fc00:0:3::e"], "r3": c3["fc00:0:4::e"]}
		if got[branch.via]+0 < 4 || got["r2"]+got["r3"]-before != 4 {
			t.Errorf("via %s: counters %v (before %d): want exactly 4 more on %s", branch.sid, got, before, branch.via)
		}
	}
}

// TestUnreachableSID: with r2's End.X SID removed, probes come back as "No route" from r2,
// attributed to that SID (segment 2 of 3).
func TestUnreachableSID(t *testing.T) {
	lab := labtest.Up(t, "line4")
	warmUp(t, lab, "h1", "fc00:0:3::1")
	if out, err := lab.Output(context.Background(), "r2", "ip", "-6", "route", "del", "fc00:0:3::e1"); err != nil {
		t.Fatalf("remove SID: %v %s", err, out)
	}
	r2Addrs := nodeAddrs(t, lab, "r2")
	for _, enc := range []probes.Encoding{probes.Encap, probes.Insert} {
		rs, sum := pingIn(t, lab, "h1", target("fc00:0:4::1", "fc00:0:2::e", "fc00:0:3::e1"),
			ping.Options{Count: 3, Interval: 10 * time.Millisecond, Timeout: time.Second, Encoding: enc})
		if sum.Received != 0 || sum.Errors != 3 {
			t.Fatalf("%v: summary %+v, want 3 errors and no reply", enc, sum)
		}
		for _, r := range rs {
			if r.Kind != oam.KindError {
				continue
			}
			if !r2Addrs[r.From] || r.Error != "Destination unreachable: No route" ||
				r.At.Index != 1 || r.At.SID != mustAddr("fc00:0:3::e1") || r.At.SegmentsLeft != 1 {
				t.Errorf("%v: error %+v: want No route from r2 (one of %v), active segment 1 fc00:0:3::e1 SL=1", enc, r, r2Addrs)
			}
		}
	}
}

// nodeAddrs is the set of node's addresses: loopbacks and link addresses.
func nodeAddrs(t *testing.T, lab *testnet.Lab, node string) map[netip.Addr]bool {
	t.Helper()
	m := map[netip.Addr]bool{}
	ifs, err := lab.Interfaces(node)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		m[i.Addr.Addr()] = true
	}
	for _, n := range lab.Topology().Nodes {
		if n.Name == node {
			for _, p := range n.Loopbacks {
				m[p.Addr()] = true
			}
		}
	}
	return m
}

// TestHMAC: r2 requires HMAC on every interface. A signed probe passes it, an unsigned one is
// dropped there: counted arriving at r2, never reaching h2.
func TestHMAC(t *testing.T) {
	lab := labtest.Up(t, "hmac")
	warmUp(t, lab, "h1", "fc00:0:4::1")
	warmUp(t, lab, "h2", "fc00:0:1::1")
	r2 := countSIDs(t, lab, "r2", "fc00:0:3::d6")
	h2 := countInner(t, lab, "h2", "fc00:0:4::100")
	key := &srh.HMACKey{ID: 1, Algorithm: srh.HMACSHA256, Secret: []byte("srv6oam-lab-secret")}
	tg := target("fc00:0:4::100", "fc00:0:3::d6")
	tg.Decap = true

	rs, sum := pingIn(t, lab, "h1", tg, ping.Options{Count: 3, Interval: 10 * time.Millisecond, Timeout: time.Second, HMAC: key})
	if replies(rs) != 3 {
		t.Fatalf("signed: %d replies (%+v), want 3", replies(rs), sum)
	}
	if c, d := r2.read(t)["fc00:0:3::d6"], h2.read(t); c != 3 || d != 3 {
		t.Fatalf("signed: r2 saw %d, h2 got %d; want 3 and 3", c, d)
	}
	rs, sum = pingIn(t, lab, "h1", tg, ping.Options{Count: 3, Interval: 10 * time.Millisecond, Timeout: 500 * time.Millisecond})
	if sum.Received != 0 || len(rs) != 3 {
		t.Fatalf("unsigned: %+v, want 3 timeouts", rs)
	}
	if c, d := r2.read(t)["fc00:0:3::d6"], h2.read(t); c != 6 || d != 3 {
		t.Fatalf("unsigned: r2 saw %d in all, h2 got %d in all; want 6 at r2 and still 3 at h2 (dropped at r2)", c, d)
	}
	wrong := &srh.HMACKey{ID: 1, Algorithm: srh.HMACSHA256, Secret: []byte("not-the-secret")}
	_, sum = pingIn(t, lab, "h1", tg, ping.Options{Count: 2, Interval: 10 * time.Millisecond, Timeout: 500 * time.Millisecond, HMAC: wrong})
	if sum.Received != 0 {
		t.Fatalf("wrong secret: %+v, want no reply", sum)
	}
}

// innerCounter counts echo requests for dst arriving at node without an SRH (after decap).
type innerCounter struct {
	lab  *testnet.Lab
	node string
}

func countInner(t *testing.T, lab *testnet.Lab, node, dst string) *innerCounter {
	t.Helper()
	ctx := context.Background()
	for _, c := range [][]string{
		{"add", "table", "ip6", "p4inner"},
		{"add", "chain", "ip6", "p4inner", "in", "{ type filter hook input priority 0 ; }"},
		{"add", "rule", "ip6", "p4inner", "in", "ip6", "daddr", dst, "icmpv6", "type", "echo-request", "counter"},
	} {
		if out, err := lab.Output(ctx, node, "nft", c...); err != nil {
			t.Fatalf("nft in %s: %v %s", node, err, out)
		}
	}
	return &innerCounter{lab: lab, node: node}
}

var packetsRE = regexp.MustCompile(`counter packets (\d+)`)

func (c *innerCounter) read(t *testing.T) int {
	t.Helper()
	out, err := c.lab.Output(context.Background(), c.node, "nft", "list", "chain", "ip6", "p4inner", "in")
	if err != nil {
		t.Fatalf("nft list: %v", err)
	}
	g := packetsRE.FindStringSubmatch(string(out))
	if g == nil {
		t.Fatalf("no counter in %s", out)
	}
	n, _ := strconv.Atoi(g[1])
	return n
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}

var _ = fmt.Sprint

var iputilsRTT = regexp.MustCompile(`icmp_seq=(\d+) .*time=([0-9.]+) ms`)

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// rttBesideIputils: on the diamond, h1 steers fc00:0:6::100 through r3 (End) and r4 (End.DT6)
// with a kernel H.Encaps policy; iputils ping over that policy and srv6-ping with the same
// segment list (--decap) alternate, 6 rounds of 10 probes each, so that drift on the shared
// machine hits both alike. It returns the median RTTs: srv6-ping on iputils' basis (from the
// user clock read before sendmsg), iputils', and srv6-ping as printed (from the kernel TX
// timestamp).
func rttBesideIputils(t testing.TB) (user, iputils, kernel time.Duration) {
	lab := labtest.Up(t, "diamond")
	warmUp(t, lab, "h1", "fc00:0:6::1", "fc00:0:6::100")
	warmUp(t, lab, "h2", "fc00:0:1::1")
	tg := target("fc00:0:6::100", "fc00:0:4::e", "fc00:0:5::d6")
	tg.Decap = true
	var ours, theirs, oursUser []time.Duration
	for round := 0; round < 6; round++ {
		out, err := lab.Output(context.Background(), "h1", "ping", "-n", "-c", "10", "-i", "0.02", "fc00:0:6::100")
		if err != nil {
			t.Fatalf("iputils ping: %v\n%s", err, out)
		}
		for _, g := range iputilsRTT.FindAllStringSubmatch(string(out), -1) {
			ms, _ := strconv.ParseFloat(g[2], 64)
			theirs = append(theirs, time.Duration(ms*float64(time.Millisecond)))
		}
		rs, _ := pingIn(t, lab, "h1", tg, ping.Options{Count: 10, Interval: 20 * time.Millisecond, Timeout: 2 * time.Second})
		for _, r := range rs {
			if r.Kind == oam.KindReply && !r.Duplicate {
				ours = append(ours, r.RTT)
				oursUser = append(oursUser, r.RTT+r.SendDelay)
			}
		}
	}
	if len(ours) < 55 || len(theirs) < 55 {
		t.Fatalf("too few replies: srv6-ping %d, iputils %d of 60", len(ours), len(theirs))
	}
	return median(oursUser), median(theirs), median(ours)
}

// TestRTTBesideIputils: both tools get their replies through the same SRv6 policy, and
// srv6-ping's kernel-stamped RTT is below its user-clock one (the TX timestamp is closer to
// the wire). iputils measures from its user-space clock read before sendmsg to the kernel
// receive timestamp; srv6-ping prints the RTT from the kernel TX timestamp, which leaves out
// this host's send path (SendDelay). How close the two medians are depends on how busy the
// machine is: logged here, measured by BenchmarkRTTBesideIputils.
func TestRTTBesideIputils(t *testing.T) {
	mo, mt, mk := rttBesideIputils(t)
	t.Logf("median RTT: iputils %v; srv6-ping on the iputils basis %v; srv6-ping as printed (kernel TX timestamp) %v", mt, mo, mk)
	if mk > mo {
		t.Errorf("kernel-stamped median %v above the user-clock one %v: the TX timestamp is not closer to the wire", mk, mo)
	}
}

// BenchmarkRTTBesideIputils reports srv6-ping's median RTT on iputils' basis over iputils'
// (ratio-vs-iputils) and the medians themselves (µs).
func BenchmarkRTTBesideIputils(b *testing.B) {
	b.ReportAllocs()
	var mo, mt, mk time.Duration
	for range b.N {
		mo, mt, mk = rttBesideIputils(b)
	}
	b.ReportMetric(float64(mo)/float64(mt), "ratio-vs-iputils")
	b.ReportMetric(float64(mt)/1e3, "iputils-us")
	b.ReportMetric(float64(mo)/1e3, "srv6-ping-user-us")
	b.ReportMetric(float64(mk)/1e3, "srv6-ping-kernel-us")
}

// TestNoGoroutineLeak: runs that end by count, by cancellation mid-run, with every probe lost,
// and a Pinger closed without running, leave no goroutine behind.
func TestNoGoroutineLeak(t *testing.T) {
	lab := labtest.Up(t, "line4")
	warmUp(t, lab, "h1", "fc00:0:4::1")
	settle := func() int {
		n := runtime.NumGoroutine()
		for i := 0; i < 100; i++ {
			time.Sleep(10 * time.Millisecond)
			if m := runtime.NumGoroutine(); m == n {
				return n
			} else {
				n = m
			}
		}
		return n
	}
	before := settle()
	tg := target("fc00:0:4::1", "fc00:0:2::e")
	for i := 0; i < 3; i++ {
		pingIn(t, lab, "h1", tg, ping.Options{Count: 3, Interval: time.Millisecond, Timeout: time.Second})
		pingIn(t, lab, "h1", target("fc00:0:4::1", "fc00:0:2::e", "fc00:0:3::77"), ping.Options{Count: 2, Interval: time.Millisecond, Timeout: 50 * time.Millisecond})

		ctx, cancel := context.WithCancel(context.Background())
		var p *ping.Pinger
		if err := lab.Exec("h1", func() (err error) { p, err = ping.New(ctx, tg, ping.Options{Interval: time.Millisecond}); return err }); err != nil {
			t.Fatal(err)
		}
		go func() { time.Sleep(30 * time.Millisecond); cancel() }()
		sum, err := p.Run(ctx, func(oam.Result) {})
		if err != nil || sum.Transmitted == 0 {
			t.Fatalf("cancelled run: %+v %v", sum, err)
		}
		if err := lab.Exec("h1", func() (err error) { p, err = ping.New(context.Background(), tg, ping.Options{}); return err }); err != nil {
			t.Fatal(err)
		}
		p.Close()
	}
	if after := settle(); after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}
