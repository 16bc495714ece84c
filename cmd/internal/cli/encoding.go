package cli

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
)

// SegsUsage is the help text of --segs, the same in every command.
const SegsUsage = "`SIDS` to visit before DESTINATION, in order: comma-separated addresses (full SIDs or uSID containers), " +
	"or compressed C-SIDs after their block, 'BLOCK/LEN CSID,CSID,...' (fcbb:0::/32 0400,0300,d46), also as one element 'BLOCK/LEN{CSID,...}'"

// EncodingFlags are the flags that say how probes carry their segment list, shared by srv6-ping
// and srv6-trace: the headend behaviours of RFC 8986 as Linux builds them, the decapsulating last
// SID, and the SID structure of compressed SIDs. No backquotes in a switch's usage: urfave/cli
// prints the first backquoted text as the flag's placeholder.
func EncodingFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "encap", Usage: "H.Encaps: an outer IPv6 header and the whole segment list in an SRH around the echo packet; DESTINATION, or the last SID with --decap, decapsulates (the default)"},
		&cli.BoolFlag{Name: "encap-red", Usage: "H.Encaps.Red: as --encap with the first SID in the outer destination only, no SRH at all for one SID (Linux's encap.red)"},
		&cli.BoolFlag{Name: "insert", Usage: "H.Insert: the SRH inserted in the echo packet itself, no outer header (Linux's inline)"},
		&cli.BoolFlag{Name: "insert-red", Usage: "H.Insert.Red: as --insert with the first SID in the destination only"},
		&cli.BoolFlag{Name: "decap", Usage: "--encap and --encap-red: the last --segs SID decapsulates (End.DT6, End.DX6) and DESTINATION is reached as plain IPv6 after it, as with 'ip route add DESTINATION encap seg6 mode encap segs SIDS'"},
		&cli.StringFlag{Name: "sid-structure", Usage: "how compressed SIDs are laid out: `BLOCK/CSID` bits (32/16, the uSID form) or lblen=32,nflen=16 as Linux writes it; read from a compressed --segs, tried from the common ones on quotes otherwise"},
	}
}

// EncodingFlagNames are the flags of EncodingFlags, for commands that check a mode allows them.
var EncodingFlagNames = []string{"encap", "encap-red", "insert", "insert-red", "decap", "sid-structure"}

// ParseSegments reads --segs: comma-separated segments, each an IPv6 address or a compressed
// run "BLOCK/LEN{CSID,CSID}", or the whole list as "BLOCK/LEN CSID,CSID,..." (the form an
// operator types on a router). csidBits is the C-SID width of --sid-structure (0: from the
// C-SIDs as written). It returns the segments (a compressed run becomes as few containers as
// hold it) and the SID structure the compressed runs say, zero when there are none.
func ParseSegments(text string, csidBits int) (oam.SegmentList, oam.SIDStructure, error) {
	t := strings.TrimSpace(text)
	if t == "" {
		return nil, oam.SIDStructure{}, errors.New("segment list is empty")
	}
	if strings.ContainsRune(t, ' ') && !strings.ContainsRune(t, '{') {
		return oam.ParseCompressed(t, csidBits)
	}
	var elems []string
	depth, start := 0, 0
	for i, r := range t {
		switch r {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				elems = append(elems, t[start:i])
				start = i + 1
			}
		}
	}
	elems = append(elems, t[start:])
	var out oam.SegmentList
	var structure oam.SIDStructure
	for i, e := range elems {
		e = strings.TrimSpace(e)
		if strings.ContainsRune(e, '{') {
			segs, s, err := oam.ParseCompressed(e, csidBits)
			if err != nil {
				return nil, structure, fmt.Errorf("segment %d of %d: %w", i+1, len(elems), err)
			}
			if !structure.IsZero() && s != structure {
				return nil, structure, fmt.Errorf("segment %d of %d: SID structure %s, but an earlier one is %s", i+1, len(elems), s, structure)
			}
			structure = s
			out = append(out, segs...)
			continue
		}
		a, err := oam.ParseSegment(e)
		if err != nil {
			return nil, structure, fmt.Errorf("segment %d of %d: %w", i+1, len(elems), err)
		}
		out = append(out, a)
	}
	return out, structure, nil
}

// ParseEncoding reads the flags of EncodingFlags for target (whose segments --segs gave, with
// the structure its compressed runs said): the encoding, the SID structure, and target.Decap.
func ParseEncoding(c *cli.Context, target *oam.Target, fromSegs oam.SIDStructure) (probes.Encoding, oam.SIDStructure, error) {
	enc := probes.Encap
	chosen := ""
	for _, m := range []struct {
		flag string
		enc  probes.Encoding
	}{{"encap", probes.Encap}, {"encap-red", probes.EncapRed}, {"insert", probes.Insert}, {"insert-red", probes.InsertRed}} {
		if !c.Bool(m.flag) {
			continue
		}
		if chosen != "" {
			return enc, oam.SIDStructure{}, fmt.Errorf("--%s and --%s: choose one encoding", chosen, m.flag)
		}
		chosen, enc = m.flag, m.enc
	}
	if chosen != "" && chosen != "encap" && len(target.Segments) == 0 {
		return enc, oam.SIDStructure{}, fmt.Errorf("--%s needs --segs", chosen)
	}
	if c.Bool("decap") {
		if !enc.Encapsulates() || len(target.Segments) == 0 {
			return enc, oam.SIDStructure{}, errors.New("--decap needs --segs and an encapsulation (--encap or --encap-red), not --insert")
		}
		target.Decap = true
	}
	structure := fromSegs
	if c.IsSet("sid-structure") {
		s, err := oam.ParseSIDStructure(c.String("sid-structure"))
		if err != nil {
			return enc, structure, fmt.Errorf("--sid-structure: %w", err)
		}
		if !fromSegs.IsZero() && fromSegs.BlockBits != s.BlockBits {
			return enc, structure, fmt.Errorf("--sid-structure %s: the compressed --segs has a /%d block", s, fromSegs.BlockBits)
		}
		structure = s
	}
	return enc, structure, nil
}

// ParseWait reads -w as traceroute does: MAX[,HERE[,NEAR]], MAX in seconds (more than 0, at
// most 60), HERE and NEAR factors of the round trips already seen (0 turns a rule off).
func ParseWait(text string) (max time.Duration, here, near float64, err error) {
	parts := strings.Split(text, ",")
	if len(parts) > 3 {
		return 0, 0, 0, fmt.Errorf("-w %s: want MAX[,HERE,NEAR]", text)
	}
	vals := []float64{2, 3, 10}
	for i, p := range parts {
		v, perr := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if perr != nil || v < 0 || math.IsNaN(v) {
			return 0, 0, 0, fmt.Errorf("-w %s: %q is not a number of 0 or more", text, p)
		}
		vals[i] = v
	}
	if vals[0] <= 0 || vals[0] > 60 {
		return 0, 0, 0, fmt.Errorf("-w %s: the wait must be more than 0 and at most 60 seconds", text)
	}
	if vals[1] > 1000 || vals[2] > 1000 {
		return 0, 0, 0, fmt.Errorf("-w %s: HERE and NEAR must be at most 1000", text)
	}
	here, near = vals[1], vals[2]
	// The engine's zero means its default: a rule turned off is negative there.
	if here == 0 {
		here = -1
	}
	if near == 0 {
		near = -1
	}
	return time.Duration(vals[0] * float64(time.Second)), here, near, nil
}

// Warn prints each of a preflight's findings on standard error as one line, "name: warning: ...":
// the run goes on (the remote side may differ from what this host can see).
func Warn(name string, lines []string) {
	for _, l := range lines {
		fmt.Fprintf(os.Stderr, "%s: warning: %s\n", name, l)
	}
}
