package ping_test

import (
	"context"
	"encoding/binary"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/ping"
	"github.com/srv6oam/srv6oam/probes/probetest"
)

// The engine on a scripted network (probes/probetest): matching, duplicates, losses, late
// replies and quoted errors, without root. Lab tests (lab_test.go) check the same against the
// kernel.

var (
	src  = netip.MustParseAddr("fc00:0:1::1")
	dst  = netip.MustParseAddr("fc00:0:4::1")
	sid1 = netip.MustParseAddr("fc00:0:2::e")
	sid2 = netip.MustParseAddr("fc00:0:3::e")
	r2   = netip.MustParseAddr("fd00:0:0:2::2")
)

func run(t *testing.T, ctx context.Context, network probetest.Network, target oam.Target, opts ping.Options, emit func(oam.Result)) (*probetest.Conn, oam.Summary) {
	t.Helper()
	conn := probetest.New(network)
	opts.Source = src
	p, err := ping.NewOn(conn, target, opts)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := p.Run(ctx, emit)
	if err != nil {
		t.Fatal(err)
	}
	return conn, sum
}

func TestEngineRepliesDuplicatesAndLoss(t *testing.T) {
	target := oam.Target{Segments: oam.SegmentList{sid1, sid2}, Destination: dst}
	network := func(p *probetest.Probe) []probetest.Answer {
		switch p.Seq {
		case 2:
			return nil // lost
		case 3:
			a := probetest.EchoReply(p, dst, 62)
			a.Copies = 2
			return []probetest.Answer{a}
		}
		return []probetest.Answer{probetest.EchoReply(p, dst, 62)}
	}
	var got []oam.Result
	conn, sum := run(t, context.Background(), network, target,
		ping.Options{Count: 4, Interval: 100 * time.Millisecond, Timeout: 300 * time.Millisecond}, func(r oam.Result) { got = append(got, r) })

	sent := conn.Sent()
	if len(sent) != 4 {
		t.Fatalf("%d probes sent, want 4", len(sent))
	}
	for i, p := range sent {
		// H.Encaps: outer header to the first SID, SRH with the destination last, inner echo.
		if !p.Echo || int(p.Seq) != i+1 || p.Dst != sid1 || !p.Encapsulated || p.FinalDst != dst || p.SRH == nil ||
			len(p.SRH.Segments) != 3 || p.SRH.SegmentsLeft != 2 {
			t.Errorf("probe %d: %+v", i+1, p)
		}
	}
	sort.SliceStable(got, func(i, j int) bool { return got[i].Seq < got[j].Seq })
	type want struct {
		seq  int
		kind oam.ResultKind
		dup  bool
	}
	wants := []want{{1, oam.KindReply, false}, {2, oam.KindTimeout, false}, {3, oam.KindReply, false}, {3, oam.KindReply, true}, {4, oam.KindReply, false}}
	if len(got) != len(wants) {
		t.Fatalf("%d results, want %d: %+v", len(got), len(wants), got)
	}
	for i, w := range wants {
		g := got[i]
		if g.Seq != w.seq || g.Kind != w.kind || g.Duplicate != w.dup {
			t.Errorf("result %d: seq %d %v dup %v, want seq %d %v dup %v", i, g.Seq, g.Kind, g.Duplicate, w.seq, w.kind, w.dup)
		}
		if g.Kind == oam.KindReply && (g.From != dst || g.HopLimit != 62 || g.RTT < 0 || g.SentClock != oam.ClockKernel) {
			t.Errorf("result %d: %+v", i, g)
		}
	}
	if sum.Transmitted != 4 || sum.Received != 3 || sum.Duplicates != 1 || sum.Loss() != 25 || sum.RTT.Count != 3 {
		t.Errorf("summary %+v", sum)
	}
}

func TestEngineQuotedErrorNamesTheActiveSegment(t *testing.T) {
	target := oam.Target{Segments: oam.SegmentList{sid1, sid2}, Destination: dst}
	// r2 processed sid2 (SL 2 → 1 at sid1, 1 → 0 at sid2) and found no route to the destination:
	// it quotes the probe with the SRH as it left sid1's node, Segments Left 1.
	network := func(p *probetest.Probe) []probetest.Answer {
		a := probetest.Error(p, r2, probes.ICMPv6DestUnreachable, 0, 0)
		a.ICMPv6[8+40+3] = 1
		return []probetest.Answer{a}
	}
	var got []oam.Result
	_, sum := run(t, context.Background(), network, target, ping.Options{Count: 1, Timeout: time.Second}, func(r oam.Result) { got = append(got, r) })
	if len(got) != 1 {
		t.Fatalf("results %+v", got)
	}
	g := got[0]
	if g.Kind != oam.KindError || g.From != r2 || g.Error != "Destination unreachable: No route" ||
		g.At.Index != 1 || g.At.SID != sid2 || g.At.SegmentsLeft != 1 {
		t.Errorf("%+v", g)
	}
	if sum.Errors != 1 || sum.Received != 0 {
		t.Errorf("summary %+v", sum)
	}
}

func TestEngineLateReplyAndForeignIdentifier(t *testing.T) {
	target := oam.Target{Destination: dst}
	conn := probetest.New(func(p *probetest.Probe) []probetest.Answer {
		// Another pinger's reply (identifier + 1) arrives first: it must not match.
		foreign := probetest.EchoReply(p, dst, 64)
		binary.BigEndian.PutUint16(foreign.ICMPv6[4:], p.ID+1)
		return []probetest.Answer{foreign}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []oam.Result
	p, err := ping.NewOn(conn, target, ping.Options{Source: src, Interval: time.Hour, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := p.Run(ctx, func(r oam.Result) {
		got = append(got, r)
		switch {
		case r.Kind == oam.KindTimeout:
			// The probe was given up: now its reply comes.
			conn.Inject(probetest.EchoReply(conn.Sent()[0], dst, 64))
		case r.Late:
			cancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Kind != oam.KindTimeout || got[1].Kind != oam.KindReply || !got[1].Late || got[1].Seq != 1 {
		t.Fatalf("results %+v", got)
	}
	if sum.Transmitted != 1 || sum.Received != 0 || sum.Late != 1 {
		t.Errorf("summary %+v", sum)
	}
}

// TestSessionsShareOneLoop: many runs on one Loop, one Demux and one socket (as srv6-monitor's
// echo jobs): each gets its own answers by identifier, none is lost or crossed, and the Loop
// ends when the last run is done. The interval is long enough that iputils' wait after the
// last probe (twice the largest RTT, at least one interval) outlasts any stall of the machine.
func TestSessionsShareOneLoop(t *testing.T) {
	const runs, count = 50, 3
	conn := probetest.New(func(p *probetest.Probe) []probetest.Answer {
		return []probetest.Answer{probetest.EchoReply(p, p.FinalDst, 64)}
	})
	demux := probes.NewDemux(conn)
	defer demux.Close()
	loop := probes.NewEchoLoop(demux)
	defer loop.Close()
	got := make([][]oam.Result, runs)
	for i := range runs {
		target := oam.Target{Destination: netip.AddrFrom16([16]byte{0xfc, 15: byte(i + 1)})}
		sess, opts, err := ping.NewSession(conn, target, ping.Options{Source: src, Identifier: uint16(1000 + i), Count: count,
			Interval: 200 * time.Millisecond, Timeout: time.Second, Phase: time.Duration(i) * 100 * time.Microsecond, Jitter: 0.1},
			func(r oam.Result) { got[i] = append(got[i], r) })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := loop.Add(opts.Identifier, sess); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := loop.Run(ctx, true); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("the loop did not end when every run was done")
	}
	for i, rs := range got {
		want := netip.AddrFrom16([16]byte{0xfc, 15: byte(i + 1)})
		if len(rs) != count {
			t.Fatalf("run %d: %d results, want %d", i, len(rs), count)
		}
		for _, r := range rs {
			if r.Kind != oam.KindReply || r.Duplicate || r.From != want {
				t.Errorf("run %d: %+v", i, r)
			}
		}
	}
	if n := len(conn.Sent()); n != runs*count {
		t.Errorf("%d probes sent, want %d", n, runs*count)
	}
	if demux.Unmatched() != 0 {
		t.Errorf("%d answers matched no run", demux.Unmatched())
	}
}
