// Command srv6-trace traces the routers an SRv6 segment list crosses, hop by hop, grouped by the
// segment being travelled; with --ecmp it enumerates equal-cost branches, with --per-segment it
// checks each segment's liveness, and with --expect it validates the path. See
// docs/srv6-trace.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/delay"
	"github.com/srv6oam/srv6oam/probes/trace"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

// Exit statuses: 0 traced (and --expect matched), 1 --expect did not match (or --per-segment
// found a segment down), 2 error.
const (
	exitOK       = 0
	exitMismatch = 1
	exitError    = 2
)

func main() {
	app := &cli.App{
		Name:                   "srv6-trace",
		Usage:                  "traceroute along an SRv6 segment list",
		UsageText:              "srv6-trace [options] [--segs SID,SID,...] DESTINATION",
		HideHelpCommand:        true,
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "segs", Usage: "comma-separated `SIDS` to visit before DESTINATION, in order"},
			&cli.BoolFlag{Name: "insert", Usage: "SRH inserted in the echo probe itself instead of H.Encaps (outer IPv6 + SRH, the default)"},
			&cli.IntFlag{Name: "q", Value: 3, Usage: "`NQUERIES` probes per hop (1-10)"},
			&cli.Float64Flag{Name: "w", Value: 2, Usage: "`SECONDS` to wait for answers after the last probe of a wave"},
			&cli.IntFlag{Name: "m", Value: 30, Usage: "`MAX_HOPS`: the largest hop limit probed"},
			&cli.IntFlag{Name: "f", Value: 1, Usage: "`FIRST_HOP`: the hop limit to start from"},
			&cli.BoolFlag{Name: "n", Usage: "print addresses only: no reverse DNS, and --expect names only from --topology"},
			&cli.StringFlag{Name: "F", Usage: "flow `LABEL` in hex (20 bits) of the probes; with --ecmp the first flow"},
			&cli.Float64Flag{Name: "z", Usage: "`SECONDS` between consecutive probes (default 0: back to back; see ICMPv6 rate limits in docs/srv6-trace.md)"},
			&cli.BoolFlag{Name: "no-retry", Usage: "do not probe silent hops a second time after 1.1 s (the retry gets answers from routers that rate-limit ICMPv6 errors)"},
			&cli.StringFlag{Name: "I", Usage: "source `ADDRESS` or INTERFACE name to send from"},
			&cli.BoolFlag{Name: "ecmp", Usage: "find every equal-cost branch by varying the flow label (MDA stopping rule, 95% confidence) and print them as a tree"},
			&cli.IntFlag{Name: "max-flows", Value: 256, Usage: "--ecmp: at most `N` flow labels (6-4096)"},
			&cli.BoolFlag{Name: "per-segment", Usage: "probe each prefix of the segment list with a loop-back echo: which segments are alive and their round trip"},
			&cli.BoolFlag{Name: "timestamps", Usage: "--per-segment: then send timestamped probes along the whole list and print each segment's one-way delay (median, p99) from srv6-agent's End.OAM SIDs; every segment, the destination included, must be a SID that sends the probe on"},
			&cli.BoolFlag{Name: "shared-clock", Usage: "--timestamps: every node reads this host's clock (a lab of namespaces): no synchronisation needed, no error bound"},
			&cli.IntFlag{Name: "timestamp-count", Value: 10, Usage: "--timestamps: `N` timestamped probes (1-1000)"},
			&cli.BoolFlag{Name: "agent-nexthops", Usage: "then ask srv6-agent on every SID node (End.OAM SIDs) for its FIB next hops toward the next segment and print them under the SID, with --ecmp next to the branches MDA found; needs --segs"},
			&cli.StringFlag{Name: "expect", Usage: "`HOPS` every path must take, comma-separated in printed order, destination last; a HOP is a name or address, a/b means either; exit 1 with a diff when a path differs"},
			&cli.StringFlag{Name: "topology", Usage: "srv6-testnet `TOPOLOGY` (bundled name or YAML file) whose node names label hops, name SID behaviours and may be used in --expect"},
			&cli.StringFlag{Name: "lab", Usage: "running srv6-testnet `LAB` whose node names and SIDs label hops and may be used in --expect (default: the lab this command runs in, if any; --lab '' for none)"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document at the end instead of text (docs/json.md)"},
			&cli.PathFlag{Name: "pcap", Usage: "write every packet sent and received to `FILE` (pcap, link type RAW)"},
		},
		Action:         run,
		ExitErrHandler: func(*cli.Context, error) {},
	}
	if err := app.Run(flagsFirst(app.Flags, os.Args)); err != nil {
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, "srv6-trace: "+msg)
			}
			os.Exit(ec.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "srv6-trace: "+err.Error())
		os.Exit(exitError)
	}
}

func fail(err error) error { return cli.Exit(err.Error(), exitError) }

func run(c *cli.Context) error {
	target, opts, encoding, err := parse(c)
	if err != nil {
		return fail(err)
	}
	names := &trace.Names{NoDNS: c.Bool("n")}
	if err := labelFrom(names, c.String("topology"), c.String("lab"), c.IsSet("lab")); err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var expect *trace.Expectation
	if c.IsSet("expect") {
		hops, err := trace.ParseExpectation(c.String("expect"))
		if err != nil {
			return fail(err)
		}
		if expect, err = trace.Resolve(ctx, hops, names); err != nil {
			return fail(err)
		}
	}
	if path := c.Path("pcap"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fail(fmt.Errorf("--pcap: %w", err))
		}
		defer f.Close()
		tap, err := probes.NewPcapTap(f)
		if err != nil {
			return fail(fmt.Errorf("--pcap %s: %w", path, err))
		}
		opts.Tap = tap
	}
	out := os.Stdout
	printer := &trace.Printer{W: out, Names: names}
	jsonMode := c.Bool("json")

	if c.Bool("per-segment") {
		start := time.Now()
		status, src, err := trace.PerSegment(ctx, target, opts)
		if err != nil {
			return fail(err)
		}
		var oneWay *trace.OneWay
		if c.Bool("timestamps") {
			if oneWay, err = trace.OneWayDelays(ctx, target, delayOptions(c, opts, src)); err != nil {
				return fail(err)
			}
		}
		var nextHops []trace.NodeNextHops
		var nextHopsErr error
		if opts.AgentNextHops {
			o := opts
			o.Source = src
			// An error here keeps the per-segment results: printed with them, one line.
			nextHops, nextHopsErr = trace.AgentNextHops(ctx, target, o)
		}
		alive := true
		for _, s := range status {
			alive = alive && s.Alive
		}
		if jsonMode {
			doc := trace.NewJSONPerSegmentOneWay(ctx, target, withDefaults(opts), encoding, src.String(), status, oneWay, names,
				time.Since(start), len(status)*opts.Queries)
			if nextHops != nil {
				doc.AgentNextHops = trace.NewJSONNextHops(nextHops, nil)
			}
			if nextHopsErr != nil {
				doc.AgentNextHopsError = nextHopsErr.Error()
			}
			if err := writeJSON(doc); err != nil {
				return fail(err)
			}
		} else {
			printer.PerSegmentOneWay(ctx, target, status, oneWay)
			if nextHops != nil || nextHopsErr != nil {
				printer.PerSegmentNextHops(nextHops, nextHopsErr)
			}
			if oneWay == nil {
				fmt.Fprintln(out, "(one-way delay per segment: --timestamps, where the nodes run srv6-agent with End.OAM SIDs)")
			}
		}
		if !alive {
			return cli.Exit("", exitMismatch)
		}
		return nil
	}

	if opts.ECMP && !jsonMode && isTerminal(out) {
		opts.Progress = func(p trace.Progress) {
			fmt.Fprintf(out, "\r\033[Kprobing: %d flows, %d probes sent, %d answered", p.Flows, p.Probes, p.Answers)
		}
	}
	tracer, err := trace.New(ctx, target, opts)
	if err != nil {
		return fail(err)
	}
	opts = tracer.Options()
	if !jsonMode {
		printer.Header(target, opts)
	}
	rep, err := tracer.Run(ctx)
	if opts.Progress != nil {
		fmt.Fprint(out, "\r\033[K")
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return fail(err)
	}
	var verdict *trace.Validation
	if expect != nil {
		verdict = expect.Check(ctx, rep, names)
	}
	if jsonMode {
		if err := writeJSON(trace.NewJSONDocument(ctx, rep, opts, encoding, names, verdict)); err != nil {
			return fail(err)
		}
	} else {
		printer.Report(ctx, rep)
	}
	if verdict != nil {
		if !verdict.OK {
			if !jsonMode {
				verdict.WriteDiff(out)
			}
			return cli.Exit("", exitMismatch)
		}
		if !jsonMode {
			fmt.Fprintln(out, "path matches --expect")
		}
	}
	return nil
}

func writeJSON(doc any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// withDefaults fills the defaults the CLI relies on for printing.
func withDefaults(o trace.Options) trace.Options {
	if o.Wait == 0 {
		o.Wait = 2 * time.Second
	}
	return o
}

// isTerminal reports whether f is a terminal: the --ecmp progress line is for people only.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// parse turns flags and the argument into a target and options; errors name the flag.
func parse(c *cli.Context) (oam.Target, trace.Options, string, error) {
	var target oam.Target
	var opts trace.Options
	encoding := "encap"
	switch c.NArg() {
	case 0:
		return target, opts, "", errors.New("missing DESTINATION (usage: srv6-trace [options] [--segs SID,...] DESTINATION)")
	case 1:
	default:
		return target, opts, "", fmt.Errorf("one DESTINATION expected, got %q", c.Args().Slice())
	}
	dst, err := oam.ParseSegment(c.Args().First())
	if err != nil {
		return target, opts, "", fmt.Errorf("destination: %w", err)
	}
	target.Destination = dst
	if c.IsSet("segs") {
		segs, err := oam.ParseSegmentList(c.String("segs"))
		if err != nil {
			return target, opts, "", fmt.Errorf("--segs: %w", err)
		}
		if segs[len(segs)-1] == dst {
			segs = segs[:len(segs)-1]
		}
		target.Segments = segs
	}
	if c.Bool("insert") {
		opts.Encoding, encoding = probes.Insert, "insert"
	}
	if q := c.Int("q"); q < 1 || q > 10 {
		return target, opts, "", fmt.Errorf("-q %d: probes per hop must be 1 to 10", q)
	}
	opts.Queries = c.Int("q")
	if w := c.Float64("w"); w <= 0 || w > 60 {
		return target, opts, "", fmt.Errorf("-w %v: the wait must be more than 0 and at most 60 seconds", w)
	}
	opts.Wait = time.Duration(c.Float64("w") * float64(time.Second))
	if m := c.Int("m"); m < 1 || m > 255 {
		return target, opts, "", fmt.Errorf("-m %d: max hops must be 1 to 255", m)
	}
	opts.MaxHops = c.Int("m")
	if f := c.Int("f"); f < 1 || f > opts.MaxHops {
		return target, opts, "", fmt.Errorf("-f %d: the first hop must be 1 to max hops (%d)", f, opts.MaxHops)
	}
	opts.FirstHop = c.Int("f")
	if z := c.Float64("z"); z < 0 || z > 10 {
		return target, opts, "", fmt.Errorf("-z %v: the send interval must be 0 to 10 seconds", z)
	}
	opts.SendInterval = time.Duration(c.Float64("z") * float64(time.Second))
	if f := c.String("F"); f != "" {
		v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(f), "0x"), 16, 32)
		if err != nil || v > 0xfffff {
			return target, opts, "", fmt.Errorf("-F %s: the flow label is a hex number of at most 20 bits (0 to fffff)", f)
		}
		opts.FlowLabel = uint32(v)
	}
	if i := c.String("I"); i != "" {
		if a, err := netip.ParseAddr(i); err == nil {
			if !a.Is6() || a.Is4In6() {
				return target, opts, "", fmt.Errorf("-I %s: the source must be an IPv6 address or an interface name", i)
			}
			opts.Source = a
		} else {
			if _, err := net.InterfaceByName(i); err != nil {
				return target, opts, "", fmt.Errorf("-I %s: neither an IPv6 address nor an interface of this host", i)
			}
			opts.Interface = i
		}
	}
	opts.NoRetry = c.Bool("no-retry")
	opts.AgentNextHops = c.Bool("agent-nexthops")
	if opts.AgentNextHops && len(target.Segments) == 0 {
		return target, opts, "", errors.New("--agent-nexthops needs --segs: the agents are asked at SIDs of the segment list")
	}
	opts.ECMP = c.Bool("ecmp")
	if mf := c.Int("max-flows"); mf < 6 || mf > 4096 {
		return target, opts, "", fmt.Errorf("--max-flows %d: must be 6 to 4096", mf)
	}
	opts.MaxFlows = c.Int("max-flows")
	if c.Bool("per-segment") && (opts.ECMP || c.IsSet("expect")) {
		return target, opts, "", errors.New("--per-segment probes segments, not hops: it cannot be combined with --ecmp or --expect")
	}
	if c.Bool("timestamps") && !c.Bool("per-segment") {
		return target, opts, "", errors.New("--timestamps needs --per-segment")
	}
	for _, name := range []string{"shared-clock", "timestamp-count"} {
		if c.IsSet(name) && !c.Bool("timestamps") {
			return target, opts, "", fmt.Errorf("--%s needs --timestamps", name)
		}
	}
	if n := c.Int("timestamp-count"); n < 1 || n > 1000 {
		return target, opts, "", fmt.Errorf("--timestamp-count %d: must be 1 to 1000", n)
	}
	// With --timestamps the destination is a SID the probes pass through (End.OAM): Linux
	// answers no echo addressed to a SID, so its liveness is probed with a loop too.
	opts.LoopDestination = c.Bool("timestamps")
	if c.Bool("per-segment") && len(target.Segments) == 0 {
		return target, opts, "", errors.New("--per-segment needs --segs")
	}
	return target, opts, encoding, nil
}

// flagsFirst moves arguments that are not flags after the flags, so that "srv6-trace DEST -n"
// works as it does with traceroute (urfave/cli stops at the first argument that is not a flag).
func flagsFirst(flags []cli.Flag, args []string) []string {
	takesNoValue := map[string]bool{"h": true, "help": true}
	for _, f := range flags {
		if _, ok := f.(*cli.BoolFlag); ok {
			for _, n := range f.Names() {
				takesNoValue[n] = true
			}
		}
	}
	var opts, rest []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			rest = append(rest, a)
			continue
		}
		opts = append(opts, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") || takesNoValue[name] {
			continue
		}
		if i+1 < len(args) {
			i++
			opts = append(opts, args[i])
		}
	}
	out := append([]string{args[0]}, opts...)
	if len(rest) > 0 {
		out = append(append(out, "--"), rest...)
	}
	return out
}

// delayOptions are the timestamped probes' options of --timestamps: --timestamp-count probes
// 10 ms apart from the source the loop-back probes used, each lost after -w.
func delayOptions(c *cli.Context, opts trace.Options, src netip.Addr) delay.Options {
	return delay.Options{
		Count:       c.Int("timestamp-count"),
		Interval:    10 * time.Millisecond,
		Timeout:     opts.Wait,
		FlowLabel:   opts.FlowLabel,
		Source:      src,
		Interface:   opts.Interface,
		SharedClock: c.Bool("shared-clock"),
		Tap:         opts.Tap,
	}
}
