package ping

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
)

// fakeRun is a run with no sockets: probes are "sent" by hand and events fed to handle, to test
// matching without a kernel.
func fakeRun(t *testing.T, window int) (*run, *[]oam.Result) {
	t.Helper()
	opts, err := Options{Window: window, Count: 0, Interval: time.Millisecond}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	var got []oam.Result
	target := oam.Target{Segments: oam.SegmentList{netip.MustParseAddr("fc00:0:2::e"), netip.MustParseAddr("fc00:0:3::e1")},
		Destination: netip.MustParseAddr("fc00::1")}
	r := newRun(target, opts, nil, nil, func(res oam.Result) { got = append(got, res) })
	return r, &got
}

var t0 = time.Unix(1700000000, 0)

func (r *run) fakeSend(at time.Time) int {
	seq := r.next
	r.slots[seq%len(r.slots)] = slot{seq: seq, state: slotPending, userSent: at}
	r.next++
	r.summary.Transmitted++
	r.lastSend = at
	return seq
}

func reply(seq int, at time.Time) probes.Match {
	return probes.Match{Reply: true, Seq: uint16(seq), From: netip.MustParseAddr("fc00::1"), Time: at, Type: 129, Bytes: 64, HopLimit: 60, QuotedSL: -1}
}

func TestMatchingReorderDuplicateLate(t *testing.T) {
	r, got := fakeRun(t, 8)
	for i := 0; i < 4; i++ {
		r.fakeSend(t0.Add(time.Duration(i) * time.Millisecond))
	}
	r.handle(reply(3, t0.Add(10*time.Millisecond))) // reordered
	r.handle(reply(1, t0.Add(11*time.Millisecond)))
	r.handle(reply(1, t0.Add(12*time.Millisecond))) // duplicate
	r.handle(reply(9, t0.Add(12*time.Millisecond))) // never sent
	r.expire(t0.Add(r.opts.Timeout + 5*time.Millisecond))
	r.handle(reply(2, t0.Add(r.opts.Timeout+6*time.Millisecond))) // late
	r.handle(reply(4, t0.Add(r.opts.Timeout+6*time.Millisecond))) // late too

	type want struct {
		seq       int
		kind      oam.ResultKind
		dup, late bool
		rtt       time.Duration
	}
	wants := []want{
		{3, oam.KindReply, false, false, 8 * time.Millisecond},
		{1, oam.KindReply, false, false, 11 * time.Millisecond},
		{1, oam.KindReply, true, false, 12 * time.Millisecond},
		{2, oam.KindTimeout, false, false, 0},
		{4, oam.KindTimeout, false, false, 0},
		{2, oam.KindReply, false, true, r.opts.Timeout + 5*time.Millisecond},
		{4, oam.KindReply, false, true, r.opts.Timeout + 3*time.Millisecond},
	}
	if len(*got) != len(wants) {
		t.Fatalf("%d results, want %d: %+v", len(*got), len(wants), *got)
	}
	for i, w := range wants {
		g := (*got)[i]
		if g.Seq != w.seq || g.Kind != w.kind || g.Duplicate != w.dup || g.Late != w.late || g.RTT != w.rtt {
			t.Errorf("result %d: %+v, want %+v", i, g, w)
		}
	}
	s := r.summary
	if s.Transmitted != 4 || s.Received != 2 || s.Duplicates != 1 || s.Late != 2 || s.Loss() != 50 {
		t.Errorf("summary %+v", s)
	}
	if s.RTT.Min != 8*time.Millisecond || s.RTT.Max != 11*time.Millisecond || s.RTT.Avg != 9500*time.Microsecond || s.RTT.Mdev != 1500*time.Microsecond {
		t.Errorf("rtt stats %v/%v/%v/%v", s.RTT.Min, s.RTT.Avg, s.RTT.Max, s.RTT.Mdev)
	}
}

// TestMatchingWraps: sequence numbers are 16 bits on the wire; a run longer than 65535 probes
// still matches the latest probe with that number, and one older than the window is ignored.
func TestMatchingWraps(t *testing.T) {
	r, got := fakeRun(t, 16)
	r.next = 65530
	r.oldest = 65530
	var seqs []int
	for i := 0; i < 10; i++ {
		seqs = append(seqs, r.fakeSend(t0))
	}
	last := seqs[len(seqs)-1] // 65539, 3 on the wire
	r.handle(reply(last, t0.Add(time.Millisecond)))
	if len(*got) != 1 || (*got)[0].Seq != last {
		t.Fatalf("wrapped reply matched %+v, want seq %d", *got, last)
	}
	r.handle(reply(65529, t0)) // before this run's window
	if len(*got) != 1 {
		t.Errorf("reply older than the window matched: %+v", (*got)[1:])
	}
}

func TestErrorThenNothing(t *testing.T) {
	r, got := fakeRun(t, 8)
	r.fakeSend(t0)
	ev := probes.Match{Seq: 1, From: netip.MustParseAddr("fd00::2"), Time: t0.Add(time.Millisecond), Type: 1, Code: 0,
		QuotedDst: netip.MustParseAddr("fc00:0:3::e1"), QuotedSRH: true, QuotedSL: 1}
	r.handle(ev)
	r.advance()
	if len(*got) != 1 || (*got)[0].Kind != oam.KindError || (*got)[0].Error != "Destination unreachable: No route" ||
		(*got)[0].At.Index != 1 || (*got)[0].At.SID != netip.MustParseAddr("fc00:0:3::e1") || r.summary.Errors != 1 || r.oldest != 2 {
		t.Fatalf("%+v, summary %+v, oldest %d", *got, r.summary, r.oldest)
	}
}

func TestOptionsErrorsNameTheField(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Count: -1}, "count"},
		{Options{HopLimit: 300}, "hop limit"},
		{Options{FlowLabel: 1 << 20}, "flow label"},
		{Options{Window: maxWindow + 1}, "window"},
		{Options{PayloadSize: 70000}, "payload size"},
	} {
		if _, err := c.o.withDefaults(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error about %s", c.o, err, c.want)
		}
	}
}
