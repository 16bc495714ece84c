package main

import (
	"github.com/urfave/cli/v2"

	s6cli "github.com/srv6oam/srv6oam/cmd/internal/cli"
	"github.com/srv6oam/srv6oam/oam"
)

// flags are every flag of srv6-ping, in --help's order.
func flags() []cli.Flag {
	return append(append(append([]cli.Flag{
		&cli.IntFlag{Name: "c", Usage: "stop after `COUNT` probes (0: until interrupted)"},
		&cli.Float64Flag{Name: "i", Value: 1, Usage: "`SECONDS` between probes"},
		&cli.Float64Flag{Name: "W", Value: 10, Usage: "`SECONDS` to wait for a reply before a probe counts as lost"},
		&cli.IntFlag{Name: "s", Value: 56, Usage: "`BYTES` of echo data after the 8-byte ICMPv6 header"},
		&cli.BoolFlag{Name: "v", Usage: "under each ICMPv6 error, the packet it quoted, decoded header by header (outer IPv6, Hop-by-Hop options, the SRH's segments, Segments Left and TLVs, inner headers); with --json a quote object per error"},
		&cli.StringFlag{Name: "M", Usage: "path MTU discovery `HINT`, as iputils: do and probe are what srv6-ping always does (probes are crafted whole and never fragmented; a hop that cannot forward one answers Packet Too Big, printed with its MTU); want and dont are refused. Sweep -s to find the largest that crosses, or see srv6-trace --pmtu", DefaultText: "do"},
		&cli.IntFlag{Name: "t", Value: 64, Usage: "hop `LIMIT` of the probes (outer and inner header)"},
		&cli.StringFlag{Name: "I", Usage: "source `ADDRESS` or INTERFACE name to send from"},
		&cli.BoolFlag{Name: "q", Usage: "quiet: print only the first line and the statistics"},
		&cli.BoolFlag{Name: "D", Usage: "print the receive time [unix seconds.microseconds] before each line"},
		&cli.StringFlag{Name: "F", Usage: "flow `LABEL` in hex (20 bits), as iputils -F"},
		&cli.IntFlag{Name: "Q", Usage: "traffic `CLASS` (0-255) of the probes"},
		&cli.StringFlag{Name: "segs", Usage: s6cli.SegsUsage},
	}, s6cli.EncodingFlags()...), []cli.Flag{
		&cli.BoolFlag{Name: "oam", Usage: "set the O-flag (RFC 9259) in the SRH"},
		&cli.UintFlag{Name: "hmac-keyid", Usage: "sign the SRH with HMAC key `ID` (as 'ip sr hmac set ID'); needs --hmac-secret-file"},
		&cli.PathFlag{Name: "hmac-secret-file", Usage: "`FILE` holding the HMAC secret (trailing newline ignored)"},
		&cli.StringFlag{Name: "hmac-algo", Value: "sha256", Usage: "HMAC `ALGORITHM`: sha256 or sha1"},
		&cli.BoolFlag{Name: "json", Usage: "print one JSON document at the end instead of text (docs/json.md)"},
		&cli.BoolFlag{Name: "json-lines", Usage: "print one JSON object per result and one for the statistics"},
		&cli.PathFlag{Name: "pcap", Usage: "write every packet sent and received to `FILE` (pcap, link type RAW)"},
		&cli.BoolFlag{Name: "timestamps", Usage: "per-segment one-way delay, loss and liveness: every --segs SID and DESTINATION must be an End.OAM SID of srv6-agent; the probe returns to this host (docs/srv6-ping.md, docs/delay-measurement.md); -W defaults to 2 here"},
		&cli.IntFlag{Name: "collector-port", Usage: "--timestamps: UDP `PORT` of the built-in collector the agents report to (0: any free port)"},
		&cli.IntFlag{Name: "detect-mult", Value: 3, Usage: "--timestamps: a segment is down after `N` consecutive probes lost on it (as BFD's detect multiplier)"},
		&cli.IntFlag{Name: "up-mult", Value: 3, Usage: "--timestamps: a segment is up after `N` consecutive probes crossed it"},
		&cli.BoolFlag{Name: "shared-clock", Usage: "--timestamps, --stamp and --ioam: every node reads this host's clock (e.g. a lab of namespaces on one host): one-way delays need no synchronisation, so an unsynchronised adjtimex state is not flagged and no error bound is printed"},
		&cli.Float64Flag{Name: "linger", Value: 0.1, Usage: "--timestamps: `SECONDS` a probe that came back waits for the agents' reports (they batch them for up to 10 ms)"},
		&cli.StringFlag{Name: "names", Usage: "--timestamps: comma-separated `NAMES` printed instead of the --segs SIDs and DESTINATION, in order"},
		&cli.BoolFlag{Name: "stamp", Usage: "two-way delay with STAMP test packets (RFC 8762, UDP) to srv6-agent's reflector on DESTINATION, through --segs when given: round trip, forward and backward one-way delays and the reflector's residence time (docs/srv6-ping.md); -W defaults to 2 here, -s is the UDP payload (44 to 1232, default 44)"},
		&cli.IntFlag{Name: "stamp-port", Value: oam.STAMPPort, Usage: "--stamp: UDP `PORT` of the reflector"},
		&cli.StringFlag{Name: "stamp-timestamps", Value: "ntp", Usage: "--stamp: the test packets' timestamp `FORMAT`: ntp (RFC 8762's default, UTC) or ptp (PTPv2, CLOCK_TAI); replies are read in whichever format the reflector uses"},
		&cli.StringFlag{Name: "stamp-tlv", Usage: "--stamp: RFC 8972 / 9503 TLVs every test packet carries, comma-separated `LIST` of location (the addresses and ports the reflector saw), timestamp-info (its clock source and timestamping methods), cos=DSCP (the reply's DSCP; the DSCP and ECN the test packet arrived with), direct (Direct Measurement: loss per direction from a stateful reflector), follow-up (the previous reply's real transmit time), dna=ADDR (Destination Node Address: only ADDR should answer)"},
		&cli.StringFlag{Name: "stamp-return-segs", Usage: "--stamp: Return Path TLV (RFC 9503): the reflector sends its reply through this comma-separated SRv6 segment `LIST` (this host needs seg6_enabled to accept it), measuring a chosen return path"},
		&cli.StringFlag{Name: "stamp-return-addr", Usage: "--stamp: Return Path TLV: the reflector sends its reply to `ADDR` instead of this host (only an address of its senders allow-list)"},
		&cli.StringFlag{Name: "stamp-hmac-key-file", Usage: "--stamp: an HMAC TLV (RFC 8972 §4.8, HMAC-SHA-256/128) with the key in `FILE` protects the TLVs both ways; the reflector needs the same key"},
		&cli.StringFlag{Name: "stamp-auth-key-file", Usage: "--stamp: authenticated mode (RFC 8762 §4.4): 112-octet test packets with an HMAC under the key in `FILE` (at least 16 bytes); replies whose HMAC does not verify are counted and ignored; not with TLVs"},
		&cli.IntFlag{Name: "stamp-ssid", Usage: "--stamp: the Session-Sender Identifier `SSID` (RFC 8972, 0-65535) every test packet carries; replies must carry it back", DefaultText: "0, none"},
	}...), s6cli.IOAMFlags()...)
}
