package delay

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// TestMuxFailureStopsProbers: when the socket of returning probes fails, a running prober
// returns the error at its next wake-up (the failure is a closed channel the prober looks at,
// not an event a full Loop could drop), and the Mux attaches no more probers.
func TestMuxFailureStopsProbers(t *testing.T) {
	topo := &testnet.Topology{
		Name: "muxfail",
		Nodes: []testnet.Node{
			{Name: "h1", Loopbacks: []netip.Prefix{netip.MustParsePrefix("fc00:0:1::1/128")}},
			{Name: "r1", Loopbacks: []netip.Prefix{netip.MustParsePrefix("fc00:0:2::1/128")}},
		},
		Links: []testnet.Link{{A: "h1", B: "r1"}},
	}
	lab := labtest.UpTopology(t, topo)
	src := netip.MustParseAddr("fc00:0:1::1")
	target := oam.Target{Destination: netip.MustParseAddr("fc00:0:2::1")}
	var (
		mux *Mux
		p   *Prober
	)
	if err := lab.Exec("h1", func() (err error) {
		if mux, err = NewMux(MuxOptions{}); err != nil {
			return err
		}
		p, err = NewShared(context.Background(), mux, target, Options{Source: src, Interval: 10 * time.Millisecond})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mux.Close() })
	done := make(chan error, 1)
	go func() {
		_, err := p.Run(context.Background(), nil)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // Run is sending
	boom := errors.New("injected failure")
	mux.fail(boom)
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Fatalf("Run returned %v, want the injected failure", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s of the Mux failing")
	}
	err := lab.Exec("h1", func() error {
		_, err := NewShared(context.Background(), mux, target, Options{Source: src})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("attach after the failure: %v, want the failure", err)
	}
	if mux.Attached() != 0 {
		t.Errorf("%d probers attached after Run returned", mux.Attached())
	}
}
