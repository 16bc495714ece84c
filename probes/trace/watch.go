package trace

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/delay"
)

// Watching a path as mtr does: a trace every interval with one probe per hop, each hop's loss
// and round trips accumulated over the rounds. With ECMP the branches are found once, before
// the first round, and each is then traced with a flow label that took it (Paris traceroute's
// rule: a constant flow label keeps a probe on one branch), so every branch has its own rows,
// loss and round trips.

// WatchOptions configure a Watch.
type WatchOptions struct {
	// Options are each round's: Queries is 1, NoRetry is set (the next round is the retry)
	// and a probe is lost only after Wait (WaitHere and WaitNear are off); with ECMP the
	// branches are found once, before the first round, with the options as given.
	Options
	// Interval between the starts of two rounds; default 1s (mtr's). A round that takes longer
	// is followed by the next at once.
	Interval time.Duration
	// Count of rounds; 0 until ctx ends.
	Count int
	// History is how many recent round trips each hop keeps (HopStats.Recent); default 32.
	History int
	// OneWay, when set, runs timestamped probes (probes/delay) along the segment list beside
	// the rounds, for each segment's one-way delay (WatchState.OneWay): every segment a SID
	// that sends the probe on, End.OAM (srv6-agent) where a delay is wanted. Its Interval is
	// the rounds'; it sends until ctx ends.
	OneWay *delay.Options
}

// Lost marks a lost probe in HopStats.Recent.
const Lost time.Duration = -1

// End is how a path's latest round ended.
type End string

// Ends of a round.
const (
	EndReached     End = "reached"     // the destination answered
	EndUnreachable End = "unreachable" // an ICMPv6 error other than Time Exceeded ended the path
	EndMaxHops     End = "max_hops"    // every hop limit up to the maximum was probed, no answer from the destination
)

// HopStats is one hop of one path over the rounds.
type HopStats struct {
	TTL int
	// Segment is the index in the path of the segment being travelled (-1: unknown); SID says
	// the node at this hop processed SIDAddr; Destination that the destination answered here.
	Segment     int
	SID         bool
	SIDAddr     netip.Addr
	Destination bool
	// Hosts are the addresses that answered at this hop, in order of first answer.
	Hosts []netip.Addr
	// Sent and Received count this hop's probes.
	Sent, Received int
	// Last is the latest round trip (Lost when the latest probe was lost); Best and Worst over
	// the answered probes.
	Last, Best, Worst time.Duration
	// Recent are the latest round trips, oldest first, Lost for a lost probe.
	Recent []time.Duration
	// Error is the latest ICMPv6 error other than Time Exceeded ("Destination unreachable:
	// No route"), empty when none; ErrorType and ErrorCode are its type and code.
	Error                string
	ErrorType, ErrorCode uint8

	mean, m2 float64 // Welford's running mean and sum of squares, in nanoseconds
}

// Loss is the percentage of this hop's probes that went unanswered.
func (h *HopStats) Loss() float64 {
	if h.Sent == 0 {
		return 0
	}
	return 100 * float64(h.Sent-h.Received) / float64(h.Sent)
}

// Avg is the mean round trip of the answered probes.
func (h *HopStats) Avg() time.Duration { return time.Duration(h.mean) }

// StDev is the standard deviation of the answered probes' round trips (mtr's StDev: of the
// population).
func (h *HopStats) StDev() time.Duration {
	if h.Received < 2 {
		return 0
	}
	return time.Duration(math.Sqrt(h.m2 / float64(h.Received)))
}

func (h *HopStats) add(p *Probe, history int) {
	h.Sent++
	rtt := Lost
	if p.Answered {
		rtt = p.RTT
		h.Received++
		if h.Received == 1 || rtt < h.Best {
			h.Best = rtt
		}
		h.Worst = max(h.Worst, rtt)
		d := float64(rtt) - h.mean
		h.mean += d / float64(h.Received)
		h.m2 += d * (float64(rtt) - h.mean)
		if !contains(h.Hosts, p.From) {
			h.Hosts = append(h.Hosts, p.From)
		}
		if p.Error != "" {
			h.Error, h.ErrorType, h.ErrorCode = p.Error, p.ICMPType, p.ICMPCode
		}
	}
	h.Last = rtt
	if len(h.Recent) == history {
		copy(h.Recent, h.Recent[1:])
		h.Recent = h.Recent[:history-1]
	}
	h.Recent = append(h.Recent, rtt)
}

// PathStats is one path (one flow label, one ECMP branch) over the rounds.
type PathStats struct {
	// Flow is the flow label its probes carry.
	Flow uint32
	// Hops up to the farthest the rounds reached.
	Hops []HopStats
	// End is how the latest round ended; Rounds counts the rounds of this path.
	End    End
	Rounds int
}

// WatchState is a Watch's state between rounds: a copy the caller owns.
type WatchState struct {
	Target oam.Target
	Source netip.Addr
	// Path is the segment list on the wire, the destination last.
	Path oam.SegmentList
	// Paths, one per flow label (ECMP: per branch found).
	Paths []PathStats
	// Rounds done (since the last Reset); Paused says rounds are not being sent.
	Rounds int
	Paused bool
	// Discovery is the ECMP discovery's report (nil without ECMP).
	Discovery *Report
	Start     time.Time
	// OneWay is what the timestamped probes measured so far (WatchOptions.OneWay), nil before
	// the first; its Segments[i] ends at Path[i], the last one is the return to the prober.
	// OneWayLast are the latest probe's segments; OneWayErr what stopped the probes.
	OneWay     *delay.Summary
	OneWayLast []collect.SegmentResult
	OneWayErr  string
}

// roundFunc runs one round of one path: a trace with flow label flow (ecmp: the discovery).
type roundFunc func(ctx context.Context, flow uint32, ecmp bool) (*Report, error)

// Watch traces a path again and again, as mtr does. Its methods are safe for concurrent use:
// a terminal UI resets or pauses it while Run goes on.
type Watch struct {
	target oam.Target
	opts   WatchOptions
	source netip.Addr
	round  roundFunc

	mu    sync.Mutex
	state WatchState
	kick  chan struct{}
}

// NewWatch checks the options and the source as New does; the rounds are traced by Run.
func NewWatch(ctx context.Context, target oam.Target, opts WatchOptions) (*Watch, error) {
	w, err := newWatch(target, opts)
	if err != nil {
		return nil, err
	}
	// The first round's tracer, prepared now, says what is wrong with the target (no route,
	// no source) before anything is printed.
	first, err := New(ctx, target, w.roundOptions(w.opts.FlowLabel, w.opts.ECMP))
	if err != nil {
		return nil, err
	}
	w.source = first.SourceAddr()
	w.opts.Source = w.source
	w.round = func(ctx context.Context, flow uint32, ecmp bool) (*Report, error) {
		t := first
		first = nil
		if t == nil || flow != w.opts.FlowLabel || ecmp != w.opts.ECMP {
			if t != nil {
				t.Close()
			}
			var err error
			if t, err = New(ctx, target, w.roundOptions(flow, ecmp)); err != nil {
				return nil, err
			}
		}
		return t.Run(ctx)
	}
	w.state.Source = w.source
	return w, nil
}

// NewWatchOn is NewWatch on the connections dial opens, one per round: the seam that lets a
// Watch run on a scripted network (probes/probetest). opts.Source must be set.
func NewWatchOn(dial func() probes.PacketConn, target oam.Target, opts WatchOptions) (*Watch, error) {
	w, err := newWatch(target, opts)
	if err != nil {
		return nil, err
	}
	w.source = opts.Source
	w.state.Source = opts.Source
	w.round = func(ctx context.Context, flow uint32, ecmp bool) (*Report, error) {
		t, err := NewOn(dial(), target, w.roundOptions(flow, ecmp))
		if err != nil {
			return nil, err
		}
		return t.Run(ctx)
	}
	return w, nil
}

func newWatch(target oam.Target, opts WatchOptions) (*Watch, error) {
	if opts.Interval == 0 {
		opts.Interval = time.Second
	}
	if opts.Interval < 0 || opts.Interval > time.Hour {
		return nil, fmt.Errorf("interval %v: must be more than 0 and at most 1h", opts.Interval)
	}
	if opts.Count < 0 {
		return nil, fmt.Errorf("count %d: must be 0 (until interrupted) or more", opts.Count)
	}
	if opts.History == 0 {
		opts.History = 32
	}
	if opts.History < 1 || opts.History > 4096 {
		return nil, fmt.Errorf("history %d: must be 1 to 4096", opts.History)
	}
	if opts.AgentNextHops {
		return nil, errors.New("watch: agent next hops are a one-time question, not a round's")
	}
	o, err := opts.Options.withDefaults()
	if err != nil {
		return nil, err
	}
	opts.Options = o // every round with the same identifier, first hop and limits
	w := &Watch{target: target, opts: opts, kick: make(chan struct{}, 1)}
	w.state = WatchState{Target: target, Path: target.Path()}
	return w, nil
}

// roundOptions are the options of one round of flow (ecmp: the discovery).
func (w *Watch) roundOptions(flow uint32, ecmp bool) Options {
	o := w.opts.Options
	o.FlowLabel, o.ECMP, o.Progress = flow, ecmp, nil
	if !ecmp {
		// One probe per hop, no retry (the next round is it), and a probe lost only after
		// -w MAX: the HERE and NEAR rules shorten a trace, but in rounds they would count a
		// late answer as loss, which is the figure a watch is for (mtr waits its timeout too).
		o.Queries, o.NoRetry = 1, true
		o.WaitHere, o.WaitNear = -1, -1
	}
	return o
}

// Options are the options in effect.
func (w *Watch) Options() WatchOptions { return w.opts }

// State returns a copy of the state.
func (w *Watch) State() WatchState {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.state
	s.Paths = make([]PathStats, len(w.state.Paths))
	for i, p := range w.state.Paths {
		p.Hops = append([]HopStats(nil), p.Hops...)
		for j := range p.Hops {
			h := &p.Hops[j]
			h.Hosts = append([]netip.Addr(nil), h.Hosts...)
			h.Recent = append([]time.Duration(nil), h.Recent...)
		}
		s.Paths[i] = p
	}
	if w.state.OneWay != nil {
		ow := *w.state.OneWay
		ow.Segments = append([]collect.SegmentSummary(nil), ow.Segments...)
		s.OneWay = &ow
	}
	s.OneWayLast = append([]collect.SegmentResult(nil), w.state.OneWayLast...)
	return s
}

// Reset forgets every hop's counters (mtr's r): the paths stay, the statistics start again.
func (w *Watch) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.state.Paths {
		p := &w.state.Paths[i]
		p.Hops, p.Rounds = nil, 0
	}
	w.state.Rounds = 0
}

// Pause stops (true) or resumes (false) the rounds; a round under way finishes.
func (w *Watch) Pause(paused bool) {
	w.mu.Lock()
	w.state.Paused = paused
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run traces the rounds until Count is done or ctx ends; after each round (all its paths)
// onRound, when not nil, gets the state. A round that ctx cut short is not counted. The error
// is ctx's, or what stopped a round (a send error, the route gone).
func (w *Watch) Run(ctx context.Context, onRound func(WatchState)) (err error) {
	w.mu.Lock()
	w.state.Start = time.Now()
	w.mu.Unlock()
	flows := []uint32{w.opts.FlowLabel}
	if w.opts.OneWay != nil {
		// The timestamped probes stop when the rounds do. With a count they are as many as the
		// rounds and end on their own once their last ones are resolved (up to their timeout):
		// the reports and returns of the last ones are awaited, not cut off and counted lost.
		octx, cancel := context.WithCancel(ctx)
		done := w.startOneWay(octx)
		defer func() {
			if w.opts.Count > 0 && err == nil {
				select {
				case <-done:
				case <-ctx.Done():
				}
			}
			cancel()
			<-done
		}()
	}
	if w.opts.ECMP {
		rep, err := w.round(ctx, w.opts.FlowLabel, true)
		if err != nil {
			return err
		}
		flows = flows[:0]
		for _, b := range rep.Branches {
			if len(b.Flows) > 0 {
				flows = append(flows, b.Flows[0])
			}
		}
		if len(flows) == 0 {
			flows = append(flows, w.opts.FlowLabel)
		}
		w.mu.Lock()
		w.state.Discovery = rep
		w.mu.Unlock()
	}
	w.mu.Lock()
	for _, f := range flows {
		w.state.Paths = append(w.state.Paths, PathStats{Flow: f})
	}
	w.mu.Unlock()
	next := time.Now()
	for done := 0; w.opts.Count == 0 || done < w.opts.Count; {
		if err := w.wait(ctx, next); err != nil {
			return err
		}
		if w.paused() {
			continue
		}
		next = time.Now().Add(w.opts.Interval)
		reps := make([]*Report, len(flows))
		for i, f := range flows {
			rep, err := w.round(ctx, f, false)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				return err
			}
			reps[i] = rep
		}
		w.mu.Lock()
		for i, rep := range reps {
			w.absorb(&w.state.Paths[i], rep)
		}
		w.state.Rounds++
		w.mu.Unlock()
		done++
		if onRound != nil {
			onRound(w.State())
		}
	}
	return nil
}

// startOneWay runs the timestamped probes, one per round (Count of them, or until ctx ends
// without one); the channel is closed when they stopped.
func (w *Watch) startOneWay(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	o := *w.opts.OneWay
	o.Count, o.Interval = w.opts.Count, w.opts.Interval
	if !o.Source.IsValid() {
		o.Source = w.source
	}
	go func() {
		defer close(done)
		p, err := delay.New(ctx, w.target, o)
		if err != nil {
			w.setOneWayErr(err)
			return
		}
		_, err = p.Run(ctx, func(r delay.Result) {
			sum := p.Summary()
			w.mu.Lock()
			w.state.OneWay = &sum
			w.state.OneWayLast = r.Segments
			w.mu.Unlock()
		})
		if err != nil && ctx.Err() == nil {
			w.setOneWayErr(err)
		}
	}()
	return done
}

func (w *Watch) setOneWayErr(err error) {
	w.mu.Lock()
	w.state.OneWayErr = "timestamped probes: " + err.Error()
	w.mu.Unlock()
}

func (w *Watch) paused() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state.Paused
}

// wait sleeps until next (or until Pause changes something), or until ctx ends.
func (w *Watch) wait(ctx context.Context, next time.Time) error {
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d := time.Until(next)
		if d <= 0 && !w.paused() {
			return nil
		}
		if w.paused() {
			d = time.Hour
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-w.kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// absorb adds one round's report of one path; called with w.mu held.
func (w *Watch) absorb(p *PathStats, rep *Report) {
	p.Rounds++
	switch {
	case rep.Reached:
		p.End = EndReached
	case endedByError(rep.Hops):
		p.End = EndUnreachable
	default:
		p.End = EndMaxHops
	}
	for _, h := range rep.Hops {
		for len(p.Hops) <= h.TTL-w.opts.FirstHop {
			p.Hops = append(p.Hops, HopStats{TTL: w.opts.FirstHop + len(p.Hops), Segment: -1})
		}
		hs := &p.Hops[h.TTL-w.opts.FirstHop]
		if h.Segment >= 0 {
			hs.Segment = h.Segment
		}
		if h.SID {
			hs.SID, hs.SIDAddr = true, h.SIDAddr
		}
		hs.Destination = hs.Destination || h.Destination
		for i := range h.Probes {
			hs.add(&h.Probes[i], w.opts.History)
		}
	}
}

// endedByError says an ICMPv6 error other than Time Exceeded answered the last hop.
func endedByError(hops []Hop) bool {
	if len(hops) == 0 {
		return false
	}
	for _, p := range hops[len(hops)-1].Probes {
		if p.Answered && p.Kind == oam.KindError && p.ICMPType != probes.ICMPv6TimeExceeded {
			return true
		}
	}
	return false
}
