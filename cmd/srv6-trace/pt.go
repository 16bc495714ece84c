package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/srv6oam/srv6oam/cmd/internal/output"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/pt"
	"github.com/srv6oam/srv6oam/probes/pathtrace"
	"github.com/srv6oam/srv6oam/probes/trace"
)

// ptFlags are the flags that only mean something with --pt.
var ptFlags = []string{"pt-template", "pt-mcds", "pt-names"}

// checkPT refuses what --pt cannot be combined with, and --pt-* without --pt.
func checkPT(c *cli.Context, target oam.Target, opts trace.Options) error {
	if !c.Bool("pt") {
		for _, f := range ptFlags {
			if c.IsSet(f) {
				return fmt.Errorf("--%s needs --pt", f)
			}
		}
		return nil
	}
	for _, f := range []string{"per-segment", "ecmp", "expect", "ioam", "timestamps", "agent-nexthops", "encap", "encap-red", "insert-red", "decap", "sid-structure", "m", "f"} {
		if c.IsSet(f) {
			return fmt.Errorf("--pt cannot be combined with -%s: Path Tracing probes go along the whole segment list and back to this host, the SRH in the probe itself, and are answered by no router", dash(f))
		}
	}
	if t := c.Int("pt-template"); !pt.Template(t).Valid() {
		return fmt.Errorf("--pt-template %d: want 1 to 4", t)
	}
	if n := c.Int("pt-mcds"); n < 1 || n > pt.MaxMCDs {
		return fmt.Errorf("--pt-mcds %d: want 1 to %d", n, pt.MaxMCDs)
	}
	if _, err := output.ParsePTNames(c.String("pt-names")); err != nil {
		return err
	}
	return nil
}

func dash(f string) string {
	if len(f) > 1 {
		return "-" + f
	}
	return f
}

// runPT is srv6-trace --pt.
func runPT(ctx context.Context, c *cli.Context, target oam.Target, topts trace.Options) error {
	names, _ := output.ParsePTNames(c.String("pt-names"))
	opts := pathtrace.Options{
		Count: topts.Queries, Timeout: topts.Wait, Interval: topts.SendInterval,
		MCDs: c.Int("pt-mcds"), Template: pt.Template(c.Int("pt-template")),
		Source: topts.Source, Interface: topts.Interface, FlowLabel: topts.FlowLabel, Tap: topts.Tap,
	}
	opts.Identifier, opts.Session = uint16(os.Getpid()), uint16(time.Now().UnixNano())|1
	tracer, err := pathtrace.New(ctx, target, opts)
	if err != nil {
		return fail(err)
	}
	opts = tracer.Options()
	p := &output.PTPrinter{W: os.Stdout, Names: names, Template: opts.Template}
	jsonMode := c.Bool("json")
	if !jsonMode {
		p.Header(target, opts.Source, opts)
	}
	var results []pathtrace.Result
	sum, err := tracer.Run(ctx, func(r pathtrace.Result) {
		if jsonMode {
			results = append(results, r)
			return
		}
		p.Result(&r, opts.Timeout)
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fail(err)
	}
	if jsonMode {
		return writeJSON(output.NewPTDocument(target, opts.Source, opts, results, sum, names))
	}
	p.Summary(sum)
	return nil
}
