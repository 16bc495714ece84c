package trace

import (
	"context"
	"errors"
	"fmt"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes/delay"
)

// OneWay is what timestamped probes (probes/delay) measured along the whole segment list, for
// srv6-trace --per-segment --timestamps.
type OneWay struct {
	// Summary has one segment per SID of the path (Segments[i] ends at the path's i-th SID:
	// src→first SID, then SID→SID) and, last, the return from the final SID to the prober.
	Summary delay.Summary
	// Results are the probes, in order.
	Results []delay.Result
	Points  []collect.Point
}

// Segment returns the one-way statistics of the segment that ends at path index i; i equal to
// the path's length is the return to the prober. ok is false when there is none.
func (w *OneWay) Segment(i int) (collect.SegmentSummary, bool) {
	if w == nil || i < 0 || i >= len(w.Summary.Segments) {
		return collect.SegmentSummary{}, false
	}
	return w.Summary.Segments[i], true
}

// OneWayDelays sends opts.Count timestamped probes along target.Path() and back to the prober
// (delay.Prober), after which each segment has its one-way delay where both of its ends run
// srv6-agent with an End.OAM SID, and "missing" elsewhere. Every segment, the destination
// included, must be a SID that sends the probe onwards.
func OneWayDelays(ctx context.Context, target oam.Target, opts delay.Options) (*OneWay, error) {
	if len(target.Segments) == 0 {
		return nil, errors.New("timestamped probes need a segment list")
	}
	p, err := delay.New(ctx, target, opts)
	if err != nil {
		return nil, fmt.Errorf("timestamped probes: %w", err)
	}
	defer p.Close()
	w := &OneWay{Points: p.Points()}
	sum, err := p.Run(ctx, func(r delay.Result) { w.Results = append(w.Results, r) })
	if err != nil {
		return nil, fmt.Errorf("timestamped probes: %w", err)
	}
	w.Summary = sum
	return w, nil
}
