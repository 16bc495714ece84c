package delay_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/delay"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// TestMuxBadAndDroppedReports sends a Mux's collector a datagram that is not a report, then
// more good records for one attached prober than its buffer holds while the prober is not
// running: the bad datagram is counted with its reason and costs the good ones nothing, and
// every record the prober could not take is counted as dropped, none lost silently.
func TestMuxBadAndDroppedReports(t *testing.T) {
	lab := labtest.UpTopology(t, line5("muxbad", 0, 0, 0))
	const buffer = 4
	var (
		mux *delay.Mux
		p   *delay.Prober
	)
	if err := lab.Exec("h1", func() (err error) {
		if mux, err = delay.NewMux(delay.MuxOptions{Buffer: buffer}); err != nil {
			return err
		}
		p, err = delay.NewShared(context.Background(), mux, target, delay.Options{Source: h1})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(); mux.Close() })

	var b oam.ReportBuilder
	b.Reset(2, oam.ClockState{Synchronised: true})
	const good = buffer + 3
	for seq := uint32(1); seq <= good; seq++ {
		if !b.Add(&oam.ReportRecord{SID: sids["r1"], Session: p.Options().Session, Sequence: seq, TimestampNs: uint64(seq)}) {
			t.Fatalf("record %d does not fit", seq)
		}
	}
	err := lab.Exec("h1", func() error {
		c, err := net.DialUDP("udp6", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(h1, mux.CollectorPort())))
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte("not a report")); err != nil {
			return err
		}
		_, err = c.Write(b.Bytes())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var st delay.MuxStats
	for i := 0; i < 200; i++ { // the Mux reads on its own goroutine
		if st = mux.Stats(); st.Reports == 2 && st.Records+st.Dropped == good {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("mux stats %+v", st)
	if st.Reports != 2 || st.BadReports != 1 || st.BadReportError == "" {
		t.Errorf("reports %d, bad %d (%q): want 2 datagrams, 1 bad with its reason", st.Reports, st.BadReports, st.BadReportError)
	}
	if st.Records != buffer || st.Dropped != good-buffer || st.Unmatched != 0 {
		t.Errorf("records %d, dropped %d, unmatched %d: want %d delivered to the prober's buffer and %d counted as dropped",
			st.Records, st.Dropped, st.Unmatched, buffer, good-buffer)
	}
}
