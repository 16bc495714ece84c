package stamp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
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
	// Size is the UDP payload of a test packet (44 to 1232; default: 44, or what the TLVs
	// need). Options() gives the size the packets have.
	Size int
	// Source address; unspecified: the kernel's choice.
	Source netip.Addr
	// SharedClock says both ends read one clock (a lab on one host): one-way delays need no
	// synchronisation and carry no bound.
	SharedClock bool
	// Clock is this host's clock state for the test packets' error estimate; default
	// probes.LocalClock.
	Clock func() oam.ClockState
	// IOAM, when set, is the empty IOAM trace every test packet carries (Config.IOAM).
	IOAM *ioam.Trace
	// SSID is the Session-Sender Identifier of the test packets (Config.SSID; 0: none).
	SSID uint16
	// PTP sends PTPv2 timestamps instead of NTP's (Config.PTP).
	PTP bool
	// TLVs are the RFC 8972 / RFC 9503 TLVs of every test packet (Config.TLVs). With Size 0
	// the packet is as long as they need.
	TLVs oam.STAMPTLVRequest
	// OnSend, when set, is called (on Run's loop) for every test packet sent.
	OnSend func(seq uint32)
	// AuthKey runs the session in authenticated mode (Config.AuthKey).
	AuthKey []byte
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
	Unsynchronised, Negative int
	// Asymmetric counts replies whose size differs from the test packet's (Options.Size):
	// a reflector that pads or truncates, which RFC 8762's symmetrical mode does not expect.
	Asymmetric                    int
	RTT, Forward, Backward, Resid oam.StatsSummary
	// IntegrityFailures counts replies whose HMAC did not verify (authenticated mode): a
	// reflector with another key, or replies changed on the way. They count as lost.
	IntegrityFailures int
	// Directional says a stateful reflector returned Direct Measurement counts (RFC 8972
	// §4.5): ForwardLost test packets never reached it and BackwardLost of its replies never
	// came back, as of the last reply that carried them (later losses are in neither).
	Directional               bool
	ForwardLost, BackwardLost int
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
	client, err := Dial(Config{Target: reflector, Segments: target.Segments, Source: opts.Source, Size: opts.Size, Clock: opts.Clock, IOAM: opts.IOAM, SSID: opts.SSID, PTP: opts.PTP, TLVs: opts.TLVs, AuthKey: opts.AuthKey})
	if err != nil {
		return nil, err
	}
	if opts.Size = client.Size(); opts.Size > MaxSize {
		client.Close()
		return nil, fmt.Errorf("the TLVs asked for need %d bytes of UDP payload, more than %d", opts.Size, MaxSize)
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

// Run sends a test packet every Interval, hands each Outcome to emit as soon as it is known
// (replies in the order they come, a loss Timeout after its packet left) and returns the
// statistics when the count is done and every packet answered or lost, or when ctx is done (the
// packets then still waiting are neither answered nor lost). It closes the socket. The
// packets are a session on a probes.Loop; a reader goroutine hands it the socket's replies.
func (s *Sender) Run(ctx context.Context, emit func(Outcome)) (Summary, error) {
	if s.ran {
		return Summary{}, errors.New("stamp: Run called twice")
	}
	s.ran = true
	run := &session{s: s, emit: emit, next: 1}
	loop := probes.NewLoop[input]()
	h, err := loop.Add(run, nil)
	if err != nil {
		s.client.Close()
		return Summary{}, err
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		var in input
		for {
			in.err = s.client.Read(time.Time{}, &in.reply)
			if errors.Is(in.err, ErrNotReply) {
				continue
			}
			if errors.Is(in.err, net.ErrClosed) || !h.Deliver(&in) {
				return
			}
		}
	}()
	err = loop.Run(ctx, true)
	loop.Close()
	s.client.Close()
	<-read
	if err == nil {
		err = run.err
	}
	sum := run.sum
	sum.IntegrityFailures = s.client.IntegrityFailures()
	sum.RTT, sum.Forward, sum.Backward, sum.Resid = run.rtt.Summary(), run.fwd.Summary(), run.back.Summary(), run.residence.Summary()
	if !sum.Start.IsZero() {
		sum.Elapsed = time.Since(sum.Start)
	}
	return sum, err
}

// input is what the reader hands the session: a reply, or the error a read returned.
type input struct {
	reply Reply
	err   error
}

// session is a STAMP run as a probes.Session.
type session struct {
	s    *Sender
	emit func(Outcome)
	sum  Summary
	// rtt, fwd, back and residence accumulate the statistics of the replies.
	rtt, fwd, back, residence oam.Stats
	next                      uint32    // the next sequence to send
	plan                      time.Time // when it is due
	// waiting are the packets sent and neither answered nor lost, in sequence order.
	waiting []waiting
	// loss turns Direct Measurement counts into losses per direction.
	loss LossCounter
	err  error
}

type waiting struct {
	sent     Sent
	deadline time.Time
}

func (r *session) moreToSend() bool {
	return r.s.opts.Count == 0 || int(r.next) <= r.s.opts.Count
}

// Wake implements probes.Session: send the packet that is due, give up those overdue.
func (r *session) Wake(now time.Time) (time.Time, bool) {
	o := &r.s.opts
	for len(r.waiting) > 0 && !now.Before(r.waiting[0].deadline) {
		r.out(Outcome{Seq: r.waiting[0].sent.Sequence}) // lost
		r.waiting = r.waiting[1:]
	}
	if r.moreToSend() && !now.Before(r.plan) {
		if r.sum.Start.IsZero() {
			r.sum.Start, r.plan = now, now
		}
		seq := r.next
		r.next++
		r.sum.Transmitted++
		sent, err := r.s.client.Send(seq)
		var errno syscall.Errno
		if errors.As(err, &errno) && len(r.waiting) > 0 {
			// The kernel reports an ICMPv6 error of an earlier packet on whichever call
			// comes first, this send included: it is the oldest waiting packet's, and this
			// one was not sent. Try again.
			r.refused(errno)
			sent, err = r.s.client.Send(seq)
		}
		switch {
		case err == nil:
			r.waiting = append(r.waiting, waiting{sent: sent, deadline: now.Add(o.Timeout)})
			if o.OnSend != nil {
				o.OnSend(seq)
			}
		case errors.As(err, &errno):
			// Refused with nothing waiting: this packet's error, as iputils counts them.
			r.sum.Errors++
			r.out(Outcome{Seq: seq, Err: errno})
		default:
			r.err = err
			return time.Time{}, true
		}
		r.plan = r.plan.Add(o.Interval)
		if r.plan.Before(now) {
			r.plan = now // fell behind: no burst to catch up
		}
	}
	return r.nextWake()
}

func (r *session) nextWake() (time.Time, bool) {
	var next time.Time
	if r.moreToSend() {
		next = r.plan
	}
	if len(r.waiting) > 0 && (next.IsZero() || r.waiting[0].deadline.Before(next)) {
		next = r.waiting[0].deadline
	}
	return next, !r.moreToSend() && len(r.waiting) == 0
}

// Input implements probes.Session: a reply, or an error the socket reported.
func (r *session) Input(in *input, _ time.Time) (time.Time, bool) {
	var errno syscall.Errno
	switch {
	case in.err == nil:
		for i := range r.waiting {
			w := &r.waiting[i]
			if !in.reply.Matches(&w.sent) {
				continue
			}
			res, err := in.reply.Result(&w.sent)
			if err != nil {
				r.err = err
				return time.Time{}, true
			}
			r.waiting = append(r.waiting[:i], r.waiting[i+1:]...)
			r.reply(res)
			break
		}
	case errors.As(in.err, &errno):
		r.refused(errno)
	default:
		r.err = in.err
		return time.Time{}, true
	}
	return r.nextWake()
}

// refused accounts an ICMPv6 error the socket reported (port or host unreachable). It carries
// no sequence: errors come in the order of the packets, so it is the oldest waiting one's.
func (r *session) refused(errno syscall.Errno) {
	r.sum.Errors++
	if len(r.waiting) > 0 {
		r.out(Outcome{Seq: r.waiting[0].sent.Sequence, Err: errno})
		r.waiting = r.waiting[1:]
	}
}

// reply accounts one reply.
func (r *session) reply(res Result) {
	out := Outcome{Seq: res.Sequence, Reply: &res}
	out.Forward, out.Backward = Judge(&res, r.s.opts.SharedClock)
	r.sum.Received++
	if res.ReplyBytes != r.s.opts.Size {
		r.sum.Asymmetric++
	}
	if res.TLVs.DirectOK {
		r.loss.Observe(&res.TLVs, r.sum.Received)
		r.sum.Directional = true
		r.sum.ForwardLost, r.sum.BackwardLost = r.loss.Forward, r.loss.Backward
	}
	r.rtt.Add(res.RoundTrip())
	r.residence.Add(res.Residence())
	switch out.OneWayState() {
	case oam.DelayMeasured:
		r.fwd.Add(out.Forward.Delay)
		r.back.Add(out.Backward.Delay)
		r.sum.MaxBound = max(r.sum.MaxBound, out.Forward.Bound)
	case oam.DelayNegative:
		r.sum.Negative++
	default:
		r.sum.Unsynchronised++
	}
	r.out(out)
}

func (r *session) out(o Outcome) {
	if r.emit != nil {
		r.emit(o)
	}
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

// LossCounter turns a stateful reflector's Direct Measurement counts (RFC 8972 §4.5), reply
// after reply, into losses per direction. It counts differences between readings, so that a
// reflector whose counts start again (restarted, or its session evicted) costs nothing but the
// reading that shows it: then the counts are taken as the new baseline.
type LossCounter struct {
	started                  bool
	sentTx, reflRx, reflTx   uint32
	received                 int
	Forward, Backward, Reset int // totals so far; Reset counts the baselines taken again
}

// Observe takes the counts of one reply, received being the replies received so far (this one
// included), and returns what it adds: test packets lost on the way to the reflector and
// replies lost on the way back since the last reading.
func (l *LossCounter) Observe(t *oam.STAMPReplyTLVs, received int) (forward, backward int) {
	if !t.DirectOK {
		return 0, 0
	}
	if l.started && (t.SenderTx < l.sentTx || t.ReflRx < l.reflRx || t.ReflTx < l.reflTx) {
		l.Reset++
		l.sentTx, l.reflRx, l.reflTx, l.received = t.SenderTx, t.ReflRx, t.ReflTx, received
		return 0, 0
	}
	// The first reading counts from zero: the reflector's session began with this sender's.
	forward = max(0, int(t.SenderTx-l.sentTx)-int(t.ReflRx-l.reflRx))
	backward = max(0, int(t.ReflTx-l.reflTx)-(received-l.received))
	l.started = true
	l.sentTx, l.reflRx, l.reflTx, l.received = t.SenderTx, t.ReflRx, t.ReflTx, received
	l.Forward += forward
	l.Backward += backward
	return forward, backward
}
