package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/delay"
	"github.com/srv6oam/srv6oam/probes/stamp"
)

// stampMaxSize is the largest test packet (UDP payload) the agent's reflector answers: it never
// sends a reply longer than 1232 bytes, and a reply is as long as the request.
const stampMaxSize = 1232

// stampRejected are the flags that have no meaning for STAMP test packets, with the reason.
var stampRejected = map[string]string{
	"encap":            "the test packets are UDP with the SRH attached to the socket (no encapsulation)",
	"decap":            "the reflector answers at DESTINATION, the final segment",
	"insert":           "the SRH is always attached to the UDP packet itself",
	"oam":              "the test packets do not set the O-flag",
	"hmac-keyid":       "the SRH of STAMP test packets is not signed",
	"hmac-secret-file": "the SRH of STAMP test packets is not signed",
	"hmac-algo":        "the SRH of STAMP test packets is not signed",
	"pcap":             "test packets go through an ordinary UDP socket; capture them with tcpdump 'udp port 862'",
	"t":                "the hop limit of the test packets is the kernel's default",
	"Q":                "the traffic class of the test packets is the kernel's default",
	"F":                "the flow label of the test packets is the kernel's choice",
	"timestamps":       "--stamp and --timestamps are two modes: choose one",
	"collector-port":   "it is a --timestamps option",
	"detect-mult":      "it is a --timestamps option",
	"up-mult":          "it is a --timestamps option",
	"linger":           "it is a --timestamps option",
	"names":            "it is a --timestamps option",
}

// stampOptions is what `srv6-ping --stamp` does, from the flags.
type stampOptions struct {
	Target      oam.Target
	Port        uint16
	Count       int
	Interval    time.Duration
	Timeout     time.Duration
	Size        int // UDP payload of a test packet
	Source      netip.Addr
	SharedClock bool
}

// parseStamp reads the flags of --stamp mode; errors name the flag.
func parseStamp(c *cli.Context) (stampOptions, error) {
	var o stampOptions
	for _, f := range c.App.Flags {
		name := f.Names()[0]
		if why, ok := stampRejected[name]; ok && c.IsSet(name) {
			return o, fmt.Errorf("--%s cannot be used with --stamp: %s", name, why)
		}
	}
	target, err := parseTarget(c)
	if err != nil {
		return o, err
	}
	o.Target = target
	if p := c.Int("stamp-port"); p < 1 || p > 65535 {
		return o, fmt.Errorf("--stamp-port %d: a UDP port 1 to 65535", p)
	}
	o.Port = uint16(c.Int("stamp-port"))
	if c.Int("c") < 0 {
		return o, fmt.Errorf("-c %d: the count must be 0 or more", c.Int("c"))
	}
	o.Count = c.Int("c")
	iv := c.Float64("i")
	if iv <= 0 || iv > 3600 {
		return o, fmt.Errorf("-i %v: with --stamp the interval must be more than 0 (no flood) and at most 3600 seconds", iv)
	}
	o.Interval = time.Duration(iv * float64(time.Second))
	o.Timeout = 2 * time.Second
	if c.IsSet("W") {
		w := c.Float64("W")
		if w <= 0 || w > 3600 {
			return o, fmt.Errorf("-W %v: the timeout must be more than 0 and at most 3600 seconds", w)
		}
		o.Timeout = time.Duration(w * float64(time.Second))
	}
	o.Size = oam.STAMPPacketSize
	if c.IsSet("s") {
		if s := c.Int("s"); s < oam.STAMPPacketSize || s > stampMaxSize {
			return o, fmt.Errorf("-s %d: with --stamp the test packet's UDP payload must be %d to %d bytes", s, oam.STAMPPacketSize, stampMaxSize)
		}
		o.Size = c.Int("s")
	}
	if i := c.String("I"); i != "" {
		src, ifname, err := parseSource(i)
		if err != nil {
			return o, err
		}
		if ifname != "" {
			return o, fmt.Errorf("-I %s: with --stamp the source must be an address, not an interface", i)
		}
		o.Source = src
	}
	o.SharedClock = c.Bool("shared-clock")
	return o, nil
}

// One-way states of a reply: only "measured" delays are printed and summarised as delays.
const (
	oneWayMeasured       = "measured"
	oneWayUnsynchronised = "unsynchronised"
	oneWayNegative       = "negative"
)

// oneWay says whether the forward and backward delays of r can be believed: both clocks
// synchronised (or one shared clock), and neither delay negative.
func oneWay(r *stamp.Result, shared bool) string {
	switch {
	case !shared && !(r.SenderError.Synchronised() && r.ReflectorSynchronised):
		return oneWayUnsynchronised
	case r.Forward() < 0 || r.Backward() < 0:
		return oneWayNegative
	}
	return oneWayMeasured
}

// durStats accumulates durations: count, min, max, mean and standard deviation (as ping's mdev).
type durStats struct {
	n          int
	min, max   time.Duration
	sum, sumSq float64
}

func (s *durStats) add(d time.Duration) {
	if s.n == 0 || d < s.min {
		s.min = d
	}
	if s.n == 0 || d > s.max {
		s.max = d
	}
	s.n++
	f := float64(d)
	s.sum += f
	s.sumSq += f * f
}

func (s *durStats) avgMdev() (time.Duration, time.Duration) {
	if s.n == 0 {
		return 0, 0
	}
	mean := s.sum / float64(s.n)
	return time.Duration(mean), time.Duration(math.Sqrt(max(0, s.sumSq/float64(s.n)-mean*mean)))
}

// stampSummary is the statistics of a --stamp run.
type stampSummary struct {
	Transmitted, Received, Errors int
	Unsynchronised, Negative      int // replies whose one-way delays are not believed
	RTT, Forward, Backward, Resid durStats
	MaxBound                      time.Duration
	Elapsed                       time.Duration
}

func (s *stampSummary) lossPercent() float64 {
	if s.Transmitted == 0 {
		return 0
	}
	return float64(s.Transmitted-s.Received) * 100 / float64(s.Transmitted)
}

// stampProbe is one probe's outcome: a reply (Result), a loss, or an error from the network.
type stampProbe struct {
	Seq    uint32
	Reply  *stamp.Result
	Err    error // an ICMPv6 error reported by the socket (e.g. port unreachable)
	OneWay string
}

func msf(d time.Duration) float64 { return float64(d) / 1e6 }

// formatStampProbe is one probe as a line:
//
//	seq=3 rtt=0.041 ms  fwd 0.020  back 0.015  reflector 0.006 ms (one-way, ±0.002)
func formatStampProbe(p stampProbe, o stampOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "seq=%d", p.Seq)
	switch {
	case p.Err != nil:
		fmt.Fprintf(&b, " error: %v", p.Err)
		if errors.Is(p.Err, syscall.ECONNREFUSED) {
			fmt.Fprintf(&b, " (port unreachable: is srv6-agent's reflector listening on port %d of %s?)", o.Port, o.Target.Destination)
		}
	case p.Reply == nil:
		fmt.Fprintf(&b, " lost (no reply within %v)", o.Timeout)
	default:
		r := p.Reply
		fmt.Fprintf(&b, " rtt=%.3f ms", msf(r.RoundTrip()))
		switch p.OneWay {
		case oneWayMeasured:
			fmt.Fprintf(&b, "  fwd %.3f  back %.3f  reflector %.3f ms", msf(r.Forward()), msf(r.Backward()), msf(r.Residence()))
			if o.SharedClock {
				b.WriteString(" (one-way, shared clock)")
			} else {
				fmt.Fprintf(&b, " (one-way, ±%.3f)", msf(r.ErrorBound()))
			}
		case oneWayUnsynchronised:
			fmt.Fprintf(&b, "  fwd unsync  back unsync  reflector %.3f ms (unsync = %s: no one-way delay printed)",
				msf(r.Residence()), unsyncWho(r))
		default:
			fmt.Fprintf(&b, "  fwd neg!  back neg!  reflector %.3f ms (neg! = the two clocks disagree: no one-way delay printed)", msf(r.Residence()))
		}
	}
	return b.String()
}

func unsyncWho(r *stamp.Result) string {
	switch {
	case !r.SenderError.Synchronised() && !r.ReflectorSynchronised:
		return "neither clock is synchronised"
	case !r.SenderError.Synchronised():
		return "this host's clock is not synchronised"
	}
	return "the reflector's clock is not synchronised"
}

// formatStampSummary writes the statistics block.
func formatStampSummary(w io.Writer, s *stampSummary, o stampOptions, reflector netip.AddrPort) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n--- %v STAMP statistics ---\n", reflector)
	fmt.Fprintf(&b, "%d probes transmitted, %d received", s.Transmitted, s.Received)
	if s.Errors > 0 {
		fmt.Fprintf(&b, ", +%d errors", s.Errors)
	}
	fmt.Fprintf(&b, ", %.1f%% loss, time %dms\n", s.lossPercent(), s.Elapsed.Milliseconds())
	line := func(name string, st *durStats, note string) {
		avg, mdev := st.avgMdev()
		fmt.Fprintf(&b, "%s min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms%s\n", name, msf(st.min), msf(avg), msf(st.max), msf(mdev), note)
	}
	if s.RTT.n > 0 {
		line("rtt", &s.RTT, "")
	}
	if s.Forward.n > 0 {
		note := fmt.Sprintf(" (one-way, ±%.3f)", msf(s.MaxBound))
		if o.SharedClock {
			note = " (one-way, shared clock)"
		}
		line("fwd", &s.Forward, note)
		line("back", &s.Backward, note)
	}
	if s.Resid.n > 0 {
		line("reflector", &s.Resid, " (residence)")
	}
	if s.Unsynchronised > 0 {
		fmt.Fprintf(&b, "%d of %d replies without one-way delays: a clock is not synchronised (adjtimex); run chrony or PTP on both ends, or, if both are on this host (a lab of namespaces), use --shared-clock\n", s.Unsynchronised, s.Received)
	}
	if s.Negative > 0 {
		fmt.Fprintf(&b, "%d of %d replies without one-way delays: a negative one-way delay (the two clocks disagree by more than the delay)\n", s.Negative, s.Received)
	}
	_, _ = io.WriteString(w, b.String())
}

// JSON forms of --stamp (docs/json.md, docs/json/srv6-ping-stamp.schema.json).
type stampJSONStats struct {
	Count  int     `json:"count"`
	MinMS  float64 `json:"min_ms"`
	AvgMS  float64 `json:"avg_ms"`
	MaxMS  float64 `json:"max_ms"`
	MdevMS float64 `json:"mdev_ms"`
}

func newStampJSONStats(s *durStats) *stampJSONStats {
	if s.n == 0 {
		return nil
	}
	avg, mdev := s.avgMdev()
	return &stampJSONStats{Count: s.n, MinMS: msf(s.min), AvgMS: msf(avg), MaxMS: msf(s.max), MdevMS: msf(mdev)}
}

type stampJSONResult struct {
	Type                  string          `json:"type,omitempty"`
	Seq                   uint32          `json:"seq"`
	Status                string          `json:"status"` // reply, lost, error
	Error                 string          `json:"error,omitempty"`
	RTTMS                 *float64        `json:"rtt_ms,omitempty"`
	ResidenceMS           *float64        `json:"residence_ms,omitempty"`
	OneWay                string          `json:"one_way,omitempty"`
	ForwardMS             *float64        `json:"forward_ms,omitempty"`
	BackwardMS            *float64        `json:"backward_ms,omitempty"`
	BoundMS               *float64        `json:"bound_ms,omitempty"`
	RawForwardMS          *float64        `json:"raw_forward_ms,omitempty"`
	RawBackwardMS         *float64        `json:"raw_backward_ms,omitempty"`
	SenderSynchronised    *bool           `json:"sender_synchronised,omitempty"`
	ReflectorSynchronised *bool           `json:"reflector_synchronised,omitempty"`
	HopLimitAtReflector   *int            `json:"hop_limit_at_reflector,omitempty"`
	HopLimit              *int            `json:"hop_limit,omitempty"`
	ReplyBytes            *int            `json:"reply_bytes,omitempty"`
	TAINs                 *stampJSONTimes `json:"tai_ns,omitempty"`
}

// stampJSONTimes are the four STAMP timestamps, CLOCK_TAI nanoseconds.
type stampJSONTimes struct {
	T1 int64 `json:"t1"` // sender transmit
	T2 int64 `json:"t2"` // reflector receive
	T3 int64 `json:"t3"` // reflector transmit
	T4 int64 `json:"t4"` // sender receive
}

func ptr[T any](v T) *T { return &v }

func newStampJSONResult(p stampProbe, shared bool) stampJSONResult {
	j := stampJSONResult{Seq: p.Seq}
	switch {
	case p.Err != nil:
		j.Status, j.Error = "error", p.Err.Error()
		return j
	case p.Reply == nil:
		j.Status = "lost"
		return j
	}
	r := p.Reply
	j.Status = "reply"
	j.RTTMS, j.ResidenceMS = ptr(msf(r.RoundTrip())), ptr(msf(r.Residence()))
	j.OneWay = p.OneWay
	if p.OneWay == oneWayMeasured {
		j.ForwardMS, j.BackwardMS = ptr(msf(r.Forward())), ptr(msf(r.Backward()))
		j.BoundMS = ptr(0.0)
		if !shared {
			j.BoundMS = ptr(msf(r.ErrorBound()))
		}
	} else {
		j.RawForwardMS, j.RawBackwardMS = ptr(msf(r.Forward())), ptr(msf(r.Backward()))
	}
	j.SenderSynchronised, j.ReflectorSynchronised = ptr(r.SenderError.Synchronised()), ptr(r.ReflectorSynchronised)
	j.HopLimitAtReflector = ptr(int(r.HopLimitAtReflector))
	if r.HopLimitAtSender >= 0 {
		j.HopLimit = ptr(r.HopLimitAtSender)
	}
	j.ReplyBytes = ptr(r.ReplyBytes)
	j.TAINs = &stampJSONTimes{r.T1, r.T2, r.T3, r.T4}
	return j
}

type stampJSONSummary struct {
	Type           string          `json:"type,omitempty"`
	Transmitted    int             `json:"transmitted"`
	Received       int             `json:"received"`
	Errors         int             `json:"errors"`
	LossPercent    float64         `json:"loss_percent"`
	ElapsedMS      float64         `json:"elapsed_ms"`
	SharedClock    bool            `json:"shared_clock"`
	RTT            *stampJSONStats `json:"rtt,omitempty"`
	Forward        *stampJSONStats `json:"forward,omitempty"`
	Backward       *stampJSONStats `json:"backward,omitempty"`
	Residence      *stampJSONStats `json:"residence,omitempty"`
	MaxBoundMS     *float64        `json:"max_bound_ms,omitempty"`
	Unsynchronised int             `json:"unsynchronised"`
	Negative       int             `json:"negative"`
}

func newStampJSONSummary(s *stampSummary, shared bool) stampJSONSummary {
	j := stampJSONSummary{Transmitted: s.Transmitted, Received: s.Received, Errors: s.Errors,
		LossPercent: s.lossPercent(), ElapsedMS: msf(s.Elapsed), SharedClock: shared,
		RTT: newStampJSONStats(&s.RTT), Forward: newStampJSONStats(&s.Forward),
		Backward: newStampJSONStats(&s.Backward), Residence: newStampJSONStats(&s.Resid),
		Unsynchronised: s.Unsynchronised, Negative: s.Negative}
	if s.Forward.n > 0 {
		j.MaxBoundMS = ptr(0.0)
		if !shared {
			j.MaxBoundMS = ptr(msf(s.MaxBound))
		}
	}
	return j
}

type stampJSONDocument struct {
	Command     string            `json:"command"`
	Mode        string            `json:"mode"`
	Version     int               `json:"version"`
	Destination string            `json:"destination"`
	Segments    []string          `json:"segments"`
	Reflector   string            `json:"reflector"`
	Source      string            `json:"source"`
	Options     stampJSONOptions  `json:"options"`
	Results     []stampJSONResult `json:"results"`
	Summary     stampJSONSummary  `json:"summary"`
}

type stampJSONOptions struct {
	Count       int     `json:"count"`
	IntervalS   float64 `json:"interval_s"`
	TimeoutS    float64 `json:"timeout_s"`
	Size        int     `json:"size"`
	SharedClock bool    `json:"shared_clock"`
}

// runStamp is `srv6-ping --stamp`: STAMP test packets (probes/stamp) to srv6-agent's reflector.
func runStamp(ctx context.Context, c *cli.Context, out io.Writer) error {
	o, err := parseStamp(c)
	if err != nil {
		return fail(err)
	}
	reflector := netip.AddrPortFrom(o.Target.Destination, o.Port)
	client, err := stamp.Dial(stamp.Config{Target: reflector, Segments: o.Target.Segments, Source: o.Source,
		Size: o.Size, Clock: delay.LocalClock})
	if err != nil {
		return fail(err)
	}
	defer client.Close()
	// Ctrl-C interrupts a probe waiting for its reply: closing the socket ends the wait.
	stopAfter := context.AfterFunc(ctx, func() { client.Close() })
	defer stopAfter()
	src := client.LocalAddr()

	jsonMode, linesMode := c.Bool("json"), c.Bool("json-lines")
	quiet, stampTime := c.Bool("q"), c.Bool("D")
	enc := json.NewEncoder(out)
	var results []stampJSONResult
	if !jsonMode && !linesMode {
		fmt.Fprintf(out, "SRV6-PING STAMP %s, reflector port %d: %d bytes of UDP payload, from [%s]:%d\n",
			o.Target, o.Port, o.Size, src.Addr(), src.Port())
	}
	var sum stampSummary
	start := time.Now()
	next := start
	for seq := uint32(1); o.Count == 0 || int(seq) <= o.Count; seq++ {
		if !sleepUntil(ctx, next) {
			break
		}
		sum.Transmitted++
		res, err := client.Probe(seq, time.Now().Add(o.Timeout))
		if ctx.Err() != nil {
			break // interrupted while waiting: sent, and neither answered nor lost
		}
		p := stampProbe{Seq: seq}
		var errno syscall.Errno
		switch {
		case err == nil:
			p.Reply = &res
			p.OneWay = oneWay(&res, o.SharedClock)
			sum.Received++
			sum.RTT.add(res.RoundTrip())
			sum.Resid.add(res.Residence())
			switch p.OneWay {
			case oneWayMeasured:
				sum.Forward.add(res.Forward())
				sum.Backward.add(res.Backward())
				sum.MaxBound = max(sum.MaxBound, res.ErrorBound())
			case oneWayUnsynchronised:
				sum.Unsynchronised++
			default:
				sum.Negative++
			}
		case errors.Is(err, stamp.ErrTimeout):
		case errors.As(err, &errno):
			// An ICMPv6 error the kernel reported on the socket (port or host unreachable): an
			// error, as iputils counts them, and no reply.
			p.Err = errno
			sum.Errors++
		default:
			return fail(err)
		}
		switch {
		case jsonMode:
			results = append(results, newStampJSONResult(p, o.SharedClock))
		case linesMode:
			j := newStampJSONResult(p, o.SharedClock)
			j.Type = "result"
			_ = enc.Encode(j)
		case quiet:
		default:
			line := formatStampProbe(p, o)
			if stampTime {
				now := time.Now()
				line = fmt.Sprintf("[%d.%06d] %s", now.Unix(), now.Nanosecond()/1000, line)
			}
			fmt.Fprintln(out, line)
		}
		next = next.Add(o.Interval)
		if now := time.Now(); next.Before(now) {
			next = now // the wait for a lost probe outlasted the interval
		}
	}
	sum.Elapsed = time.Since(start)
	switch {
	case jsonMode:
		if results == nil {
			results = []stampJSONResult{}
		}
		segs := make([]string, len(o.Target.Segments))
		for i, s := range o.Target.Segments {
			segs[i] = s.String()
		}
		doc := stampJSONDocument{Command: "srv6-ping", Mode: "stamp", Version: 1,
			Destination: o.Target.Destination.String(), Segments: segs, Reflector: reflector.String(),
			Source: src.Addr().String(),
			Options: stampJSONOptions{Count: o.Count, IntervalS: o.Interval.Seconds(), TimeoutS: o.Timeout.Seconds(),
				Size: o.Size, SharedClock: o.SharedClock},
			Results: results, Summary: newStampJSONSummary(&sum, o.SharedClock)}
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return fail(err)
		}
	case linesMode:
		s := newStampJSONSummary(&sum, o.SharedClock)
		s.Type = "summary"
		_ = enc.Encode(s)
	default:
		formatStampSummary(out, &sum, o, reflector)
	}
	if sum.Received > 0 {
		return nil
	}
	return cli.Exit("", exitNoReply)
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
