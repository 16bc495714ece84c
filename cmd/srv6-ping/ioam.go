package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	s6cli "github.com/srv6oam/srv6oam/cmd/internal/cli"
	"github.com/srv6oam/srv6oam/cmd/internal/output"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/pathtrace"
)

// ioamRefused are the flags --ioam cannot be combined with, and why.
var ioamRefused = map[string]string{
	"encap":            "--ioam probes carry the SRH inserted in the echo request and come back to this host",
	"encap-red":        "--ioam probes carry the whole segment list in the SRH and come back to this host",
	"insert-red":       "--ioam probes carry the whole segment list in the SRH and come back to this host",
	"decap":            "--ioam probes come back to this host; they cannot end at a decapsulating SID",
	"sid-structure":    "--ioam probes carry whole SIDs",
	"oam":              "--ioam probes do not set the O-flag",
	"hmac-keyid":       "--ioam probes are not signed",
	"hmac-secret-file": "--ioam probes are not signed",
	"collector-port":   "that is a --timestamps option",
	"detect-mult":      "that is a --timestamps option",
	"up-mult":          "that is a --timestamps option",
	"linger":           "that is a --timestamps option",
	"names":            "that is a --timestamps option",
}

// runIOAM is srv6-ping --ioam: Echo Requests along the segment list, to DESTINATION (a SID
// that sends them on) and back here, each carrying an IOAM Pre-allocated Trace that every
// IOAM-enabled hop fills; every probe that comes back prints the whole trace.
func runIOAM(ctx context.Context, c *cli.Context, out io.Writer) error {
	for name, why := range ioamRefused {
		if c.IsSet(name) {
			return fail(fmt.Errorf("--%s cannot be used with --ioam: %s", name, why))
		}
	}
	target, structure, err := parseTarget(c)
	if err != nil {
		return fail(err)
	}
	if !structure.IsZero() {
		return fail(errors.New("--ioam with compressed --segs: the probe carries whole SIDs"))
	}
	if c.Bool("json-lines") {
		return fail(errors.New("--json-lines cannot be used with --ioam: use --json"))
	}
	tr, clock, err := s6cli.ParseIOAM(c)
	if err != nil {
		return fail(err)
	}
	opts := pathtrace.Options{IOAM: tr}
	if opts.Count = c.Int("c"); opts.Count < 0 {
		return fail(fmt.Errorf("-c %d: the count must be 0 or more", opts.Count))
	} else if opts.Count == 0 {
		opts.Count = math.MaxInt // until interrupted
	}
	iv := c.Float64("i")
	if iv <= 0 || iv > 3600 {
		return fail(fmt.Errorf("-i %v: with --ioam the interval must be more than 0 (no flood) and at most 3600 seconds", iv))
	}
	opts.Interval = time.Duration(iv * float64(time.Second))
	w := 2.0
	if c.IsSet("W") {
		w = c.Float64("W")
	}
	if w <= 0 || w > 3600 {
		return fail(fmt.Errorf("-W %v: the timeout must be more than 0 and at most 3600 seconds", w))
	}
	opts.Timeout = time.Duration(w * float64(time.Second))
	if s := c.Int("s"); s < 0 || s > pathtrace.MaxPayload {
		return fail(fmt.Errorf("-s %d: with --ioam the payload size must be 0 to %d", s, pathtrace.MaxPayload))
	}
	opts.PayloadSize = c.Int("s")
	if t := c.Int("t"); t < 1 || t > 255 {
		return fail(fmt.Errorf("-t %d: the hop limit must be 1 to 255", t))
	}
	opts.HopLimit = uint8(c.Int("t"))
	if opts.FlowLabel, err = s6cli.ParseFlowLabel(c.String("F")); err != nil {
		return fail(err)
	}
	if opts.Source, opts.Interface, err = s6cli.ParseSource(c.String("I")); err != nil {
		return fail(err)
	}
	closePcap, err := s6cli.OpenPcap("srv6-ping", c.Path("pcap"), &opts.Tap)
	if err != nil {
		return fail(err)
	}
	defer closePcap()
	offset, err := probes.TAIOffset()
	if err != nil {
		return fail(err)
	}
	opts.Identifier = uint16(os.Getpid())
	tracer, err := pathtrace.New(ctx, target, opts)
	if err != nil {
		return fail(err)
	}
	opts = tracer.Options()
	// Inside a srv6-testnet lab the nodes' names label their IOAM ids.
	names := &output.Names{NoDNS: true}
	_ = s6cli.LabelFrom(names, "", "", false)
	p := &output.IOAMPing{W: out, Target: target, Source: opts.Source, Timeout: opts.Timeout, Quiet: c.Bool("q"),
		IOAMView: output.IOAMView{Names: names, Trace: tr, Clock: clock, Shared: c.Bool("shared-clock"),
			Prober: probes.LocalClock().ClockEnd(), TAIOffset: offset}}
	jsonMode := c.Bool("json")
	if jsonMode {
		p.W = io.Discard
	}
	p.Header()
	sum, err := tracer.Run(ctx, func(r pathtrace.Result) { p.Result(&r) })
	if err != nil && !errors.Is(err, context.Canceled) {
		return fail(err)
	}
	if jsonMode {
		o := output.JSONIOAMPingOptions{Count: c.Int("c"), IntervalMS: oam.Millis(opts.Interval), TimeoutMS: oam.Millis(opts.Timeout),
			Namespace: tr.Namespace, TraceType: tr.Type.Names(), Nodes: len(tr.Data) / (4 * int(tr.NodeLen)), SharedClock: p.Shared}
		if clock.Known {
			v := oam.Millis(clock.Error)
			o.ClockErrorMS = &v
		}
		if err := s6cli.WriteJSON(out, p.Document(o, sum)); err != nil {
			return fail(err)
		}
	} else {
		p.Summary(sum)
	}
	if sum.Received > 0 {
		return nil
	}
	return cli.Exit("", exitNoReply)
}
