package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	s6cli "github.com/srv6oam/srv6oam/cmd/internal/cli"
	"github.com/srv6oam/srv6oam/cmd/internal/output"

	"github.com/urfave/cli/v2"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/delay"
)

// timestampFlags are the flags of the --timestamps mode; they need --timestamps.
var timestampFlags = []string{"collector-port", "detect-mult", "up-mult", "shared-clock", "linger", "names"}

// echoOnlyFlags make no sense with --timestamps: the probe is an ICMPv6 Echo Request with the
// SRH inserted (so --insert is accepted: it is what the mode does) that returns to the sender.
var echoOnlyFlags = map[string]string{
	"encap":         "timestamped probes carry the SRH inserted in the echo request, not encapsulated",
	"encap-red":     "timestamped probes carry the whole segment list in the SRH: End.OAM finds its Probe TLV and its slot there",
	"insert-red":    "timestamped probes carry the whole segment list in the SRH: End.OAM finds its Probe TLV and its slot there",
	"decap":         "timestamped probes return to the sender; they cannot end at a decapsulating SID",
	"oam":           "timestamped probes do not set the O-flag; End.OAM timestamps them without it",
	"sid-structure": "End.OAM timestamps probes at SIDs bound to it, not at the nodes of a uSID container",
}

// parseTimestamps turns flags and the argument into the engine's target and options.
func parseTimestamps(c *cli.Context) (oam.Target, delay.Options, error) {
	var opts delay.Options
	for _, name := range []string{"encap", "encap-red", "insert-red", "decap", "oam", "sid-structure"} {
		if c.IsSet(name) {
			return oam.Target{}, opts, fmt.Errorf("--%s cannot be used with --timestamps: %s", name, echoOnlyFlags[name])
		}
	}
	target, structure, err := parseTarget(c)
	if err != nil {
		return target, opts, err
	}
	if !structure.IsZero() {
		return target, opts, errors.New("--timestamps with compressed --segs: End.OAM timestamps probes at SIDs bound to it, and the nodes of a uSID container only shift the destination")
	}
	if c.Int("c") < 0 {
		return target, opts, fmt.Errorf("-c %d: the count must be 0 or more", c.Int("c"))
	}
	opts.Count = c.Int("c")
	iv := c.Float64("i")
	if iv <= 0 || iv > 3600 {
		return target, opts, fmt.Errorf("-i %v: with --timestamps the interval must be more than 0 (no flood) and at most 3600 seconds", iv)
	}
	opts.Interval = time.Duration(iv * float64(time.Second))
	if c.IsSet("W") { // otherwise the engine's 2 s: results print in order, a lost probe holds them back
		w := c.Float64("W")
		if w <= 0 || w > 3600 {
			return target, opts, fmt.Errorf("-W %v: the timeout must be more than 0 and at most 3600 seconds", w)
		}
		opts.Timeout = time.Duration(w * float64(time.Second))
	}
	if s := c.Int("s"); s < 1 || s > probes.MaxPayload {
		return target, opts, fmt.Errorf("-s %d: with --timestamps the payload size must be 1 to %d", s, probes.MaxPayload)
	}
	opts.PayloadSize = c.Int("s")
	if t := c.Int("t"); t < 1 || t > 255 {
		return target, opts, fmt.Errorf("-t %d: the hop limit must be 1 to 255", t)
	}
	opts.HopLimit = c.Int("t")
	if q := c.Int("Q"); q < 0 || q > 255 {
		return target, opts, fmt.Errorf("-Q %d: the traffic class must be 0 to 255", q)
	}
	opts.TrafficClass = uint8(c.Int("Q"))
	if opts.FlowLabel, err = s6cli.ParseFlowLabel(c.String("F")); err != nil {
		return target, opts, err
	}
	if opts.Source, opts.Interface, err = s6cli.ParseSource(c.String("I")); err != nil {
		return target, opts, err
	}
	if c.IsSet("hmac-keyid") || c.IsSet("hmac-secret-file") {
		if opts.HMAC, err = hmacKey(c); err != nil {
			return target, opts, err
		}
	}
	if p := c.Int("collector-port"); p < 0 || p > 65535 {
		return target, opts, fmt.Errorf("--collector-port %d: a UDP port 0 to 65535 (0: any free port)", p)
	}
	opts.CollectorPort = uint16(c.Int("collector-port"))
	for _, name := range []string{"detect-mult", "up-mult"} {
		if m := c.Int(name); m < 1 || m > 255 {
			return target, opts, fmt.Errorf("--%s %d: the multiplier must be 1 to 255", name, m)
		}
	}
	opts.DetectMultiplier, opts.UpMultiplier = c.Int("detect-mult"), c.Int("up-mult")
	l := c.Float64("linger")
	if l <= 0 || l > 60 {
		return target, opts, fmt.Errorf("--linger %v: more than 0 and at most 60 seconds", l)
	}
	opts.Linger = time.Duration(l * float64(time.Second))
	if to := cmp.Or(opts.Timeout, 2*time.Second); opts.Linger > to {
		return target, opts, fmt.Errorf("--linger %v: must not be longer than the timeout -W %v", l, to.Seconds())
	}
	opts.SharedClock = c.Bool("shared-clock")
	if n := c.String("names"); n != "" {
		names := strings.Split(n, ",")
		if len(names) > len(target.Path()) {
			return target, opts, fmt.Errorf("--names %s: %d names for %d segments (the --segs and DESTINATION)", n, len(names), len(target.Path()))
		}
		for i, name := range names {
			if strings.ContainsAny(name, " \t\n") || name == "src" {
				return target, opts, fmt.Errorf("--names: name %d %q: no spaces, and \"src\" is the sender's", i+1, name)
			}
		}
	}
	return target, opts, nil
}

// runTimestamps is `srv6-ping --timestamps`: probes/delay instead of the echo pinger.
func runTimestamps(ctx context.Context, c *cli.Context, out io.Writer) error {
	target, opts, err := parseTimestamps(c)
	if err != nil {
		return fail(err)
	}
	tr, ioamClock, err := s6cli.ParseIOAM(c)
	if err != nil {
		return fail(err)
	}
	opts.IOAM = tr
	closePcap, err := s6cli.OpenPcap("srv6-ping", c.Path("pcap"), &opts.Tap)
	if err != nil {
		return fail(err)
	}
	defer closePcap()

	s6cli.Warn("srv6-ping", probes.Preflight{Target: target, Encoding: probes.Insert, ReturnsToSelf: true, Interface: opts.Interface}.Check())
	p, err := delay.New(ctx, target, opts)
	if err != nil {
		return fail(err)
	}
	defer p.Close()
	opts = p.Options()
	// Names are the reader's: the engine knows points by their SIDs.
	points := output.NamePoints(p.Points(), names(c))

	jsonMode, linesMode := c.Bool("json"), c.Bool("json-lines")
	quiet, stamp := c.Bool("q"), c.Bool("D")
	taiOffset, err := probes.TAIOffset()
	if err != nil {
		return fail(err)
	}
	var io6 *output.DelayIOAM
	if tr != nil {
		// Inside a srv6-testnet lab the nodes' names label their IOAM ids.
		names := &output.Names{NoDNS: true}
		_ = s6cli.LabelFrom(names, "", "", false)
		io6 = &output.DelayIOAM{IOAMView: output.IOAMView{Names: names, Trace: tr, Clock: ioamClock, Shared: opts.SharedClock,
			Prober: probes.LocalClock().ClockEnd(), TAIOffset: taiOffset}, Reports: p.ReportsCarryIOAM()}
	}
	enc := json.NewEncoder(out)
	var results []delay.Result
	var line bytes.Buffer
	emit := func(r delay.Result) {
		switch {
		case jsonMode:
			results = append(results, r)
		case linesMode:
			j := output.NewDelayResult(r, points)
			j.Type = "result"
			if io6 != nil {
				j.IOAM = io6.JSON(&r, points)
			}
			_ = enc.Encode(j)
		case quiet:
		default:
			line.Reset()
			_ = output.FormatDelayResult(&line, r, points, opts.SharedClock)
			if io6 != nil {
				_ = io6.Format(&line, &r, points)
			}
			if stamp {
				// -D is the receive time, as iputils prints it: the probe's return to this
				// host (its kernel timestamp, on CLOCK_TAI); the time of printing for a lost one.
				var at time.Time
				if r.RxNs != 0 {
					at = time.Unix(0, r.RxNs-int64(taiOffset))
				}
				prefix := s6cli.ReceiveTime(at)
				s := strings.TrimSuffix(line.String(), "\n")
				line.Reset()
				line.WriteString(prefix + strings.ReplaceAll(s, "\n", "\n"+prefix) + "\n")
			}
			_, _ = out.Write(line.Bytes())
		}
	}
	if !jsonMode && !linesMode {
		fmt.Fprintf(out, "SRV6-PING %s: %d data bytes, timestamped, back to %s, collector %s, session %#08x\n",
			output.BeforeColon(target.String()), opts.PayloadSize, p.Source(), p.Collector(), opts.Session)
		if tr != nil {
			carry := "the End.OAM agents' reports carry it as far as the probe came"
			if !p.ReportsCarryIOAM() {
				carry = "too large for the agents' reports to capture: only the returning probes show it"
			}
			fmt.Fprintf(out, "IOAM trace: namespace %d, type %s, %d entries; %s\n", tr.Namespace,
				strings.Join(tr.Type.Names(), ","), len(tr.Data)/(4*int(tr.NodeLen)), carry)
		}
	}
	sum, err := p.Run(ctx, emit)
	if err != nil {
		return fail(err)
	}
	switch {
	case jsonMode:
		if err := s6cli.WriteJSON(out, output.NewDelayDocument(p, points, target, results, sum, io6)); err != nil {
			return fail(err)
		}
	case linesMode:
		s := output.NewDelaySummary(sum, points)
		s.Type = "summary"
		_ = enc.Encode(s)
	default:
		if err := output.FormatDelaySummary(out, sum, points, target.Destination.String()); err != nil {
			return fail(err)
		}
		output.OneWayHints(out, sum, false, p.Source().String())
	}
	if sum.Received > 0 {
		return nil
	}
	return cli.Exit("", exitNoReply)
}

// names are --names, split (nil without).
func names(c *cli.Context) []string {
	if n := c.String("names"); n != "" {
		return strings.Split(n, ",")
	}
	return nil
}
