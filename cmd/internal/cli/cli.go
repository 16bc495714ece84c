// Package cli is what the srv6oam commands share around their flags: running an urfave/cli
// app with iputils' exit statuses and one-line errors, iputils-style argument order, the
// parsers of flags several commands have (-I, -F, --segs with DESTINATION, --pcap), and the
// output helpers (-D's receive time, JSON documents). Each command keeps its own flags and
// calls its engine; nothing outside cmd/ imports this.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
)

// Exit statuses, as iputils ping and traceroute use them: 0 success, 1 no reply (or a path
// that does not match), 2 an error.
const (
	ExitOK    = 0
	ExitNo    = 1
	ExitError = 2
)

// Fail is an error that ends the command with ExitError, printed as one line.
func Fail(err error) error { return cli.Exit(err.Error(), ExitError) }

// Main runs app on os.Args (flags moved before arguments, as iputils accepts them) and exits:
// with the status of a cli.ExitCoder, printing its message as "NAME: message" on standard
// error, or with ExitError and the error's line.
func Main(app *cli.App) {
	// Exit codes and messages are ours, not urfave's default handler's.
	app.ExitErrHandler = func(*cli.Context, error) {}
	err := app.Run(FlagsFirst(app.Flags, os.Args))
	if err == nil {
		return
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, app.Name+": "+msg)
		}
		os.Exit(ec.ExitCode())
	}
	fmt.Fprintln(os.Stderr, app.Name+": "+err.Error())
	os.Exit(ExitError)
}

// FlagsFirst moves arguments that are not flags after the flags, so that "srv6-ping DEST -c 3"
// works as it does with iputils (urfave/cli stops at the first argument that is not a flag).
func FlagsFirst(flags []cli.Flag, args []string) []string {
	takesNoValue := map[string]bool{"h": true, "help": true}
	for _, f := range flags {
		if _, ok := f.(*cli.BoolFlag); ok {
			for _, n := range f.Names() {
				takesNoValue[n] = true
			}
		}
	}
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

// ParseTarget reads DESTINATION and --segs. The destination is the final segment, so
// "--segs A,B,D D" means "--segs A,B D" unless keepLast (--decap: the last SID decapsulates and
// may equal D).
func ParseTarget(c *cli.Context, usage string, keepLast bool) (oam.Target, error) {
	var target oam.Target
	switch c.NArg() {
	case 0:
		return target, fmt.Errorf("missing DESTINATION (usage: %s)", usage)
	case 1:
	default:
		return target, fmt.Errorf("one DESTINATION expected, got %q (options go before DESTINATION)", c.Args().Slice())
	}
	dst, err := oam.ParseSegment(c.Args().First())
	if err != nil {
		return target, fmt.Errorf("destination: %w", err)
	}
	target.Destination = dst
	if c.IsSet("segs") {
		segs, err := oam.ParseSegmentList(c.String("segs"))
		if err != nil {
			return target, fmt.Errorf("--segs: %w", err)
		}
		if segs[len(segs)-1] == dst && !keepLast {
			segs = segs[:len(segs)-1]
		}
		target.Segments = segs
	}
	return target, nil
}

// ParseSource reads -I: an IPv6 address or an interface name.
func ParseSource(i string) (netip.Addr, string, error) {
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

// ParseFlowLabel reads -F: hex, at most 20 bits; "" is 0.
func ParseFlowLabel(f string) (uint32, error) {
	if f == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(f), "0x"), 16, 32)
	if err != nil || v > 0xfffff {
		return 0, fmt.Errorf("-F %s: the flow label is a hex number of at most 20 bits (0 to fffff)", f)
	}
	return uint32(v), nil
}

// OpenPcap opens --pcap's file (path "" opens nothing) and sets *tap; the function it returns
// closes it and reports a write error on standard error, as "name: --pcap: ...".
func OpenPcap(name, path string, tap *probes.Tap) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--pcap: %w", err)
	}
	t, err := probes.NewPcapTap(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("--pcap %s: %w", path, err)
	}
	*tap = t
	return func() {
		if err := errors.Join(t.Err(), f.Close()); err != nil {
			fmt.Fprintln(os.Stderr, name+": --pcap: "+err.Error())
		}
	}, nil
}

// ReceiveTime is -D's prefix, as iputils prints it: "[seconds.microseconds] " of when the
// answer was received; the zero time (no answer) prints the time now.
func ReceiveTime(t time.Time) string {
	if t.IsZero() {
		t = time.Now()
	}
	return fmt.Sprintf("[%d.%06d] ", t.Unix(), t.Nanosecond()/1000)
}

// WriteJSON writes one indented JSON document.
func WriteJSON(w io.Writer, doc any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
