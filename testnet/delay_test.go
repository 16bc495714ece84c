package testnet_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

func pair(delay time.Duration) *testnet.Topology {
	return &testnet.Topology{
		Name: "delay",
		Nodes: []testnet.Node{
			{Name: "a", Loopbacks: []netip.Prefix{netip.MustParsePrefix("fc00:0:1::1/128")}},
			{Name: "b", Loopbacks: []netip.Prefix{netip.MustParsePrefix("fc00:0:2::1/128")}},
		},
		Links: []testnet.Link{{A: "a", B: "b", Delay: delay}},
	}
}

type quantiles struct{ p50, p99, max time.Duration }

func (q quantiles) String() string { return fmt.Sprintf("p50 %v p99 %v max %v", q.p50, q.p99, q.max) }

func absQuantiles(d []time.Duration) quantiles {
	d = slices.Clone(d)
	for i := range d {
		if d[i] < 0 {
			d[i] = -d[i]
		}
	}
	slices.Sort(d)
	return quantiles{d[len(d)/2], d[len(d)*99/100], d[len(d)-1]}
}

// delayRound is one measurement: count datagrams at 1,000/s from a to b.
type delayRound struct {
	records   quantiles // |Applied - configured| by the relay's records
	witness   quantiles // |b's kernel rx time - a's send time - configured|
	truth     quantiles // |b's kernel rx time - record.Sent|
	early     int       // frames held less than the configured delay
	late      int       // frames beyond ±50 µs
	lateWake  int       // frames whose deadline passed before the kernel woke the relay
	ownErr    quantiles // |Applied - configured| of the frames woken ≥ 100 µs before their deadline: the relay's own precision
	matched   int       // records matched to the witness
	frames    int
	stats     testnet.DelayStats
	sendError error
}

func measureDelay(t *testing.T, lab *testnet.Lab, delay, spin time.Duration, count int) delayRound {
	t.Helper()
	var r delayRound
	before, err := lab.DelayStats("a", "b")
	if err != nil {
		t.Fatal(err)
	}
	witness := startCapture(t, lab, "b", "a")
	var fd int
	if err := lab.Exec("a", func() (err error) {
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrInet6{Port: 9, Addr: mustLoopback(t, lab, "b").As16()}
	tick := time.NewTicker(time.Millisecond)
	payload := make([]byte, 64)
	for seq := 0; seq < count; seq++ {
		<-tick.C
		binary.BigEndian.PutUint64(payload, uint64(seq)|uint64(time.Now().UnixNano())<<20)
		if err := unix.Sendto(fd, payload, 0, to); err != nil {
			r.sendError = fmt.Errorf("send %d: %w", seq, err)
			break
		}
	}
	tick.Stop()
	time.Sleep(3 * delay)
	witness.stop()

	recs, err := lab.DelayRecords("a", "b")
	if err != nil {
		t.Fatal(err)
	}
	r.stats, _ = lab.DelayStats("a", "b")
	recs = recs[len(recs)-int(r.stats.Frames-before.Frames):]
	r.frames = len(recs)
	var errs, own []time.Duration
	for _, rec := range recs {
		if rec.Configured != delay || rec.Applied != rec.Sent.Sub(rec.Received) {
			t.Fatalf("inconsistent record %+v", rec)
		}
		e := rec.Applied - delay
		if e < 0 {
			r.early++
		}
		if e > 50*time.Microsecond || e < -50*time.Microsecond {
			r.late++
			if os.Getenv("DELAY_DEBUG") != "" && r.late < 30 {
				t.Logf("late seq %d by %v: woke %v before due-spin, sent %v after waking", rec.Seq, e,
					rec.Received.Add(delay-spin).Sub(rec.Woke), rec.Sent.Sub(rec.Woke))
			}
		}
		errs = append(errs, e)
		switch deadline := rec.Received.Add(delay); {
		case rec.Woke.After(deadline):
			r.lateWake++
		case !rec.Woke.After(deadline.Add(-100 * time.Microsecond)):
			// Woken with at least 100 µs to spare: from here on the
			// timing is the relay's own doing.
			own = append(own, e)
		}
	}
	if len(errs) > 0 {
		r.records = absQuantiles(errs)
	}
	if len(own) > 0 {
		r.ownErr = absQuantiles(own)
	}
	byHash := map[uint64]testnet.DelayRecord{}
	for _, rec := range recs {
		byHash[rec.Hash] = rec
	}
	var wErrs, tErrs []time.Duration
	for i, p := range witness.packets {
		if len(p) < 41 || p[6] != unix.IPPROTO_UDP || witness.stamps[i].IsZero() {
			continue // our datagrams only: unique, unlike ND and MLD
		}
		rec, ok := byHash[testnet.PacketHash(p)]
		if !ok {
			continue
		}
		wErrs = append(wErrs, witness.stamps[i].Sub(rec.Received)-delay)
		tErrs = append(tErrs, witness.stamps[i].Sub(rec.Sent))
	}
	r.matched = len(wErrs)
	if len(wErrs) > 0 {
		r.witness, r.truth = absQuantiles(wErrs), absQuantiles(tErrs)
	}
	return r
}

// TestDelayLinkAccuracy sends 1,000 UDP datagrams per second over a 5 ms
// delay link for 2 s and checks, by the relay's own records and by an
// independent witness (the kernel receive timestamps of the same packets on
// b's interface):
//   - no frame is held less than the delay, nor dropped;
//   - the records agree with the witness within 50 µs at p99, so tests can
//     use them as ground truth;
//   - frames are held 5 ms ± 50 µs at p99.
//
// The last depends on how fast the kernel wakes the relay and lets it run,
// which on the project's 2 shared vCPUs varies by the minute: a SCHED_FIFO
// thread sleeping on a timerfd wakes 20 µs late at the median in quiet
// periods and 150 µs (p99 1.4 ms) in busy ones, and a vCPU the hypervisor
// takes away stalls even a spinning thread (docs/testnet.md; a CI run saw
// 21 of 2,005 frames late, 19 of them woken on time, max 745 µs). So each
// round asserts what noise cannot explain away: nothing dropped or early,
// records that agree with the witness, and the median error of the frames
// woken in time within 5 µs (a wrong deadline would shift it). A round that
// misses the p99 target is repeated, up to five rounds of 2 s; the test fails
// when every round missed and in none of them were 1% of the wake-ups late,
// and otherwise logs that the platform prevented it.
func TestDelayLinkAccuracy(t *testing.T) {
	const delay = 5 * time.Millisecond
	const count = 2000
	const maxRounds = 5
	spin := delaySpinForTest(t)
	lab := labtest.UpTopology(t, pair(delay), testnet.WithDelaySpin(spin))
	// Neighbours are static, so nothing waits for neighbour discovery;
	// one ping shows the link works before measuring.
	warm := false
	for i := 0; i < 5 && !warm; i++ {
		_, err := lab.Output(context.Background(), "a", "ping", "-6", "-n", "-q", "-c", "1", "-W", "2", mustLoopback(t, lab, "b").String())
		warm = err == nil
	}
	if !warm {
		t.Fatal("a cannot ping b over the delay link")
	}
	var rounds []string
	platform := 0 // rounds whose miss late wake-ups explain
	for round := 1; round <= maxRounds; round++ {
		r := measureDelay(t, lab, delay, spin, count)
		if r.sendError != nil {
			t.Fatal(r.sendError)
		}
		line := fmt.Sprintf("round %d: %d frames, %d beyond ±50µs, %d early, %d woken after their deadline; records |applied-delay| %v; on-time wakes %v; witness |delay-configured| %v; |witness rx - record.Sent| %v (%d matched)",
			round, r.frames, r.late, r.early, r.lateWake, r.records, r.ownErr, r.witness, r.truth, r.matched)
		t.Log(line)
		rounds = append(rounds, line)
		switch {
		case r.frames < count*99/100 || r.stats.Drops > 0 || r.stats.Errors > 0:
			t.Fatalf("round %d: %d frames relayed for %d sent; stats %+v", round, r.frames, count, r.stats)
		case r.early > 0:
			t.Fatalf("round %d: %d frames left before their delay", round, r.early)
		case r.matched < count*99/100:
			t.Fatalf("round %d: witness matched %d of %d frames to records", round, r.matched, count)
		case r.truth.p99 > 50*time.Microsecond:
			t.Fatalf("round %d: records are not ground truth: b received frames %v (p99) away from their record's Sent", round, r.truth.p99)
		case r.ownErr.p50 > 5*time.Microsecond:
			t.Fatalf("round %d: frames whose wake-up came in time missed the delay by %v at the median: the relay itself is imprecise", round, r.ownErr.p50)
		}
		if r.records.p99 <= 50*time.Microsecond && r.witness.p99 <= 50*time.Microsecond {
			return // the end-to-end target, met
		}
		if r.lateWake*100 >= r.frames {
			platform++ // at least 1% of the wake-ups came late: the platform's doing
		}
	}
	if platform == 0 {
		t.Fatalf("the p99 target was missed in all %d rounds although fewer than 1%% of the wake-ups were late in each:\n%s",
			maxRounds, strings.Join(rounds, "\n"))
	}
	t.Logf("the p99 target was missed in all %d rounds; in %d of them the kernel woke the relay's SCHED_FIFO thread after the deadline of more than 1%% of the frames (later than the %v spin margin). The relay's own precision held (median), the end-to-end ±50µs p99 target could not be met on this machine now:\n%s",
		maxRounds, platform, spin, strings.Join(rounds, "\n"))
}

// delaySpinForTest is the relay's spin margin for the accuracy test:
// $DELAY_SPIN (a duration) or the default.
func delaySpinForTest(t *testing.T) time.Duration {
	spin := testnet.DefaultDelaySpin
	if v := os.Getenv("DELAY_SPIN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("DELAY_SPIN: %v", err)
		}
		spin = d
	}
	t.Logf("relay spin margin %v", spin)
	return spin
}
