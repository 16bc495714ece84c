package stamp_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/bpf/agent"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/stamp"
)

// loopbackReflector serves srv6-agent's reflector on ::1 for the test.
func loopbackReflector(t *testing.T, cfg agent.ReflectorConfig) *agent.Reflector {
	t.Helper()
	cfg.Listen = "[::1]:0"
	r, err := agent.NewReflector(cfg, []netip.Prefix{netip.MustParsePrefix("::1/128")})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return r
}

func keyFile(t *testing.T, key string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTLVsOverLoopback: the RFC 8972 TLVs between the client and a stateful reflector with an
// HMAC key, on real sockets. Each TLV's answer is checked against what the test knows
// independently: the addresses and ports of both sockets, the DSCP the reply arrived with
// (IPV6_RECVTCLASS), the reflector's own reply sequence and the previous reply's T3.
func TestTLVsOverLoopback(t *testing.T) {
	const key = "sixteen+ bytes of shared key"
	r := loopbackReflector(t, agent.ReflectorConfig{Mode: "stateful", HMACKeyFile: keyFile(t, key), DSCP: []int{0, 46}, SyncSource: "ptp"})
	req := oam.STAMPTLVRequest{Location: true, TimestampInfo: true, CoS: true, DSCP: 46, DirectMeasurement: true,
		FollowUp: true, DestinationNode: netip.MustParseAddr("::1"), HMACKey: []byte(key)}
	c, err := stamp.Dial(stamp.Config{Target: r.Addr(), TLVs: req, Size: 200, SSID: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Size() != 200 {
		t.Fatalf("test packets of %d bytes, want 200 (TLVs and Extra Padding)", c.Size())
	}
	var prev stamp.Result
	for seq := uint32(1); seq <= 4; seq++ {
		res, err := c.Probe(seq, time.Now().Add(2*time.Second))
		if err != nil {
			t.Fatalf("probe %d: %v", seq, err)
		}
		tl := &res.TLVs
		if !tl.HMACChecked || tl.IntegrityFailed || tl.Malformed || len(tl.Unrecognized) != 0 || res.ReplyBytes != 200 {
			t.Fatalf("probe %d: %d bytes, TLVs %+v", seq, res.ReplyBytes, *tl)
		}
		if !tl.LocationOK || tl.SeenSrc != c.LocalAddr() || tl.SeenDst != r.Addr() {
			t.Errorf("Location: reflector saw %v → %v, sockets are %v → %v", tl.SeenSrc, tl.SeenDst, c.LocalAddr(), r.Addr())
		}
		if !tl.TimestampInfoOK || tl.SyncSource != oam.STAMPSyncPTP || tl.MethodIn != oam.STAMPMethodSWLocal {
			t.Errorf("Timestamp Information: %+v", *tl)
		}
		if !tl.CoSOK || tl.DSCPRefused || tl.DSCPArrived != 0 || res.ReplyTClass>>2 != 46 {
			t.Errorf("Class of Service: arrived DSCP %d, refused %v; the reply came with traffic class %d, want DSCP 46", tl.DSCPArrived, tl.DSCPRefused, res.ReplyTClass)
		}
		// A stateful reflector numbers its replies per session from 0 and counts both ways.
		if res.ReflectorSequence != seq-1 || !tl.DirectOK || tl.SenderTx != seq || tl.ReflRx != seq || tl.ReflTx != seq {
			t.Errorf("probe %d: reflector sequence %d, Direct Measurement %d/%d/%d", seq, res.ReflectorSequence, tl.SenderTx, tl.ReflRx, tl.ReflTx)
		}
		// Follow-Up Telemetry: the previous reply's sequence and the T3 it carried.
		if seq > 1 && (!tl.FollowUpOK || tl.FollowUpSeq != seq-2 || res.PrevT3 != prev.T3) {
			t.Errorf("probe %d: Follow-Up seq %d at %d, previous reply %d sent at %d", seq, tl.FollowUpSeq, res.PrevT3, prev.ReflectorSequence, prev.T3)
		}
		if !tl.DestinationNodeConfirmed {
			t.Error("::1 not confirmed as the reflector's own address")
		}
		prev = res
	}
	if got := r.Stats().Sessions.Load(); got != 1 {
		t.Errorf("%d sessions, want 1", got)
	}
}

// TestTLVRefusals: what the reflector cannot or may not do comes back flagged, and a request
// for no reply gets none.
func TestTLVRefusals(t *testing.T) {
	r := loopbackReflector(t, agent.ReflectorConfig{HMACKeyFile: keyFile(t, "the reflector's own key"), DSCP: []int{0}})
	probe := func(req oam.STAMPTLVRequest) (stamp.Result, error) {
		t.Helper()
		c, err := stamp.Dial(stamp.Config{Target: r.Addr(), TLVs: req})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.Probe(1, time.Now().Add(time.Second))
	}
	// Stateless: no Direct Measurement counts; a DSCP off the list; a destination that is not
	// this node; a return address off the senders allow-list.
	res, err := probe(oam.STAMPTLVRequest{DirectMeasurement: true, CoS: true, DSCP: 10,
		DestinationNode: netip.MustParseAddr("2001:db8::1"), ReturnAddress: netip.MustParseAddr("2001:db8::2")})
	if err != nil {
		t.Fatal(err)
	}
	want := []oam.STAMPTLVType{oam.STAMPTLVDirectMeasurement, oam.STAMPTLVDestinationNode, oam.STAMPTLVReturnPath}
	if !slices.Equal(res.TLVs.Unrecognized, want) || !res.TLVs.DSCPRefused || res.ReplyTClass>>2 != 0 || res.ReflectorSequence != 1 {
		t.Errorf("TLVs %+v, reply traffic class %d, reflector sequence %d", res.TLVs, res.ReplyTClass, res.ReflectorSequence)
	}
	// Another key: every TLV back with I, nothing filled in (read on the wire: the client's
	// own HMAC check would fail the reply anyway).
	req := oam.STAMPTLVRequest{Location: true, TimestampInfo: true, HMACKey: []byte("not the reflector's key")}
	pkt := make([]byte, oam.STAMPPacketSize)
	(&oam.STAMPTest{Sequence: 1, ErrorEstimate: 1}).MarshalTo(pkt) //nolint:errcheck
	pkt, _ = req.AppendTLVs(pkt, 0)
	oam.SealSTAMPHMAC(req.HMACKey, pkt, oam.FindSTAMPHMAC(pkt))
	conn, err := net.DialUDP("udp6", nil, net.UDPAddrFromAddrPort(r.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 2048)
	n, err := conn.Read(reply)
	if err != nil || n != len(pkt) {
		t.Fatalf("reply: %d bytes, %v", n, err)
	}
	tlvs := 0
	oam.WalkSTAMPTLVs(reply[oam.STAMPPacketSize:n], func(off int, tl oam.STAMPTLV) bool {
		tlvs++
		if tl.Flags != oam.STAMPFlagIntegrity || !bytes.Equal(tl.Value, pkt[oam.STAMPPacketSize+off+4:oam.STAMPPacketSize+off+4+len(tl.Value)]) {
			t.Errorf("%v came back with flags %#x, value % x; want I and the value as sent", tl.Type, tl.Flags, tl.Value)
		}
		return true
	})
	if tlvs != 3 {
		t.Errorf("%d TLVs came back, want 3", tlvs)
	}
	if r.Stats().HMACFailures.Load() != 1 {
		t.Errorf("stamp_hmac_failures_total %d, want 1", r.Stats().HMACFailures.Load())
	}
	// No reply requested: none comes.
	if _, err := probe(oam.STAMPTLVRequest{NoReply: true}); !errors.Is(err, stamp.ErrTimeout) {
		t.Errorf("no reply requested: %v, want a timeout", err)
	}
	if r.Stats().NoReplyRequested.Load() != 1 {
		t.Errorf("stamp_no_reply_requested_total %d, want 1", r.Stats().NoReplyRequested.Load())
	}
}

// TestAuthenticatedOverLoopback: RFC 8762's authenticated mode between the client and the
// reflector with the same key (112-octet packets both ways, every reply verified); with another
// key the reflector discards every test packet (counted) and nothing comes back; an
// unauthenticated test packet is not answered either.
func TestAuthenticatedOverLoopback(t *testing.T) {
	const key = "authenticated-mode key, 16+"
	r := loopbackReflector(t, agent.ReflectorConfig{AuthKeyFile: keyFile(t, key)})
	dial := func(cfg stamp.Config) *stamp.Client {
		t.Helper()
		cfg.Target = r.Addr()
		c, err := stamp.Dial(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := dial(stamp.Config{AuthKey: []byte(key), SSID: 5})
	if c.Size() != oam.STAMPAuthPacketSize {
		t.Fatalf("authenticated test packets of %d bytes", c.Size())
	}
	for seq := uint32(1); seq <= 3; seq++ {
		res, err := c.Probe(seq, time.Now().Add(2*time.Second))
		if err != nil {
			t.Fatalf("probe %d: %v", seq, err)
		}
		if res.ReplyBytes != oam.STAMPAuthPacketSize || res.Sequence != seq || !(res.T1 < res.T2 && res.T2 <= res.T3 && res.T3 < res.T4) {
			t.Errorf("probe %d: %+v", seq, res)
		}
	}
	if _, err := dial(stamp.Config{AuthKey: []byte("another key of 16+ bytes")}).Probe(1, time.Now().Add(300*time.Millisecond)); !errors.Is(err, stamp.ErrTimeout) {
		t.Errorf("another key: %v, want no reply", err)
	}
	if _, err := dial(stamp.Config{Size: oam.STAMPAuthPacketSize}).Probe(1, time.Now().Add(300*time.Millisecond)); !errors.Is(err, stamp.ErrTimeout) {
		t.Errorf("unauthenticated: %v, want no reply", err)
	}
	// The reflector's goroutine counts them: give it time on a loaded machine.
	st := r.Stats()
	for deadline := time.Now().Add(5 * time.Second); st.HMACFailures.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if st.Replies.Load() != 3 || st.HMACFailures.Load() != 2 {
		t.Errorf("reflector: %d replies, %d HMAC failures; want 3 and 2", st.Replies.Load(), st.HMACFailures.Load())
	}
	if _, err := stamp.Dial(stamp.Config{Target: r.Addr(), AuthKey: []byte(key), TLVs: oam.STAMPTLVRequest{Location: true}}); err == nil {
		t.Error("TLVs in authenticated mode were accepted")
	}
}

// TestAuthenticatedReplyChanged: a reply changed on the way (here by a reflector that flips an
// octet of a correctly sealed reply) is counted as an integrity failure and not taken.
func TestAuthenticatedReplyChanged(t *testing.T) {
	key := []byte("authenticated-mode key, 16+")
	conn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer conn.Close()
	go func() {
		b := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			var tp oam.STAMPTest
			if tp.UnmarshalAuth(b[:n], key) != nil {
				continue
			}
			r := oam.STAMPReply{Sequence: tp.Sequence, ErrorEstimate: 1, SenderSequence: tp.Sequence, SenderTimestamp: tp.Timestamp,
				SenderErrorEstimate: tp.ErrorEstimate, SSID: tp.SSID}
			r.MarshalAuthTo(b, key) //nolint:errcheck
			b[90] ^= 1              // an MBZ octet the HMAC covers
			_, _ = conn.WriteToUDPAddrPort(b[:n], from)
		}
	}()
	target := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	sum, err := stamp.Probe(context.Background(), oam.Target{Destination: target.Addr()},
		stamp.Options{Count: 2, Interval: 50 * time.Millisecond, Timeout: time.Second, Port: target.Port(), AuthKey: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Received != 0 || sum.IntegrityFailures != 2 {
		t.Errorf("summary: %d received, %d integrity failures; want 0 and 2", sum.Received, sum.IntegrityFailures)
	}
}

// TestLossCounter: losses per direction from successive Direct Measurement counts, and a
// reflector whose counts start again (restarted) taken as a new baseline, not as loss.
func TestLossCounter(t *testing.T) {
	var l stamp.LossCounter
	dm := func(s, rx, tx uint32) *oam.STAMPReplyTLVs {
		return &oam.STAMPReplyTLVs{DirectOK: true, SenderTx: s, ReflRx: rx, ReflTx: tx}
	}
	for i, c := range []struct {
		t              *oam.STAMPReplyTLVs
		received       int
		fwd, back      int
		totalF, totalB int
	}{
		{dm(1, 1, 1), 1, 0, 0, 0, 0},
		{dm(3, 2, 2), 2, 1, 0, 1, 0},           // packet 2 lost on the way there
		{dm(5, 4, 4), 3, 0, 1, 1, 1},           // a reply lost on the way back
		{dm(6, 1, 1), 4, 0, 0, 1, 1},           // the reflector restarted: baseline, no loss
		{dm(8, 3, 3), 5, 0, 1, 1, 2},           // from the new baseline: one reply lost
		{&oam.STAMPReplyTLVs{}, 6, 0, 0, 1, 2}, // no counts: nothing
	} {
		f, b := l.Observe(c.t, c.received)
		if f != c.fwd || b != c.back || l.Forward != c.totalF || l.Backward != c.totalB {
			t.Errorf("reading %d: +%d/+%d, totals %d/%d; want +%d/+%d, %d/%d", i, f, b, l.Forward, l.Backward, c.fwd, c.back, c.totalF, c.totalB)
		}
	}
	if l.Reset != 1 {
		t.Errorf("%d baselines taken again, want 1", l.Reset)
	}
}
