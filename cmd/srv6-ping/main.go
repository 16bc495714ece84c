// Command srv6-ping sends ICMPv6 Echo Requests along an SRv6 segment list and prints the
// replies the way iputils ping does. See docs/srv6-ping.md.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	s6cli "github.com/srv6oam/srv6oam/cmd/internal/cli"
	"github.com/srv6oam/srv6oam/cmd/internal/output"

	"github.com/urfave/cli/v2"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/ping"
)

// Exit statuses, as iputils ping: 0 some reply came, 1 none, 2 error.
const (
	exitNoReply = s6cli.ExitNo
	exitError   = s6cli.ExitError
)

func main() { s6cli.Main(newApp(), exitError) }

func newApp() *cli.App {
	return &cli.App{
		Name:                   "srv6-ping",
		Version:                s6cli.Version,
		Usage:                  "ping a destination through an SRv6 segment list",
		UsageText:              "srv6-ping [options] [--segs SID,SID,...] DESTINATION\n\nOptions may also follow DESTINATION; short ones take their value attached too (-c3).",
		HideHelpCommand:        true,
		UseShortOptionHandling: true,
		Flags:                  flags(),
		Action:                 run,
	}
}

func fail(err error) error { return s6cli.Fail(err) }

func run(c *cli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch m := c.String("M"); m {
	case "", "do", "probe":
	case "want", "dont":
		return fail(fmt.Errorf("-M %s: srv6-ping crafts every probe whole and never fragments it (as -M do); for the largest size that crosses the segment list, see srv6-trace --pmtu", m))
	default:
		return fail(fmt.Errorf("-M %s: expected do, probe, want or dont", m))
	}
	if c.Bool("v") && (c.Bool("stamp") || c.Bool("timestamps") || c.Bool("ioam")) {
		return fail(errors.New("-v shows the packets ICMPv6 errors quote: echo mode only (not with --stamp, --timestamps or --ioam)"))
	}
	if c.Bool("stamp") {
		return runStamp(ctx, c, os.Stdout)
	}
	if c.IsSet("stamp-port") {
		return fail(errors.New("--stamp-port needs --stamp"))
	}
	if c.IsSet("stamp-ssid") || c.IsSet("stamp-timestamps") {
		return fail(errors.New("--stamp-ssid and --stamp-timestamps need --stamp"))
	}
	if c.Bool("timestamps") {
		return runTimestamps(ctx, c, os.Stdout)
	}
	if c.Bool("ioam") {
		return runIOAM(ctx, c, os.Stdout)
	}
	if _, _, err := s6cli.ParseIOAM(c); err != nil {
		return fail(err)
	}
	if c.IsSet("shared-clock") {
		return fail(errors.New("--shared-clock needs --timestamps, --stamp or --ioam"))
	}
	for _, name := range timestampFlags {
		if c.IsSet(name) {
			return fail(fmt.Errorf("--%s needs --timestamps", name))
		}
	}
	target, opts, err := parse(c)
	if err != nil {
		return fail(err)
	}
	closePcap, err := s6cli.OpenPcap("srv6-ping", c.Path("pcap"), &opts.Tap)
	if err != nil {
		return fail(err)
	}
	defer closePcap()

	s6cli.Warn("srv6-ping", probes.Preflight{Target: target, Encoding: opts.Encoding, Structure: opts.Structure, Interface: opts.Interface}.Check())
	pinger, err := ping.New(ctx, target, opts)
	if err != nil {
		return fail(err)
	}
	defer pinger.Close()
	src := pinger.SourceAddr()
	opts = pinger.Options()

	out := os.Stdout
	printer := &output.PingPrinter{W: out, Target: target, Quiet: c.Bool("q"), Timestamps: c.Bool("D"), Verbose: c.Bool("v")}
	jsonMode, linesMode := c.Bool("json"), c.Bool("json-lines")
	enc := json.NewEncoder(out)
	var results []output.PingResult
	emit := func(r oam.Result) {
		switch {
		case jsonMode:
			results = append(results, output.NewPingResult(r))
		case linesMode:
			j := output.NewPingResult(r)
			j.Type = "result"
			_ = enc.Encode(j)
		default:
			printer.Result(r)
		}
	}
	if !jsonMode && !linesMode {
		printer.Header(opts.PayloadSize)
	}
	summary, err := pinger.Run(ctx, emit)
	if err != nil {
		return fail(err)
	}
	switch {
	case jsonMode:
		doc := output.NewPingDocument(target, opts.Encoding.String(), src, output.NewPingOptions(opts), results, output.NewPingSummary(summary))
		if err := s6cli.WriteJSON(out, doc); err != nil {
			return fail(err)
		}
	case linesMode:
		s := output.NewPingSummary(summary)
		s.Type = "summary"
		_ = enc.Encode(s)
	default:
		printer.Summary(summary)
	}
	if summary.Received > 0 {
		return nil
	}
	return cli.Exit("", exitNoReply)
}

// parse turns flags and the argument into a target and options; errors name the flag.
func parse(c *cli.Context) (oam.Target, ping.Options, error) {
	var opts ping.Options
	opts.Quotes = c.Bool("v")
	target, structure, err := parseTarget(c)
	if err != nil {
		return target, opts, err
	}
	if opts.Encoding, opts.Structure, err = s6cli.ParseEncoding(c, &target, structure); err != nil {
		return target, opts, err
	}
	if c.Int("c") < 0 {
		return target, opts, fmt.Errorf("-c %d: the count must be 0 or more", c.Int("c"))
	}
	opts.Count = c.Int("c")
	iv := c.Float64("i")
	if iv < 0 || iv > 3600 {
		return target, opts, fmt.Errorf("-i %v: the interval must be 0 to 3600 seconds", iv)
	}
	opts.Interval = time.Duration(iv * float64(time.Second))
	opts.Flood = iv == 0
	w := c.Float64("W")
	if w <= 0 || w > 3600 {
		return target, opts, fmt.Errorf("-W %v: the timeout must be more than 0 and at most 3600 seconds", w)
	}
	opts.Timeout = time.Duration(w * float64(time.Second))
	if s := c.Int("s"); s < 0 || s > probes.MaxPayload {
		return target, opts, fmt.Errorf("-s %d: the payload size must be 0 to %d", s, probes.MaxPayload)
	}
	opts.PayloadSize = c.Int("s")
	opts.NoPayload = opts.PayloadSize == 0
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
	opts.OAM = c.Bool("oam")
	if c.IsSet("hmac-keyid") || c.IsSet("hmac-secret-file") {
		key, err := hmacKey(c)
		if err != nil {
			return target, opts, err
		}
		opts.HMAC = key
	}
	if (opts.OAM || opts.HMAC != nil) && len(target.Segments) == 0 {
		return target, opts, errors.New("--oam and --hmac-keyid act on the SRH: they need --segs")
	}
	return target, opts, nil
}

func hmacKey(c *cli.Context) (*srh.HMACKey, error) {
	id := c.Uint("hmac-keyid")
	if id == 0 {
		return nil, errors.New("--hmac-keyid: a key id from 1 to 4294967295 is needed with --hmac-secret-file")
	}
	path := c.Path("hmac-secret-file")
	if path == "" {
		return nil, errors.New("--hmac-keyid needs --hmac-secret-file")
	}
	secret, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--hmac-secret-file: %w", err)
	}
	secret = []byte(strings.TrimRight(string(secret), "\r\n"))
	if len(secret) == 0 || len(secret) > srh.HMACSecretMaxLen {
		return nil, fmt.Errorf("--hmac-secret-file %s: the secret must be 1 to %d bytes, it is %d", path, srh.HMACSecretMaxLen, len(secret))
	}
	key := &srh.HMACKey{ID: uint32(id), Secret: secret}
	switch c.String("hmac-algo") {
	case "sha256":
		key.Algorithm = srh.HMACSHA256
	case "sha1":
		key.Algorithm = srh.HMACSHA1
	default:
		return nil, fmt.Errorf("--hmac-algo %s: sha256 or sha1", c.String("hmac-algo"))
	}
	return key, nil
}

// parseTarget reads DESTINATION and --segs, and the SID structure of a compressed --segs.
func parseTarget(c *cli.Context) (oam.Target, oam.SIDStructure, error) {
	return s6cli.ParseTarget(c, "srv6-ping [options] [--segs SID,...] DESTINATION", c.Bool("decap"))
}
