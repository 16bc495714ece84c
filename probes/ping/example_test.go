package ping_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/ping"
)

// Probe is a probes.ProbeFunc: bind it to options and it joins a table of jobs next to the
// other probers; results stream to emit as they come. (Needs CAP_NET_RAW and an SRv6 network,
// so the example is compiled, not run.)
func ExampleProbe() {
	target := oam.Target{
		Segments:    oam.SegmentList{netip.MustParseAddr("fc00:0:2::e"), netip.MustParseAddr("fc00:0:3::e1")},
		Destination: netip.MustParseAddr("fc00:0:4::1"),
	}
	job := probes.Bind(ping.Probe, ping.Options{Count: 5, Interval: 200 * time.Millisecond, Encoding: probes.Insert})

	summary, err := job(context.Background(), target, func(r oam.Result) {
		fmt.Printf("seq=%d %v from %v rtt %v\n", r.Seq, r.Kind, r.From, r.RTT)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // e.g. "first segment: no route to fc00:0:2::e (...)"
		return
	}
	fmt.Printf("%d transmitted, %d received, %.0f%% loss\n", summary.Transmitted, summary.Received, summary.Loss())
}
