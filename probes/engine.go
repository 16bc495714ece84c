package probes

import (
	"context"

	"github.com/srv6oam/srv6oam/oam"
)

// ProbeFunc is the shape every srv6oam prober has, after blackbox_exporter's ProbeFn: probe one
// target with one set of options until the prober's own end (a count, the end of the path) or
// until ctx is done, hand each Result to emit as soon as it is known, and return the run's
// Summary. emit is called from the goroutine that called the ProbeFunc, one Result at a time,
// so it needs no locking and may block (a slow emit delays the prober, it does not make it
// buffer without bound).
//
// A ProbeFunc owns every goroutine and socket it starts and has stopped and closed them all when
// it returns. An error means the probing itself could not run (no permission, no route to the
// first hop, bad options); what the network answered, losses included, is in the Results.
//
// Every engine has this shape with its own types: ping.Probe (oam.Result, oam.Summary),
// delay.Probe (a probe's per-segment one-way delays, the collector's summary), stamp.Probe
// (a STAMP round trip, its statistics), trace.Run (each hop-limited probe as it is answered or
// given up, the assembled report: plain or ECMP) and trace.RunPerSegment (each loop-back probe,
// the segments' statuses).
type ProbeFunc[Options, Result, Summary any] func(ctx context.Context, target oam.Target, opts Options, emit func(Result)) (Summary, error)

// Func is a ProbeFunc with its options bound, the form a table of jobs holds.
type Func[Result, Summary any] func(ctx context.Context, target oam.Target, emit func(Result)) (Summary, error)

// Bind binds options to a ProbeFunc.
func Bind[Options, Result, Summary any](f ProbeFunc[Options, Result, Summary], opts Options) Func[Result, Summary] {
	return func(ctx context.Context, target oam.Target, emit func(Result)) (Summary, error) {
		return f(ctx, target, opts, emit)
	}
}
