package main

import (
	"github.com/urfave/cli/v2"

	s6cli "github.com/srv6oam/srv6oam/cmd/internal/cli"
)

// flags are every flag of srv6-trace, in --help's order.
func flags() []cli.Flag {
	return append(append(append([]cli.Flag{
		&cli.StringFlag{Name: "segs", Usage: s6cli.SegsUsage},
	}, s6cli.EncodingFlags()...), []cli.Flag{
		&cli.IntFlag{Name: "q", Value: 3, Usage: "`NQUERIES` probes per hop (1-10)"},
		&cli.StringFlag{Name: "w", Value: "2,3,10", Usage: "how long to wait for a probe, as traceroute: `MAX[,HERE,NEAR]`: at most MAX seconds, at most HERE times the round trip of an answer from the same hop, NEAR times that of a farther hop (0: that rule off)"},
		&cli.IntFlag{Name: "m", Value: 30, Usage: "`MAX_HOPS`: the largest hop limit probed"},
		&cli.IntFlag{Name: "f", Value: 1, Usage: "`FIRST_HOP`: the hop limit to start from"},
		&cli.BoolFlag{Name: "v", Usage: "under each hop, the packet its ICMPv6 error quoted, decoded header by header (outer IPv6, Hop-by-Hop options, the SRH's segments, Segments Left and TLVs, inner headers); with --json a quote object per probe"},
		&cli.BoolFlag{Name: "n", Usage: "print addresses only: no reverse DNS, and --expect names only from --topology"},
		&cli.StringFlag{Name: "F", Usage: "flow `LABEL` in hex (20 bits) of the probes; with --ecmp the first flow"},
		&cli.Float64Flag{Name: "z", Usage: "`SECONDS` between consecutive probes (0: back to back; see ICMPv6 rate limits in docs/srv6-trace.md)"},
		&cli.BoolFlag{Name: "no-retry", Usage: "do not probe silent hops a second time after 1.1 s, and with --ecmp do not ask silent flows again (the retry gets answers from routers that rate-limit ICMPv6 errors)"},
		&cli.StringFlag{Name: "I", Usage: "source `ADDRESS` or INTERFACE name to send from"},
		&cli.BoolFlag{Name: "ecmp", Usage: "find every equal-cost branch by varying the flow label (MDA stopping rule, 95% confidence) and print them as a tree"},
		&cli.IntFlag{Name: "max-flows", Value: 256, Usage: "--ecmp: at most `N` flow labels (6-4096)"},
		&cli.BoolFlag{Name: "per-segment", Usage: "probe each prefix of the segment list with a loop-back echo: which segments are alive and their round trip"},
		&cli.BoolFlag{Name: "timestamps", Usage: "--per-segment: then send timestamped probes along the whole list and print each segment's one-way delay (median, p99) from srv6-agent's End.OAM SIDs; every segment, the destination included, must be a SID that sends the probe on"},
		&cli.BoolFlag{Name: "shared-clock", Usage: "--timestamps and --ioam: every node reads this host's clock (a lab of namespaces): no synchronisation needed, no error bound"},
		&cli.IntFlag{Name: "timestamp-count", Value: 10, Usage: "--timestamps: `N` timestamped probes (1-1000)"},
		&cli.BoolFlag{Name: "agent-nexthops", Usage: "then ask srv6-agent on every SID node (End.OAM SIDs) for its FIB next hops toward the next segment and print them under the SID, with --ecmp next to the branches MDA found; needs --segs"},
		&cli.StringFlag{Name: "expect", Usage: "`HOPS` every path must take, comma-separated in printed order, destination last; a HOP is a name or address, a/b means either; exit 1 with a diff when a path differs"},
		&cli.StringFlag{Name: "topology", Usage: "srv6-testnet `TOPOLOGY` (bundled name or YAML file) whose node names label hops, name SID behaviours and may be used in --expect"},
		&cli.StringFlag{Name: "lab", Usage: "running srv6-testnet `LAB` whose node names and SIDs label hops and may be used in --expect (default: the lab this command runs in, if any; --lab '' for none)"},
		&cli.BoolFlag{Name: "pt", Usage: "SRv6 Path Tracing: send -q probes along the segment list, to DESTINATION (a SID that sends them on) and back here, each with an empty MCD stack; print, per probe, every PT midpoint's outgoing interface, load and time (srv6-agent --pt, or a router's own; docs/per-hop.md)"},
		&cli.IntFlag{Name: "pt-template", Value: 3, Usage: "--pt: the midpoints' timestamp `TEMPLATE`, 1-4 (256 ns, 4.096 µs, 65.536 µs, 1.048576 ms units; an MCD does not say which)"},
		&cli.IntFlag{Name: "pt-mcds", Value: 12, Usage: "--pt: `N` MCDs to pre-allocate (1-85; 12 is what hardware and Linux's PT kernel expect)"},
		&cli.StringFlag{Name: "pt-names", Usage: "--pt: name interface ids: `ID=NAME,...`, e.g. 0x12=r1:to-r2"},
		&cli.BoolFlag{Name: "report", Usage: "as mtr -r: trace -c rounds (default 10), one probe per hop per round (with --ecmp one per branch found), then print each hop's loss, last, average, best, worst and standard deviation"},
		&cli.BoolFlag{Name: "live", Usage: "as mtr: a full-screen table that keeps probing and updates in place (keys: q quit, p pause, r reset, d display, n names, ? help); plain lines after every round when stdout is not a terminal"},
		&cli.IntFlag{Name: "c", Usage: "--report and --live: `ROUNDS` (0: until interrupted)", DefaultText: "10 with --report, 0 with --live"},
		&cli.Float64Flag{Name: "i", Value: 1, Usage: "--report and --live: `SECONDS` between the starts of two rounds"},
		&cli.BoolFlag{Name: "pmtu", Usage: "path MTU per segment: probes padded from the route's MTU down, by the Packet Too Big of the hop that cannot forward them (which names the segment), and by a binary search where a hop drops them silently; then what a policy over these SIDs leaves to the packets it carries"},
		&cli.IntFlag{Name: "pmtu-max", Usage: "--pmtu: the largest probe, in `BYTES` (1280-65535)", DefaultText: "the route's MTU"},
		&cli.BoolFlag{Name: "json", Usage: "print one JSON document at the end instead of text (docs/json.md)"},
		&cli.PathFlag{Name: "pcap", Usage: "write every packet sent and received to `FILE` (pcap, link type RAW)"},
	}...), s6cli.IOAMFlags()...)
}
