package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/srv6oam/srv6oam/cmd/internal/output"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/trace"
)

// pmtuRefused are the flags --pmtu cannot be combined with, and why.
var pmtuRefused = map[string]string{
	"per-segment":    "--pmtu sends its probes along the whole list",
	"timestamps":     "that is a --per-segment option",
	"ecmp":           "--pmtu follows one flow label (-F); run it once per branch's flow label",
	"pt":             "--pt is a mode of its own",
	"report":         "--report is a mode of its own",
	"live":           "--live is a mode of its own",
	"expect":         "--expect checks a trace",
	"agent-nexthops": "the agents' next hops belong to a trace",
	"ioam":           "--ioam is shown by a trace",
}

// runPMTU is srv6-trace --pmtu: the path MTU, per segment.
func runPMTU(ctx context.Context, c *cli.Context, target oam.Target, opts trace.Options, encoding string, names *output.Names) error {
	for name, why := range pmtuRefused {
		if c.IsSet(name) {
			return fail(fmt.Errorf("--%s cannot be used with --pmtu: %s", name, why))
		}
	}
	max := c.Int("pmtu-max")
	if c.IsSet("pmtu-max") && (max < trace.MinMTU || max > 65535) {
		return fail(fmt.Errorf("--pmtu-max %d: must be %d (IPv6's minimum MTU) to 65535", max, trace.MinMTU))
	}
	if !c.IsSet("q") {
		opts.Queries = 2
	}
	rep, err := trace.PathMTU(ctx, target, trace.PMTUOptions{Options: opts, Max: max})
	if errors.Is(err, context.Canceled) {
		err = errors.New("interrupted")
	}
	if c.Bool("json") {
		src := ""
		if rep != nil {
			src = rep.Source.String()
		}
		if werr := writeJSON(output.NewTracePMTUDocument(ctx, rep, output.NewJSONTarget(target, encoding, src), names, err)); werr != nil {
			return fail(werr)
		}
	} else if rep != nil {
		(&output.TracePrinter{W: os.Stdout, Names: names}).PMTU(ctx, rep)
	}
	if err != nil {
		return fail(err)
	}
	if rep.PathMTU == 0 {
		return cli.Exit("", exitMismatch)
	}
	return nil
}
