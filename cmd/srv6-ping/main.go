// Command srv6-ping sends ICMPv6 Echo Requests along an SRv6 segment list and prints the
// replies the way iputils ping does. See docs/srv6-ping.md.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/ping"
)

// Exit statuses, as iputils ping: 0 some reply came, 1 none, 2 error.
const (
	exitReply   = 0
	exitNoReply = 1
	exitError   = 2
)

func main() {
	app := &cli.App{
		Name:                   "srv6-ping",
		Usage:                  "ping a destination through an SRv6 segment list",
		UsageText:              "srv6-ping [options] [--segs SID,SID,...] DESTINATION\n\nOptions go before DESTINATION.",
		HideHelpCommand:        true,
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "c", Usage: "stop after `COUNT` probes (0: until interrupted)"},
			&cli.Float64Flag{Name: "i", Value: 1, Usage: "`SECONDS` between probes"},
			&cli.Float64Flag{Name: "W", Value: 10, Usage: "`SECONDS` to wait for a reply before a probe counts as lost"},
			&cli.IntFlag{Name: "s", Value: 56, Usage: "`BYTES` of echo data after the 8-byte ICMPv6 header"},
			&cli.IntFlag{Name: "t", Value: 64, Usage: "hop `LIMIT` of the probes (outer and inner header)"},
			&cli.StringFlag{Name: "I", Usage: "source `ADDRESS` or INTERFACE name to send from"},
			&cli.BoolFlag{Name: "q", Usage: "quiet: print only the first line and the statistics"},
			&cli.BoolFlag{Name: "D", Usage: "print the receive time [unix seconds.microseconds] before each line"},
			&cli.StringFlag{Name: "F", Usage: "flow `LABEL` in hex (20 bits), as iputils -F"},
			&cli.IntFlag{Name: "Q", Usage: "traffic `CLASS` (0-255) of the probes"},
			&cli.StringFlag{Name: "segs", Usage: "comma-separated `SIDS` to visit before DESTINATION, in order"},
			&cli.BoolFlag{Name: "encap", Usage: "H.Encaps: outer IPv6 + SRH around the echo packet; DESTINATION decapsulates (default)"},
			&cli.BoolFlag{Name: "decap", Usage: "encap only: the last --segs SID decapsulates (End.DT6/End.DX6) and DESTINATION is reached as plain IPv6 after it, as with `ip route add DESTINATION encap seg6 mode encap segs SIDS`"},
			&cli.BoolFlag{Name: "insert", Usage: "SRH inserted in the echo packet itself (no encapsulation)"},
			&cli.BoolFlag{Name: "oam", Usage: "set the O-flag (RFC 9259) in the SRH"},
			&cli.UintFlag{Name: "hmac-keyid", Usage: "sign the SRH with HMAC key `ID` (as `ip sr hmac set ID`); needs --hmac-secret-file"},
			&cli.PathFlag{Name: "hmac-secret-file", Usage: "`FILE` holding the HMAC secret (trailing newline ignored)"},
			&cli.StringFlag{Name: "hmac-algo", Value: "sha256", Usage: "HMAC `ALGORITHM`: sha256 or sha1"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document at the end instead of text (docs/json.md)"},
			&cli.BoolFlag{Name: "json-lines", Usage: "print one JSON object per result and one for the statistics"},
			&cli.PathFlag{Name: "pcap", Usage: "write every packet sent and received to `FILE` (pcap, link type RAW)"},
			&cli.BoolFlag{Name: "timestamps", Usage: "per-segment one-way delay, loss and liveness: every --segs SID and DESTINATION must be an End.OAM SID of srv6-agent; the probe returns to this host (docs/srv6-ping.md, docs/delay-measurement.md); -W defaults to 2 here"},
			&cli.IntFlag{Name: "collector-port", Usage: "--timestamps: UDP `PORT` of the built-in collector the agents report to (0: any free port)"},
			&cli.IntFlag{Name: "detect-mult", Value: 3, Usage: "--timestamps: a segment is down after `N` consecutive probes lost on it (as BFD's detect multiplier)"},
			&cli.IntFlag{Name: "up-mult", Value: 3, Usage: "--timestamps: a segment is up after `N` consecutive probes crossed it"},
			&cli.BoolFlag{Name: "shared-clock", Usage: "--timestamps and --stamp: every node reads this host's clock (e.g. a lab of namespaces on one host): one-way delays need no synchronisation, so an unsynchronised adjtimex state is not flagged and no error bound is printed"},
			&cli.Float64Flag{Name: "linger", Value: 0.1, Usage: "--timestamps: `SECONDS` a probe that came back waits for the agents' reports (they batch them for up to 10 ms)"},
			&cli.StringFlag{Name: "names", Usage: "--timestamps: comma-separated `NAMES` printed instead of the --segs SIDs and DESTINATION, in order"},
			&cli.BoolFlag{Name: "stamp", Usage: "two-way delay with STAMP test packets (RFC 8762, UDP) to srv6-agent's reflector on DESTINATION, through --segs when given: round trip, forward and backward one-way delays and the reflector's residence time (docs/srv6-ping.md); -W defaults to 2 here, -s is the UDP payload (44 to 1232, default 44)"},
			&cli.IntFlag{Name: "stamp-port", Value: oam.STAMPPort, Usage: "--stamp: UDP `PORT` of the reflector"},
		},
		Action: run,
		// Exit codes and messages are ours (see below), not urfave's default handler's.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	if err := app.Run(flagsFirst(app.Flags, os.Args)); err != nil {
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, "srv6-ping: "+msg)
			}
			os.Exit(ec.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "srv6-ping: "+err.Error())
		os.Exit(exitError)
	}
}

// flagsFirst moves arguments that are not flags after the flags, so that "srv6-ping DEST -c 3"
// works as it does with iputils (urfave/cli stops at the first argument that is not a flag).
func flagsFirst(flags []cli.Flag, args []string) []string {
	takesNoValue := map[string]bool{}
	for _, f := range flags {
		if _, ok := f.(*cli.BoolFlag); ok {
			for _, n := range f.Names() {
				takesNoValue[n] = true
			}
		}
	}
	takesNoValue["h"], takesNoValue["help"] = true, true
	var opts, rest []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			rest = append(rest, a)
			continue
		}
		opts = append(opts, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") || takesNoValue[name] {
			continue
		}
		if a[1] != '-' && len(name) > 1 && allNoValue(takesNoValue, name) {
			continue // combined short options: -qD
		}
		if i+1 < len(args) {
			i++
			opts = append(opts, args[i])
		}
	}
	out := append([]string{args[0]}, opts...)
	if len(rest) > 0 {
		out = append(append(out, "--"), rest...)
	}
	return out
}

func allNoValue(takesNoValue map[string]bool, shorts string) bool {
	for _, r := range shorts {
		if !takesNoValue[string(r)] {
			return false
		}
	}
	return true
}

func fail(err error) error { return cli.Exit(err.Error(), exitError) }

func run(c *cli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.Bool("stamp") {
		return runStamp(ctx, c, os.Stdout)
	}
	if c.IsSet("stamp-port") {
		return fail(errors.New("--stamp-port needs --stamp"))
	}
	if c.Bool("timestamps") {
		return runTimestamps(ctx, c, os.Stdout)
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
	closePcap, err := openPcap(c, &opts.Tap)
	if err != nil {
		return fail(err)
	}
	defer closePcap()

	pinger, err := ping.New(ctx, target, opts)
	if err != nil {
		return fail(err)
	}
	defer pinger.Close()
	src := pinger.SourceAddr()
	opts = pinger.Options()

	out := os.Stdout
	printer := &ping.Printer{W: out, Target: target, Quiet: c.Bool("q"), Timestamps: c.Bool("D")}
	jsonMode, linesMode := c.Bool("json"), c.Bool("json-lines")
	enc := json.NewEncoder(out)
	var results []ping.JSONResult
	emit := func(r oam.Result) {
		switch {
		case jsonMode:
			results = append(results, ping.NewJSONResult(r))
		case linesMode:
			j := ping.NewJSONResult(r)
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
		if results == nil {
			results = []ping.JSONResult{}
		}
		doc := ping.JSONDocument{
			Command: "srv6-ping", Version: 1,
			Target:  ping.NewJSONTarget(target, opts.Encoding, src.String()),
			Options: ping.NewJSONOptions(opts),
			Results: results,
			Summary: ping.NewJSONSummary(summary),
		}
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return fail(err)
		}
	case linesMode:
		s := ping.NewJSONSummary(summary)
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
	target, err := parseTarget(c)
	if err != nil {
		return target, opts, err
	}
	if c.Bool("encap") && c.Bool("insert") {
		return target, opts, errors.New("--encap and --insert: choose one")
	}
	if c.Bool("insert") {
		opts.Encoding = probes.Insert
	}
	if c.Bool("decap") {
		if c.Bool("insert") || len(target.Segments) == 0 {
			return target, opts, errors.New("--decap needs --segs and the encap encoding (not --insert)")
		}
		target.Decap = true
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
	if opts.FlowLabel, err = parseFlowLabel(c.String("F")); err != nil {
		return target, opts, err
	}
	if opts.Source, opts.Interface, err = parseSource(c.String("I")); err != nil {
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

// parseTarget reads DESTINATION and --segs.
func parseTarget(c *cli.Context) (oam.Target, error) {
	var target oam.Target
	switch c.NArg() {
	case 0:
		return target, errors.New("missing DESTINATION (usage: srv6-ping [options] [--segs SID,...] DESTINATION)")
	case 1:
	default:
		return target, fmt.Errorf("one DESTINATION expected, got %q (options go before DESTINATION)", c.Args().Slice())
	}
	dst, err := oam.ParseSegment(c.Args().First())
	if err != nil {
		return target, fmt.Errorf("destination: %w", err)
	}
	target.Destination = dst
	if s := c.String("segs"); c.IsSet("segs") {
		segs, err := oam.ParseSegmentList(s)
		if err != nil {
			return target, fmt.Errorf("--segs: %w", err)
		}
		// Destination is the final segment; "--segs A,B,D D" means the same as "--segs A,B D".
		if segs[len(segs)-1] == dst && !c.Bool("decap") {
			segs = segs[:len(segs)-1]
		}
		target.Segments = segs
	}
	return target, nil
}

// parseSource reads -I: an IPv6 address or an interface name.
func parseSource(i string) (netip.Addr, string, error) {
	if i == "" {
		return netip.Addr{}, "", nil
	}
	if a, err := netip.ParseAddr(i); err == nil {
		if !a.Is6() || a.Is4In6() {
			return netip.Addr{}, "", fmt.Errorf("-I %s: the source must be an IPv6 address or an interface name", i)
		}
		return a, "", nil
	}
	if _, err := net.InterfaceByName(i); err != nil {
		return netip.Addr{}, "", fmt.Errorf("-I %s: neither an IPv6 address nor an interface of this host", i)
	}
	return netip.Addr{}, i, nil
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
