package cli

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
)

// DefaultIOAMType is the trace type --ioam asks for unless --ioam-type says otherwise: what
// every Linux hop fills (hop limit and node id, interface ids, receive time).
const DefaultIOAMType = "hop_limit_node_id,interfaces,timestamp_seconds,timestamp_fraction"

// IOAMFlags are the flags of an IOAM Pre-allocated Trace in probes, shared by srv6-ping and
// srv6-trace.
func IOAMFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "ioam", Usage: "carry an IOAM Pre-allocated Trace (RFC 9197, in a Hop-by-Hop header, RFC 9486) that every IOAM-enabled Linux hop fills, and print each hop's entry (docs/per-hop.md)"},
		&cli.UintFlag{Name: "ioam-namespace", Usage: "--ioam: the IOAM `NAMESPACE` id (0-65535; hops fill only namespaces they know: ip ioam namespace add ID)", DefaultText: "0, the default namespace"},
		&cli.StringFlag{Name: "ioam-type", Value: DefaultIOAMType, Usage: "--ioam: the trace `TYPE`: bit names or numbers, comma-separated, or 24 bits in hex (0xf00000); names: hop_limit_node_id, interfaces, timestamp_seconds, timestamp_fraction, transit_delay, namespace_data, queue_depth, checksum_complement, hop_limit_node_id_wide, interfaces_wide, namespace_data_wide, buffer_occupancy"},
		&cli.IntFlag{Name: "ioam-nodes", Value: 8, Usage: "--ioam: `N` entries to pre-allocate (a hop that finds no room sets the overflow flag)"},
		&cli.DurationFlag{Name: "ioam-clock-error", Usage: "--ioam: the IOAM hops' realtime clocks are synchronised to within ±`DURATION` (e.g. 50us with PTP): delays between hops are shown with that bound; unset, they are shown only with --shared-clock", DefaultText: "unknown"},
	}
}

// IOAMFlagNames are the flags of IOAMFlags.
var IOAMFlagNames = []string{"ioam", "ioam-namespace", "ioam-type", "ioam-nodes", "ioam-clock-error"}

// ParseIOAM reads the IOAM flags: nil without --ioam, else the empty trace every probe carries,
// and what the user said of the hops' clocks.
func ParseIOAM(c *cli.Context) (*ioam.Trace, oam.EndClock, error) {
	if !c.Bool("ioam") {
		for _, n := range IOAMFlagNames[1:] {
			if c.IsSet(n) {
				return nil, oam.EndClock{}, fmt.Errorf("--%s needs --ioam", n)
			}
		}
		return nil, oam.EndClock{}, nil
	}
	ns := c.Uint("ioam-namespace")
	if ns > 0xffff {
		return nil, oam.EndClock{}, fmt.Errorf("--ioam-namespace %d: must be 0 to 65535", ns)
	}
	typ, err := ioam.ParseType(c.String("ioam-type"))
	if err != nil {
		return nil, oam.EndClock{}, fmt.Errorf("--ioam-type: %w", err)
	}
	if typ.NodeLen() == 0 {
		return nil, oam.EndClock{}, fmt.Errorf("--ioam-type %s: no field selected", c.String("ioam-type"))
	}
	n := c.Int("ioam-nodes")
	if most := ioam.MaxNodes(typ); n < 1 || n > most {
		return nil, oam.EndClock{}, fmt.Errorf("--ioam-nodes %d: an option of %d-octet entries holds 1 to %d", n, 4*typ.NodeLen(), most)
	}
	tr, err := ioam.NewTrace(uint16(ns), typ, n)
	if err != nil {
		return nil, oam.EndClock{}, fmt.Errorf("--ioam: %w", err)
	}
	var clock oam.EndClock
	if c.IsSet("ioam-clock-error") {
		d := c.Duration("ioam-clock-error")
		if d < 0 || d > time.Hour {
			return nil, oam.EndClock{}, fmt.Errorf("--ioam-clock-error %v: must be 0 to 1h", d)
		}
		clock = oam.EndClock{Known: true, Synchronised: true, Error: d}
	}
	return &tr, clock, nil
}
