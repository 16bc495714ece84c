package delay_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/delay"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// TestMuxBadAndDroppedReports sends a Mux's collector a datagram that is not a report, then
// good records for one attached prober before it started (nowhere to put them), then the same
// once it is on a Loop: the bad datagram is counted with its reason and costs the good ones
// nothing, the records the prober could not take are counted as dropped, none lost silently,
// and once started it takes them all.
func TestMuxBadAndDroppedReports(t *testing.T) {
	lab := labtest.UpTopology(t, line5("muxbad", 0, 0, 0))
	var (
		mux *delay.Mux
		p   *delay.Prober
	)
	if err := lab.Exec("h1", func() (err error) {
		if mux, err = delay.NewMux(delay.MuxOptions{}); err != nil {
			return err
		}
		p, err = delay.NewShared(context.Background(), mux, target, delay.Options{Source: h1})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(); mux.Close() })

	const good = 7
	var b oam.ReportBuilder
	b.Reset(2, oam.ClockState{Synchronised: true})
	for seq := uint32(1); seq <= good; seq++ {
		if !b.Add(&oam.ReportRecord{SID: sids["r1"], Session: p.Options().Session, Sequence: seq, TimestampNs: uint64(seq)}) {
			t.Fatalf("record %d does not fit", seq)
		}
	}
	send := func(datagrams ...[]byte) {
		t.Helper()
		err := lab.Exec("h1", func() error {
			c, err := net.DialUDP("udp6", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(h1, mux.CollectorPort())))
			if err != nil {
				return err
			}
			defer c.Close()
			for _, d := range datagrams {
				if _, err := c.Write(d); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wait := func(reports uint64) delay.MuxStats {
		var st delay.MuxStats
		for i := 0; i < 500; i++ { // the Mux reads on its own goroutine
			if st = mux.Stats(); st.Reports == reports && st.Records == good*(reports-1) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("mux stats %+v", st)
		return st
	}
	send([]byte("not a report"), b.Bytes())
	st := wait(2)
	if st.Reports != 2 || st.BadReports != 1 || st.BadReportError == "" {
		t.Errorf("reports %d, bad %d (%q): want 2 datagrams, 1 bad with its reason", st.Reports, st.BadReports, st.BadReportError)
	}
	if st.Records != good || st.Dropped != good || st.Unmatched != 0 {
		t.Errorf("before the prober started: records %d, dropped %d, unmatched %d: want %d routed and all of them counted as dropped",
			st.Records, st.Dropped, st.Unmatched, good)
	}
	// On a Loop (not running: nothing is sent), the prober's queue takes them.
	loop := probes.NewLoop[delay.Event]()
	defer loop.Close()
	if _, err := p.Start(loop, nil, nil); err != nil {
		t.Fatal(err)
	}
	send(b.Bytes())
	if st := wait(3); st.Records != 2*good || st.Dropped != good {
		t.Errorf("after it started: records %d, dropped %d: want %d and still %d", st.Records, st.Dropped, 2*good, good)
	}
}
