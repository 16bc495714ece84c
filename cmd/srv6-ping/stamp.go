package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	s6cli "github.com/srv6oam/srv6oam/cmd/internal/cli"
	"github.com/srv6oam/srv6oam/cmd/internal/output"

	"github.com/urfave/cli/v2"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/stamp"
)

// stampRejected are the flags that have no meaning for STAMP test packets, with the reason.
var stampRejected = map[string]string{
	"encap":            "the test packets are UDP with the SRH attached to the socket (no encapsulation)",
	"decap":            "the reflector answers at DESTINATION, the final segment",
	"insert":           "the SRH is always attached to the UDP packet itself",
	"encap-red":        "the test packets are UDP with the whole SRH attached to the socket",
	"insert-red":       "the test packets are UDP with the whole SRH attached to the socket",
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
	Target oam.Target
	stamp.Options
	// ioamClock is --ioam-clock-error.
	ioamClock oam.EndClock
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
	target, _, err := parseTarget(c)
	if err != nil {
		return o, err
	}
	o.Target = target
	if p := c.Int("stamp-port"); p < 1 || p > 65535 {
		return o, fmt.Errorf("--stamp-port %d: a UDP port 1 to 65535", p)
	}
	o.Port = uint16(c.Int("stamp-port"))
	if v := c.Int("stamp-ssid"); v < 0 || v > 0xffff {
		return o, fmt.Errorf("--stamp-ssid %d: the Session-Sender Identifier is 0 to 65535", v)
	}
	o.SSID = uint16(c.Int("stamp-ssid"))
	switch f := c.String("stamp-timestamps"); f {
	case "ntp":
	case "ptp":
		o.PTP = true
	default:
		return o, fmt.Errorf("--stamp-timestamps %q: want ntp or ptp", f)
	}
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
	if o.TLVs, err = parseStampTLVs(c); err != nil {
		return o, err
	}
	if f := c.String("stamp-auth-key-file"); f != "" {
		if !o.TLVs.Empty() {
			return o, fmt.Errorf("--stamp-auth-key-file cannot be used with TLVs (--stamp-tlv, --stamp-return-*, --stamp-hmac-key-file): srv6oam reads TLVs in unauthenticated mode, where --stamp-hmac-key-file protects them")
		}
		if o.AuthKey, err = probes.ReadSTAMPKey(f); err != nil {
			return o, fmt.Errorf("--stamp-auth-key-file %w", err)
		}
	}
	if c.IsSet("s") {
		if s := c.Int("s"); s < oam.STAMPPacketSize || s > stamp.MaxSize {
			return o, fmt.Errorf("-s %d: with --stamp the test packet's UDP payload must be %d to %d bytes", s, oam.STAMPPacketSize, stamp.MaxSize)
		}
		o.Size = c.Int("s")
	}
	if i := c.String("I"); i != "" {
		src, ifname, err := s6cli.ParseSource(i)
		if err != nil {
			return o, err
		}
		if ifname != "" {
			return o, fmt.Errorf("-I %s: with --stamp the source must be an address, not an interface", i)
		}
		o.Source = src
	}
	o.SharedClock = c.Bool("shared-clock")
	if o.IOAM, o.ioamClock, err = s6cli.ParseIOAM(c); err != nil {
		return o, err
	}
	return o, nil
}

// parseStampTLVs reads --stamp-tlv, --stamp-return-segs, --stamp-return-addr and
// --stamp-hmac-key-file.
func parseStampTLVs(c *cli.Context) (oam.STAMPTLVRequest, error) {
	var r oam.STAMPTLVRequest
	if l := c.String("stamp-tlv"); l != "" {
		for _, item := range strings.Split(l, ",") {
			if err := r.ParseItem(item); err != nil {
				return r, fmt.Errorf("--stamp-tlv %w", err)
			}
		}
	}
	if l := c.String("stamp-return-segs"); l != "" {
		for _, f := range strings.Split(l, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(f))
			if err != nil || !a.Is6() || a.Is4In6() {
				return r, fmt.Errorf("--stamp-return-segs: %q is not an IPv6 SID", f)
			}
			r.ReturnSegments = append(r.ReturnSegments, a)
		}
	}
	if v := c.String("stamp-return-addr"); v != "" {
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is6() || a.Is4In6() {
			return r, fmt.Errorf("--stamp-return-addr %q: want an IPv6 address", v)
		}
		r.ReturnAddress = a
	}
	if f := c.String("stamp-hmac-key-file"); f != "" {
		var err error
		if r.HMACKey, err = probes.ReadSTAMPKey(f); err != nil {
			return r, fmt.Errorf("--stamp-hmac-key-file %w", err)
		}
	}
	return r, nil
}

// runStamp is `srv6-ping --stamp`: STAMP test packets (probes/stamp) to srv6-agent's reflector.
func runStamp(ctx context.Context, c *cli.Context, out io.Writer) error {
	o, err := parseStamp(c)
	if err != nil {
		return fail(err)
	}
	sender, err := stamp.New(o.Target, o.Options)
	if err != nil {
		return fail(err)
	}
	defer sender.Close()
	o.Options = sender.Options() // the size the TLVs made
	src, reflector := sender.LocalAddr(), sender.Reflector()
	var view *output.IOAMView
	if o.IOAM != nil {
		offset, err := probes.TAIOffset()
		if err != nil {
			return fail(err)
		}
		// Inside a srv6-testnet lab the nodes' names label their IOAM ids.
		names := &output.Names{NoDNS: true}
		_ = s6cli.LabelFrom(names, "", "", false)
		view = &output.IOAMView{Names: names, Trace: o.IOAM, Clock: o.ioamClock, Shared: o.SharedClock,
			Prober: probes.LocalClock().ClockEnd(), TAIOffset: offset}
	}

	jsonMode, linesMode := c.Bool("json"), c.Bool("json-lines")
	quiet, stampTime := c.Bool("q"), c.Bool("D")
	enc := json.NewEncoder(out)
	var results []output.StampResult
	if !jsonMode && !linesMode {
		fmt.Fprintf(out, "SRV6-PING STAMP %s, reflector port %d: %d bytes of UDP payload, from [%s]:%d\n",
			o.Target, o.Port, o.Size, src.Addr(), src.Port())
		if t := o.IOAM; t != nil {
			fmt.Fprintf(out, "IOAM trace: namespace %d, type %s, %d entries, returned by reflectors that reflect it\n",
				t.Namespace, strings.Join(t.Type.Names(), ","), len(t.Data)/(4*int(t.NodeLen)))
		}
	}
	sum, err := sender.Run(ctx, func(p stamp.Outcome) {
		switch {
		case jsonMode, linesMode:
			j := output.NewStampResult(p, o.SharedClock)
			if view != nil {
				view.StampJSON(&p, &j)
			}
			if p.Reply != nil {
				j.TLVs = output.NewStampTLVs(p.Reply, &o.TLVs)
			}
			if jsonMode {
				results = append(results, j)
				return
			}
			j.Type = "result"
			_ = enc.Encode(j)
		case quiet:
		default:
			line := output.FormatStampOutcome(p, o.Target, o.Options)
			if stampTime {
				line = stampReceiveTime(p.Reply) + line
			}
			fmt.Fprintln(out, line)
			if p.Reply != nil {
				fmt.Fprint(out, output.FormatStampTLVs(output.NewStampTLVs(p.Reply, &o.TLVs)))
			}
			if view != nil {
				fmt.Fprint(out, view.StampLines(&p))
			}
		}
	})
	if err != nil {
		return fail(err)
	}
	switch {
	case jsonMode:
		if err := s6cli.WriteJSON(out, output.NewStampDocument(o.Target, o.Options, src, reflector, results, &sum, view)); err != nil {
			return fail(err)
		}
	case linesMode:
		s := output.NewStampSummary(&sum, o.SharedClock)
		s.Type = "summary"
		_ = enc.Encode(s)
	default:
		output.FormatStampSummary(out, &sum, o.Options, reflector)
	}
	if sum.Received > 0 {
		return nil
	}
	return cli.Exit("", exitNoReply)
}

// stampReceiveTime is -D's prefix: when the reply was received (T4, on CLOCK_TAI).
func stampReceiveTime(r *stamp.Result) string {
	var t time.Time
	if r != nil && r.T4 != 0 {
		off, _ := probes.TAIOffset()
		t = time.Unix(0, r.T4-int64(off))
	}
	return s6cli.ReceiveTime(t)
}
