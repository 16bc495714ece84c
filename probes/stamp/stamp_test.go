package stamp_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/bpf/agent"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/stamp"
)

// TestProbeOverLoopback runs the agent's reflector and a client on ::1 of the test's own
// namespace (no lab needed): the reply matches the probe and the timestamps are ordered.
func TestProbeOverLoopback(t *testing.T) {
	r := loopbackReflector(t, agent.ReflectorConfig{})
	c, err := stamp.Dial(stamp.Config{Target: r.Addr(), Size: 64,
		Clock: func() oam.ClockState { return oam.ClockState{Synchronised: true, EstErrorMicros: 3} }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Probe(9, time.Now().Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if res.Sequence != 9 || res.ReplyBytes != 64 || !(res.T1 < res.T2 && res.T2 <= res.T3 && res.T3 < res.T4) {
		t.Errorf("result %+v", res)
	}
	if !res.SenderError.Synchronised() || res.SenderError.Bound() < 3*time.Microsecond || res.SenderError.Bound() > 4*time.Microsecond {
		t.Errorf("sender error estimate %v, want S and ±3 µs rounded up", res.SenderError)
	}
	if res.HopLimitAtReflector == 0 || res.HopLimitAtSender <= 0 {
		t.Errorf("hop limits %d / %d", res.HopLimitAtReflector, res.HopLimitAtSender)
	}
	// The socket and buffers are reused for the next probe.
	if res, err := c.Probe(10, time.Now().Add(2*time.Second)); err != nil || res.Sequence != 10 {
		t.Errorf("second probe %+v, %v", res, err)
	}
}

// TestSenderOverLoopback runs a STAMP session (Sender.Run, on its Loop) against the agent's
// reflector on ::1, then against a port nobody listens on: every test packet is answered once,
// in the first; in the second every one ends as an error (the kernel's port unreachable),
// none as a reply, and the run ends on its own.
func TestSenderOverLoopback(t *testing.T) {
	r := loopbackReflector(t, agent.ReflectorConfig{})
	const count = 5
	run := func(port uint16) ([]stamp.Outcome, stamp.Summary) {
		t.Helper()
		s, err := stamp.New(oam.Target{Destination: netip.IPv6Loopback()}, stamp.Options{Count: count, Interval: 5 * time.Millisecond,
			Timeout: 10 * time.Second, Port: port, SharedClock: true})
		if err != nil {
			t.Fatal(err)
		}
		var outs []stamp.Outcome
		sum, err := s.Run(context.Background(), func(o stamp.Outcome) { outs = append(outs, o) })
		if err != nil {
			t.Fatal(err)
		}
		return outs, sum
	}
	outs, sum := run(r.Addr().Port())
	seen := map[uint32]bool{}
	for _, o := range outs {
		if o.Reply == nil || o.Err != nil || seen[o.Seq] || o.Seq < 1 || o.Seq > count {
			t.Errorf("outcome %+v", o)
		}
		seen[o.Seq] = true
	}
	if len(outs) != count || sum.Transmitted != count || sum.Received != count || sum.Errors != 0 || sum.RTT.Count != count {
		t.Errorf("%d outcomes, summary %+v", len(outs), sum)
	}

	// A port nobody listens on: the reflector's socket closed leaves its port free.
	free, err := agent.NewReflector(agent.ReflectorConfig{Listen: "[::1]:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	port := free.Addr().Port()
	free.Close()
	outs, sum = run(port)
	for _, o := range outs {
		if o.Reply != nil || o.Err == nil {
			t.Errorf("outcome %+v from a closed port", o)
		}
	}
	if sum.Received != 0 || sum.Errors == 0 || sum.Transmitted != count {
		t.Errorf("closed port: summary %+v", sum)
	}
}

// foreignReflector answers every test packet on ::1 with a 44-byte reply, whatever the test
// packet's size, copying its SSID only when copySSID: a reflector of another implementation.
func foreignReflector(t *testing.T, copySSID bool) uint16 {
	t.Helper()
	conn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		in, out := make([]byte, 2048), make([]byte, oam.STAMPPacketSize)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(in)
			if err != nil {
				return
			}
			var test oam.STAMPTest
			if test.UnmarshalBinary(in[:n]) != nil {
				continue
			}
			now := oam.PTPTimestamp(time.Now().UnixNano())
			reply := oam.STAMPReply{Sequence: test.Sequence, Timestamp: now, ErrorEstimate: test.ErrorEstimate, ReceiveTimestamp: now,
				SenderSequence: test.Sequence, SenderTimestamp: test.Timestamp, SenderErrorEstimate: test.ErrorEstimate, SenderTTL: 64}
			if copySSID {
				reply.SSID = test.SSID
			}
			reply.MarshalTo(out)               //nolint:errcheck // out is 44 bytes
			conn.WriteToUDPAddrPort(out, from) //nolint:errcheck // a lost reply is the test's to see
		}
	}()
	return uint16(conn.LocalAddr().(*net.UDPAddr).Port)
}

// Against a reflector that answers 200-byte test packets with 44-byte replies, every reply is
// counted asymmetric; a sender with a Session-Sender Identifier matches only the replies that
// carry it back: none from a reflector that zeroes it, all from one that copies it.
func TestForeignReflector(t *testing.T) {
	run := func(port, ssid uint16) stamp.Summary {
		t.Helper()
		s, err := stamp.New(oam.Target{Destination: netip.IPv6Loopback()}, stamp.Options{Count: 3, Interval: 5 * time.Millisecond,
			Timeout: 2 * time.Second, Port: port, Size: 200, SharedClock: true, SSID: ssid})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := s.Run(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	copying := foreignReflector(t, true)
	if sum := run(copying, 0); sum.Received != 3 || sum.Asymmetric != 3 {
		t.Errorf("44-byte replies to 200-byte test packets: %d received, %d asymmetric; want 3 and 3", sum.Received, sum.Asymmetric)
	}
	if sum := run(copying, 0xbeef); sum.Received != 3 {
		t.Errorf("SSID copied back: %d of 3 replies matched", sum.Received)
	}
	if sum := run(foreignReflector(t, false), 0xbeef); sum.Received != 0 {
		t.Errorf("SSID zeroed by the reflector: %d replies matched, want none", sum.Received)
	}
}

// Either timestamp format on either side: a sender in NTP and one in PTP against reflectors
// answering in PTP and in NTP; on one host's clock every reply's forward and backward delays
// are measured and not negative, and the reply says which format the reflector used.
func TestTimestampFormats(t *testing.T) {
	for _, refl := range []string{"ptp", "ntp"} {
		r, err := agent.NewReflector(agent.ReflectorConfig{Listen: "[::1]:0", Timestamps: refl}, []netip.Prefix{netip.MustParsePrefix("::1/128")})
		if err != nil {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Serve(ctx) }()
		for _, ptp := range []bool{false, true} {
			s, err := stamp.New(oam.Target{Destination: netip.IPv6Loopback()}, stamp.Options{Count: 3, Interval: 5 * time.Millisecond,
				Timeout: 2 * time.Second, Port: r.Addr().Port(), SharedClock: true, PTP: ptp})
			if err != nil {
				t.Fatal(err)
			}
			var outs []stamp.Outcome
			sum, err := s.Run(context.Background(), func(o stamp.Outcome) { outs = append(outs, o) })
			if err != nil || sum.Received != 3 {
				t.Fatalf("reflector %s, sender PTP %v: %d received, %v", refl, ptp, sum.Received, err)
			}
			for _, o := range outs {
				// NTP's fraction is 2^-32 s: a nanosecond of rounding each way.
				if o.OneWayState() != oam.DelayMeasured || o.Forward.Delay < -time.Nanosecond || o.Backward.Delay < -time.Nanosecond ||
					o.Reply.ReflectorTimestampsPTP != (refl == "ptp") {
					t.Errorf("reflector %s, sender PTP %v: %+v, forward %v, backward %v, reflector PTP %v", refl, ptp,
						o.OneWayState(), o.Forward.Delay, o.Backward.Delay, o.Reply.ReflectorTimestampsPTP)
				}
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
