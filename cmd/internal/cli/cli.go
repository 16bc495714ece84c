// Package cli is what the srv6oam commands share around their flags: running an urfave/cli
// app with iputils' exit statuses and one-line errors (usage errors as iputils and the
// Prometheus tools report them), iputils-style arguments (-c1, options after DESTINATION), the
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
	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
)

// ParseTarget reads DESTINATION and --segs. The destination is the final segment, so
// "--segs A,B,D D" means "--segs A,B D" unless keepLast (--decap: the last SID decapsulates and
// may equal D). It returns the SID structure --segs's compressed runs say (zero without).
func ParseTarget(c *cli.Context, usage string, keepLast bool) (oam.Target, oam.SIDStructure, error) {
	var target oam.Target
	var structure oam.SIDStructure
	switch c.NArg() {
	case 0:
		return target, structure, Usage("missing DESTINATION (usage: %s)", usage)
	case 1:
	default:
		return target, structure, Usage("extra argument %q: one DESTINATION expected", c.Args().Get(1))
	}
	dst, err := oam.ParseSegment(c.Args().First())
	if err != nil {
		return target, structure, fmt.Errorf("destination: %w", err)
	}
	target.Destination = dst
	if c.IsSet("segs") {
		csidBits := 0
		if c.IsSet("sid-structure") {
			if s, err := oam.ParseSIDStructure(c.String("sid-structure")); err == nil {
				csidBits = s.CSIDBits
			}
		}
		segs, s, err := ParseSegments(c.String("segs"), csidBits)
		if err != nil {
			return target, structure, fmt.Errorf("--segs: %w", err)
		}
		if segs[len(segs)-1] == dst && !keepLast {
			segs = segs[:len(segs)-1]
		}
		target.Segments, structure = segs, s
	}
	return target, structure, nil
}

// ParseSource reads -I: an IPv6 address of this host or an interface name. An address the
// host does not have is refused, as iputils ping refuses it when it binds its socket ("bind
// icmp socket: Cannot assign requested address"): our probes are crafted whole, so nothing
// else would stop them from leaving with a spoofed source.
func ParseSource(i string) (netip.Addr, string, error) {
	if i == "" {
		return netip.Addr{}, "", nil
	}
	if a, err := netip.ParseAddr(i); err == nil {
		if !a.Is6() || a.Is4In6() {
			return netip.Addr{}, "", fmt.Errorf("-I %s: the source must be an IPv6 address or an interface name", i)
		}
		if err := probes.CheckLocal(a); err != nil {
			switch {
			case errors.Is(err, unix.EADDRNOTAVAIL):
				err = fmt.Errorf("%w (not an address of this host)", err)
			case errors.Is(err, unix.EINVAL) && a.IsLinkLocalUnicast() && a.Zone() == "":
				err = fmt.Errorf("%w (a link-local source needs its interface: %s%%IFACE)", err, a)
			}
			return netip.Addr{}, "", fmt.Errorf("-I %s: %w", i, err)
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
