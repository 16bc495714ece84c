package agent_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/bpf/agent"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/stamp"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// h2Steered is h2's second address: h1 reaches it through its SRv6 policy (H.Encaps, r1 End,
// r2 End.DT6), so test packets to it cross the SRv6 path and reach the reflector decapsulated.
var h2Steered = netip.MustParseAddr("fc00:0:4::100")

// startReflectorAgent runs a reflector-only agent in h2's namespace.
func startReflectorAgent(t *testing.T, lab *testnet.Lab, refl agent.ReflectorConfig) *agent.Agent {
	t.Helper()
	var a *agent.Agent
	if err := lab.Exec("h2", func() error {
		var err error
		a, err = agent.New(agent.Config{Reflector: &refl}, nil)
		return err
	}); err != nil {
		t.Fatalf("start reflector: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	return a
}

func dialSTAMP(t *testing.T, lab *testnet.Lab, target netip.AddrPort) *stamp.Client {
	t.Helper()
	var c *stamp.Client
	if err := lab.Exec("h1", func() error {
		var err error
		c, err = stamp.Dial(stamp.Config{Target: target, Source: h1Addr})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestReflectorThroughSRv6(t *testing.T) {
	lab := labtest.Up(t, "line4")
	a := startReflectorAgent(t, lab, agent.ReflectorConfig{Senders: []string{"fc00:0:1::/48"}, Rate: 1000})
	target := netip.AddrPortFrom(h2Steered, oam.STAMPPort)
	c := dialSTAMP(t, lab, target)

	const n = 20
	for seq := uint32(1); seq <= n; seq++ {
		start := probes.TAINow()
		res, err := c.Probe(seq, time.Now().Add(2*time.Second))
		end := probes.TAINow()
		if err != nil {
			t.Fatalf("probe %d: %v", seq, err)
		}
		// The kernel's receive timestamp T4 falls between the send call and Probe's return, as
		// read on CLOCK_TAI here: the REALTIME→TAI conversion holds.
		if res.T1 < start || res.T4 > end {
			t.Fatalf("probe %d: T1 %d T4 %d outside [%d, %d]", seq, res.T1, res.T4, start, end)
		}
		// All namespaces share one clock: the four timestamps are in order, so both one-way
		// components are positive and the residence fits inside the round trip.
		if !(res.T1 < res.T2 && res.T2 <= res.T3 && res.T3 < res.T4) {
			t.Fatalf("probe %d: timestamps out of order: T1 %d T2 %d T3 %d T4 %d", seq, res.T1, res.T2, res.T3, res.T4)
		}
		if res.Forward()+res.Backward() != res.RoundTrip() || res.RoundTrip() <= 0 || res.RoundTrip() > time.Duration(res.T4-res.T1) {
			t.Fatalf("probe %d: forward %v + backward %v vs round trip %v (T4−T1 %v)", seq, res.Forward(), res.Backward(), res.RoundTrip(), time.Duration(res.T4-res.T1))
		}
		if res.Reflector != target || res.ReplyBytes != oam.STAMPPacketSize || !res.ReflectorTimestampsPTP {
			t.Fatalf("probe %d: reply from %v, %d bytes, PTP %t", seq, res.Reflector, res.ReplyBytes, res.ReflectorTimestampsPTP)
		}
		// Through the policy the inner packet is forwarded once (r2, after decapsulation);
		// the plain path would decrement it at r1 and r2.
		if res.HopLimitAtReflector != 63 {
			t.Errorf("probe %d: hop limit at the reflector %d, want 63 (SRv6 path: one decrement at r2)", seq, res.HopLimitAtReflector)
		}
		if seq == 1 {
			t.Logf("seq 1: rtt %v forward %v backward %v residence %v, error bound %v, reflector %v", res.RoundTrip(), res.Forward(), res.Backward(), res.Residence(), res.ErrorBound(), res.ReflectorError)
		}
	}
	waitReplies(a, n)
	st := a.Reflector().Stats()
	if st.Replies.Load() != n || st.RefusedAllowList.Load() != 0 || st.RateLimited.Load() != 0 {
		t.Errorf("reflector stats: replies %d refused %d limited %d", st.Replies.Load(), st.RefusedAllowList.Load(), st.RateLimited.Load())
	}

	t.Run("padded request, reply of the same size", func(t *testing.T) {
		var big *stamp.Client
		if err := lab.Exec("h1", func() error {
			var err error
			big, err = stamp.Dial(stamp.Config{Target: target, Source: h1Addr, Size: 200})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer big.Close()
		res, err := big.Probe(7, time.Now().Add(2*time.Second))
		if err != nil || res.ReplyBytes != 200 {
			t.Fatalf("200-byte request: reply of %d bytes, %v", res.ReplyBytes, err)
		}
	})

	t.Run("malformed and oversized requests unanswered", func(t *testing.T) {
		raw := listenUDP(t, lab, "h1", h1Addr)
		before, replies := st.Malformed.Load(), st.Replies.Load()
		for _, size := range []int{10, 43, 1300} {
			pkt := make([]byte, size)
			if size >= oam.STAMPPacketSize {
				(&oam.STAMPTest{Sequence: 1, ErrorEstimate: 0x4001}).MarshalTo(pkt)
			}
			if _, err := raw.WriteToUDPAddrPort(pkt, target); err != nil {
				t.Fatal(err)
			}
		}
		raw.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, err := raw.Read(make([]byte, 2048)); err == nil {
			t.Fatalf("malformed request answered with %d bytes", n)
		}
		if got := st.Malformed.Load() - before; got != 3 || st.Replies.Load() != replies {
			t.Errorf("malformed counter +%d, want +3; replies %d → %d", got, replies, st.Replies.Load())
		}
	})
}

// BenchmarkSTAMPRoundTrip measures one STAMP round trip from h1 through the SRv6 policy to the
// reflector on h2 and back, with sender and reflector in this process: ns/op is the round trip
// as the sender's goroutine experiences it, allocs/op counts both ends.
func BenchmarkSTAMPRoundTrip(b *testing.B) {
	lab := labtest.Up(b, "line4")
	refl := agent.ReflectorConfig{Senders: []string{"fc00:0:1::/48"}, Rate: 1e9, Burst: 1e9}
	var a *agent.Agent
	if err := lab.Exec("h2", func() error {
		var err error
		a, err = agent.New(agent.Config{Reflector: &refl}, nil)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var c *stamp.Client
	if err := lab.Exec("h1", func() error {
		var err error
		c, err = stamp.Dial(stamp.Config{Target: netip.AddrPortFrom(h2Steered, oam.STAMPPort), Source: h1Addr})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	var rtt, residence time.Duration
	seq := uint32(0)
	for b.Loop() {
		seq++
		res, err := c.Probe(seq, time.Now().Add(time.Second))
		if err != nil {
			b.Fatal(err)
		}
		rtt += res.RoundTrip()
		residence += res.Residence()
	}
	b.ReportMetric(float64(rtt.Nanoseconds())/float64(seq), "rtt_ns")
	b.ReportMetric(float64(residence.Nanoseconds())/float64(seq), "residence_ns")
}

func TestReflectorRefusesSendersOffTheAllowList(t *testing.T) {
	lab := labtest.Up(t, "line4")
	a := startReflectorAgent(t, lab, agent.ReflectorConfig{Senders: []string{"fc00:0:3::/48"}})
	c := dialSTAMP(t, lab, netip.AddrPortFrom(h2Steered, oam.STAMPPort))
	if res, err := c.Probe(1, time.Now().Add(500*time.Millisecond)); !errors.Is(err, stamp.ErrTimeout) {
		t.Fatalf("sender off the allow-list got %+v, %v", res, err)
	}
	if got := a.Reflector().Stats().RefusedAllowList.Load(); got != 1 {
		t.Errorf("refused counter %d, want 1", got)
	}
}

func TestReflectorRateLimit(t *testing.T) {
	lab := labtest.Up(t, "line4")
	const burst = 5
	a := startReflectorAgent(t, lab, agent.ReflectorConfig{Senders: []string{"fc00:0:1::/48"}, Rate: 1, Burst: burst})
	c := dialSTAMP(t, lab, netip.AddrPortFrom(h2Steered, oam.STAMPPort))
	answered := 0
	const sent = 20
	for seq := uint32(1); seq <= sent; seq++ {
		if _, err := c.Probe(seq, time.Now().Add(100*time.Millisecond)); err == nil {
			answered++
		} else if !errors.Is(err, stamp.ErrTimeout) {
			t.Fatal(err)
		}
	}
	// 20 probes within about 2 s: the burst, plus at most a few tokens refilled at 1/s.
	waitReplies(a, uint64(answered))
	st := a.Reflector().Stats()
	if answered < burst || answered > burst+3 {
		t.Errorf("%d of %d answered, want the burst of %d (+ refill)", answered, sent, burst)
	}
	if st.RateLimited.Load() != uint64(sent-answered) || st.Replies.Load() != uint64(answered) {
		t.Errorf("rate limited %d, replies %d; answered %d of %d", st.RateLimited.Load(), st.Replies.Load(), answered, sent)
	}
}

// TestReflectorAtTheFinalSegment sends test packets with an explicit segment list (sticky SRH)
// through r1's End.OAM SID and r2's End to h2, where the reflector answers them at the final
// segment. End.OAM's packet counter on r1 witnesses the path.
func TestReflectorAtTheFinalSegment(t *testing.T) {
	lab := labtest.Up(t, "line4")
	oamAgent, _ := startAgent(t, lab, r1Config())
	a := startReflectorAgent(t, lab, agent.ReflectorConfig{Senders: []string{"fc00:0:1::/48"}})
	target := netip.AddrPortFrom(h2Addr, oam.STAMPPort)
	var c *stamp.Client
	if err := lab.Exec("h1", func() error {
		var err error
		c, err = stamp.Dial(stamp.Config{Target: target, Source: h1Addr,
			Segments: []netip.Addr{r1SID, netip.MustParseAddr("fc00:0:3::e")}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before, err := oamAgent.Counters()
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	for seq := uint32(1); seq <= n; seq++ {
		res, err := c.Probe(seq, time.Now().Add(2*time.Second))
		if err != nil {
			t.Fatalf("probe %d: %v", seq, err)
		}
		if !(res.T1 < res.T2 && res.T2 <= res.T3 && res.T3 < res.T4) || res.Reflector != target {
			t.Fatalf("probe %d: %+v", seq, res)
		}
	}
	after, err := oamAgent.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if got := after.Packets - before.Packets; got != n {
		t.Errorf("End.OAM on r1 saw %d packets during %d test packets, want %d", got, n, n)
	}
	waitReplies(a, n)
	if got := a.Reflector().Stats().Replies.Load(); got != n {
		t.Errorf("reflector replies %d, want %d", got, n)
	}
}

// waitReplies waits (up to 5 s) until the reflector has counted n replies: it counts a reply
// once it is sent, which can be just after the sender received it.
func waitReplies(a *agent.Agent, n uint64) {
	for deadline := time.Now().Add(5 * time.Second); a.Reflector().Stats().Replies.Load() < n && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}
