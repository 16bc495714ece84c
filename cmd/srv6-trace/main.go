// Command srv6-trace traces the routers an SRv6 segment list crosses, hop by hop, grouped by the
// segment being travelled; with --ecmp it enumerates equal-cost branches, with --per-segment it
// checks each segment's liveness, and with --expect it validates the path. See
// docs/srv6-trace.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	s6cli "github.com/srv6oam/srv6oam/cmd/internal/cli"
	"github.com/srv6oam/srv6oam/cmd/internal/output"

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
	exitMismatch = s6cli.ExitNo
	exitError    = s6cli.ExitError
)

func main() { s6cli.Main(newApp(), exitError) }

func newApp() *cli.App {
	return &cli.App{
		Name:                   "srv6-trace",
		Version:                s6cli.Version,
		Usage:                  "traceroute along an SRv6 segment list",
		UsageText:              "srv6-trace [options] [--segs SID,SID,...] DESTINATION\n\nOptions may also follow DESTINATION; short ones take their value attached too (-q1).",
		HideHelpCommand:        true,
		UseShortOptionHandling: true,
		Flags:                  flags(),
		Action:                 run,
	}
}

func fail(err error) error { return s6cli.Fail(err) }

func run(c *cli.Context) error {
	target, opts, encoding, err := parse(c)
	if err != nil {
		return fail(err)
	}
	names := &output.Names{NoDNS: c.Bool("n")}
	if err := s6cli.LabelFrom(names, c.String("topology"), c.String("lab"), c.IsSet("lab")); err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var expect *output.Expectation
	if c.IsSet("expect") {
		hops, err := output.ParseExpectation(c.String("expect"))
		if err != nil {
			return fail(err)
		}
		if expect, err = output.Resolve(ctx, hops, names); err != nil {
			return fail(err)
		}
	}
	closePcap, err := s6cli.OpenPcap("srv6-trace", c.Path("pcap"), &opts.Tap)
	if err != nil {
		return fail(err)
	}
	defer closePcap()
	out := os.Stdout
	printer := &output.TracePrinter{W: out, Names: names, IOAM: opts.IOAM != nil, Verbose: c.Bool("v")}
	jsonMode := c.Bool("json")

	if c.Bool("pt") {
		return runPT(ctx, c, target, opts)
	}
	if c.Bool("report") || c.Bool("live") {
		return runWatch(ctx, c, target, opts, encoding, names)
	}
	if c.Bool("pmtu") {
		return runPMTU(ctx, c, target, opts, encoding, names)
	}
	if c.IsSet("pmtu-max") {
		return fail(errors.New("--pmtu-max needs --pmtu"))
	}
	for _, name := range []string{"c", "i"} {
		if c.IsSet(name) {
			return fail(fmt.Errorf("-%s needs --report or --live", name))
		}
	}

	if c.Bool("per-segment") {
		s6cli.Warn("srv6-trace", probes.Preflight{Target: target, Encoding: opts.Encoding, Structure: opts.Structure,
			ReturnsToSelf: true, PerSegment: true, Interface: opts.Interface}.Check())
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
			doc := output.NewTracePerSegmentDocument(ctx, target, withDefaults(opts), encoding, src.String(), status, oneWay, names,
				time.Since(start), len(status)*opts.Queries)
			if nextHops != nil {
				doc.AgentNextHops = output.NewTraceNextHops(nextHops, nil)
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
	s6cli.Warn("srv6-trace", probes.Preflight{Target: target, Encoding: opts.Encoding, Structure: opts.Structure, Interface: opts.Interface}.Check())
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
	var verdict *output.Validation
	if expect != nil {
		verdict = expect.Check(ctx, rep, names)
	}
	if jsonMode {
		if err := writeJSON(output.NewTraceDocument(ctx, rep, opts, encoding, names, verdict)); err != nil {
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

func writeJSON(doc any) error { return s6cli.WriteJSON(os.Stdout, doc) }

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
	target, structure, err := s6cli.ParseTarget(c, "srv6-trace [options] [--segs SID,...] DESTINATION", c.Bool("decap"))
	if err != nil {
		return target, opts, "", err
	}
	if opts.Encoding, opts.Structure, err = s6cli.ParseEncoding(c, &target, structure); err != nil {
		return target, opts, "", err
	}
	encoding := opts.Encoding.String()
	if q := c.Int("q"); q < 1 || q > 10 {
		return target, opts, "", fmt.Errorf("-q %d: probes per hop must be 1 to 10", q)
	}
	opts.Queries = c.Int("q")
	if opts.Wait, opts.WaitHere, opts.WaitNear, err = s6cli.ParseWait(c.String("w")); err != nil {
		return target, opts, "", err
	}
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
	if opts.FlowLabel, err = s6cli.ParseFlowLabel(c.String("F")); err != nil {
		return target, opts, "", err
	}
	if opts.Source, opts.Interface, err = s6cli.ParseSource(c.String("I")); err != nil {
		return target, opts, "", err
	}
	opts.NoRetry = c.Bool("no-retry")
	opts.Quotes = c.Bool("v")
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
	if c.Bool("timestamps") && !c.Bool("per-segment") && !c.Bool("report") && !c.Bool("live") {
		return target, opts, "", errors.New("--timestamps needs --per-segment, --report or --live")
	}
	if c.IsSet("timestamp-count") && !c.Bool("timestamps") {
		return target, opts, "", errors.New("--timestamp-count needs --timestamps")
	}
	if c.IsSet("shared-clock") && !c.Bool("timestamps") && !c.Bool("ioam") {
		return target, opts, "", errors.New("--shared-clock needs --timestamps or --ioam")
	}
	if opts.IOAM, opts.IOAMClock, err = s6cli.ParseIOAM(c); err != nil {
		return target, opts, "", err
	}
	opts.IOAMSharedClock = c.Bool("shared-clock")
	if opts.IOAM != nil && c.Bool("per-segment") {
		return target, opts, "", errors.New("--ioam traces hops: it cannot be combined with --per-segment (each hop's error quotes the trace; per-segment probes are not answered by errors)")
	}
	if err := checkPT(c, target, opts); err != nil {
		return target, opts, "", err
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
	if c.Bool("timestamps") && (opts.Encoding.Reduced() || !opts.Structure.IsZero() || target.Decap) {
		return target, opts, "", errors.New("--timestamps needs every segment whole in the SRH and the probe back to this host: End.OAM finds its Probe TLV and slot there (not with --encap-red, --insert-red, --decap or compressed SIDs)")
	}
	return target, opts, encoding, nil
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
