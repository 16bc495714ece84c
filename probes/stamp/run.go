package stamp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
)

// Options of a STAMP run. The zero value of a field means its default.
type Options struct {
	// Count of test packets; 0 sends until ctx is done.
	Count int
	// Interval between test packets; default 1s.
	Interval time.Duration
	// Timeout after which a test packet without reply is lost; default 2s.
	Timeout time.Duration
	// Port of the reflector; default 862.
	Port uint16
	// Size is the UDP payload of a test packet (44 to 1232; default 44).
	Size int
	// Source address; unspecified: the kernel's choice.
	Source netip.Addr
	// SharedClock says both ends read one clock (a lab on one host): one-way delays need no
	// synchronisation and carry no bound.
	SharedClock bool
	// Clock is this host's clock state for the test packets' error estimate; default
	// probes.LocalClock.
	Clock func() oam.ClockState
}

// MaxSize is the largest test packet: srv6-agent's reflector answers with a reply as long as
// the request and never sends one longer than 1232 bytes (an unfragmented datagram anywhere).
const MaxSize = 1232

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Count < 0:
		return o, fmt.Errorf("count %d: must be 0 (no limit) or more", o.Count)
	case o.Interval < 0:
		return o, fmt.Errorf("interval %v: must not be negative", o.Interval)
	case o.Timeout < 0:
		return o, fmt.Errorf("timeout %v: must not be negative", o.Timeout)
	case o.Size != 0 && (o.Size < oam.STAMPPacketSize || o.Size > MaxSize):
		return o, fmt.Errorf("size %d: the UDP payload must be %d to %d bytes", o.Size, oam.STAMPPacketSize, MaxSize)
	}
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Port == 0 {
		o.Port = oam.STAMPPort
	}
	if o.Size == 0 {
		o.Size = oam.STAMPPacketSize
	}
	if o.Clock == nil {
		o.Clock = probes.LocalClock
	}
	return o, nil
}

// Outcome is what became of one test packet: a reply, a loss (neither Reply nor Err), or an
// error the network reported on the socket (an ICMPv6 port or host unreachable).
type Outcome struct {
	Seq   uint32
	Reply *Result
	Err   error
	// Forward (sender → reflector) and Backward (reflector → sender) one-way delays of a
	// reply, judged by oam.OneWayDelay.
	Forward, Backward oam.OneWay
}

// OneWayState is the state of both one-way delays of a reply: measured only when both are.
func (o *Outcome) OneWayState() oam.DelayState {
	if o.Forward.State != oam.DelayMeasured {
		return o.Forward.State
	}
	return o.Backward.State
}

// Summary is a run's statistics.
type Summary struct {
	Transmitted, Received, Errors int
	// Unsynchronised and Negative count replies whose one-way delays are not believed.
	Unsynchronised, Negative      int
	RTT, Forward, Backward, Resid oam.StatsSummary
	// MaxBound is the largest error bound of a measured one-way delay.
	MaxBound time.Duration
	Start    time.Time
	Elapsed  time.Duration
}

// LossPercent is the share of test packets without a reply.
func (s *Summary) LossPercent() float64 {
	if s.Transmitted == 0 {
		return 0
	}
	return float64(s.Transmitted-s.Received) * 100 / float64(s.Transmitted)
}

// Sender is a prepared STAMP run: socket open, reflector known.
type Sender struct {
	opts      Options
	target    oam.Target
	client    *Client
	reflector netip.AddrPort
	ran       bool
}

// New checks the options and opens the Session-Sender's socket toward target.Destination's
// reflector, through target.Segments when there are any.
func New(target oam.Target, opts Options) (*Sender, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if target.Decap {
		return nil, errors.New("decap: the reflector answers at the destination, the final segment")
	}
	reflector := netip.AddrPortFrom(target.Destination, opts.Port)
	client, err := Dial(Config{Target: reflector, Segments: target.Segments, Source: opts.Source, Size: opts.Size, Clock: opts.Clock})
	if err != nil {
		return nil, err
	}
	return &Sender{opts: opts, target: target, client: client, reflector: reflector}, nil
}

// Options are the options with defaults filled in.
func (s *Sender) Options() Options { return s.opts }

// Reflector is where the test packets go.
func (s *Sender) Reflector() netip.AddrPort { return s.reflector }

// LocalAddr is the sender's address and port.
func (s *Sender) LocalAddr() netip.AddrPort { return s.client.LocalAddr() }

// Close releases the socket of a Sender that will not Run.
func (s *Sender) Close() error { return s.client.Close() }

// Run sends the test packets one at a time, hands each Outcome to emit as soon as it is known
// and returns the statistics when the count is done or ctx is (a test packet interrupted while
// waiting is sent, and neither answered nor lost). It closes the socket.
func (s *Sender) Run(ctx context.Context, emit func(Outcome)) (Summary, error) {
	if s.ran {
		return Summary{}, errors.New("stamp: Run called twice")
	}
	s.ran = true
	defer s.client.Close()
	// Ctrl-C interrupts a probe waiting for its reply: closing the socket ends the wait.
	stop := context.AfterFunc(ctx, func() { s.client.Close() })
	defer stop()
	var (
		sum                       Summary
		rtt, fwd, back, residence oam.Stats
		o                         = s.opts
	)
	sum.Start = time.Now()
	next := sum.Start
	for seq := uint32(1); o.Count == 0 || int(seq) <= o.Count; seq++ {
		if !sleepUntil(ctx, next) {
			break
		}
		sum.Transmitted++
		res, err := s.client.Probe(seq, time.Now().Add(o.Timeout))
		if ctx.Err() != nil {
			break // interrupted while waiting: sent, and neither answered nor lost
		}
		out := Outcome{Seq: seq}
		var errno syscall.Errno
		switch {
		case err == nil:
			out.Reply = &res
			out.Forward, out.Backward = Judge(&res, o.SharedClock)
			sum.Received++
			rtt.Add(res.RoundTrip())
			residence.Add(res.Residence())
			switch out.OneWayState() {
			case oam.DelayMeasured:
				fwd.Add(out.Forward.Delay)
				back.Add(out.Backward.Delay)
				sum.MaxBound = max(sum.MaxBound, out.Forward.Bound)
			case oam.DelayNegative:
				sum.Negative++
			default:
				sum.Unsynchronised++
			}
		case errors.Is(err, ErrTimeout):
		case errors.As(err, &errno):
			// An ICMPv6 error the kernel reported on the socket (port or host unreachable):
			// an error, as iputils counts them, and no reply.
			out.Err = errno
			sum.Errors++
		default:
			return sum, err
		}
		if emit != nil {
			emit(out)
		}
		next = next.Add(o.Interval)
		if now := time.Now(); next.Before(now) {
			next = now // the wait for a lost test packet outlasted the interval
		}
	}
	sum.RTT, sum.Forward, sum.Backward, sum.Resid = rtt.Summary(), fwd.Summary(), back.Summary(), residence.Summary()
	sum.Elapsed = time.Since(sum.Start)
	return sum, nil
}

// Judge decides, by oam.OneWayDelay's rule, what the forward and backward one-way delays of a
// reply are worth, from both ends' error estimates (shared: one clock for both ends).
func Judge(r *Result, shared bool) (forward, backward oam.OneWay) {
	sender := oam.EndClock{Known: true, Synchronised: r.SenderError.Synchronised(), Error: r.SenderError.Bound()}
	refl := oam.EndClock{Known: true, Synchronised: r.ReflectorSynchronised, Error: r.ReflectorError.Bound()}
	return oam.OneWayDelay(r.Forward(), sender, refl, shared), oam.OneWayDelay(r.Backward(), refl, sender, shared)
}

// Probe implements probes.ProbeFunc for STAMP.
var _ probes.ProbeFunc[Options, Outcome, Summary] = Probe

// Probe prepares and runs a STAMP session; see Sender.Run.
func Probe(ctx context.Context, target oam.Target, opts Options, emit func(Outcome)) (Summary, error) {
	s, err := New(target, opts)
	if err != nil {
		return Summary{}, err
	}
	return s.Run(ctx, emit)
}

// sleepUntil waits until t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
