package output

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/srv6oam/srv6oam/probes/trace"
)

// ExpectHop is one HOP of --expect: a node name or an address, or several separated by "/"
// (any of them may answer).
type ExpectHop []string

func (e ExpectHop) String() string { return strings.Join(e, "/") }

// ParseExpectation parses "HOP,HOP,..." where HOP is a name or address and "a/b" means either.
// The error names the HOP at fault, counting from 1.
func ParseExpectation(s string) ([]ExpectHop, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("--expect: empty hop list")
	}
	parts := strings.Split(s, ",")
	out := make([]ExpectHop, 0, len(parts))
	for i, p := range parts {
		var hop ExpectHop
		for _, alt := range strings.Split(p, "/") {
			alt = strings.TrimSpace(alt)
			if alt == "" {
				return nil, fmt.Errorf("--expect: hop %d of %d (%q): empty name", i+1, len(parts), p)
			}
			if strings.ContainsAny(alt, " \t*") {
				return nil, fmt.Errorf("--expect: hop %d of %d (%q): %q is neither a name nor an address", i+1, len(parts), p, alt)
			}
			hop = append(hop, alt)
		}
		out = append(out, hop)
	}
	return out, nil
}

// CheckRow is one line of a path check: what was expected at a position, what answered there.
type CheckRow struct {
	TTL      int
	Expected string
	// Got lists the addresses that answered at this hop ("*" when none answered); empty when
	// the path was shorter than expected.
	Got []string
	OK  bool
}

// PathCheck is the check of one path (one ECMP branch).
type PathCheck struct {
	Branch int
	Flows  []uint32
	OK     bool
	Rows   []CheckRow
}

// Validation is the verdict of --expect over every path a trace took.
type Validation struct {
	OK    bool
	Paths []PathCheck
}

// Expectation is an --expect list with every name resolved to addresses.
type Expectation struct {
	Hops  []ExpectHop
	addrs [][]netip.Addr
}

// Resolve resolves the names of an --expect list through names (lab topology, /etc/hosts,
// DNS); the error names the hop that cannot be resolved.
func Resolve(ctx context.Context, expect []ExpectHop, names *Names) (*Expectation, error) {
	e := &Expectation{Hops: expect, addrs: make([][]netip.Addr, len(expect))}
	for i, hop := range expect {
		for _, alt := range hop {
			addrs, err := names.Resolve(ctx, alt)
			if err != nil {
				return nil, fmt.Errorf("--expect: hop %d (%s): cannot resolve %q: %w", i+1, hop, alt, err)
			}
			e.addrs[i] = append(e.addrs[i], addrs...)
		}
	}
	return e, nil
}

// Check compares every path of the report (each ECMP branch, or the one path) with the
// expected hops, in the order srv6-trace prints them, the destination last. A hop matches when
// every address that answered there is one of the alternatives; a hop that did not answer
// never matches. names labels the addresses of the diff.
func (e *Expectation) Check(ctx context.Context, rep *trace.Report, names *Names) *Validation {
	expect, resolved := e.Hops, e.addrs
	paths := []trace.Branch{{Hops: rep.Hops, Flows: []uint32{0}}}
	if len(rep.Branches) > 0 {
		paths = rep.Branches
	}
	v := &Validation{OK: true}
	for b, br := range paths {
		pc := PathCheck{Branch: b + 1, Flows: br.Flows, OK: true}
		for i := 0; i < max(len(expect), len(br.Hops)); i++ {
			row := CheckRow{OK: true}
			if i < len(br.Hops) {
				h := br.Hops[i]
				row.TTL = h.TTL
				rs := h.Responders()
				if len(rs) == 0 {
					row.Got = []string{"*"}
					row.OK = false
				}
				for _, a := range rs {
					label := a.String()
					if name := names.Name(ctx, a); name != "" {
						label += " (" + name + ")"
					}
					row.Got = append(row.Got, label)
					if i >= len(expect) || !contains(resolved[i], a) {
						row.OK = false
					}
				}
			} else {
				row.OK = false
			}
			if i < len(expect) {
				row.Expected = expect[i].String()
			} else {
				row.OK = false
			}
			if !row.OK {
				pc.OK = false
			}
			pc.Rows = append(pc.Rows, row)
		}
		if !pc.OK {
			v.OK = false
		}
		v.Paths = append(v.Paths, pc)
	}
	return v
}

// WriteDiff prints the paths that did not match, one row per hop, "!" marking the hops at fault:
//
//	path 2 of 2 (flows 0x09e3b, …) does not match --expect:
//	   hop  expected  got
//	   1    r1        fd00:0:0:1::2 (r1)
//	!  2    r3        fd00:0:0:2::2 (r2)
func (v *Validation) WriteDiff(w io.Writer) {
	for _, pc := range v.Paths {
		if pc.OK {
			continue
		}
		what := "the path"
		if len(v.Paths) > 1 {
			what = fmt.Sprintf("branch %d of %d (%s)", pc.Branch, len(v.Paths), flowList(pc.Flows))
		}
		fmt.Fprintf(w, "%s does not match --expect:\n", what)
		width := len("expected")
		for _, r := range pc.Rows {
			width = max(width, len(r.Expected))
		}
		fmt.Fprintf(w, "   hop  %-*s  got\n", width, "expected")
		for i, r := range pc.Rows {
			mark := "  "
			if !r.OK {
				mark = "! "
			}
			hop := fmt.Sprint(i + 1)
			exp := r.Expected
			if exp == "" {
				exp = "(nothing more)"
			}
			got := strings.Join(r.Got, ", ")
			if got == "" {
				got = "(path ended)"
			}
			fmt.Fprintf(w, " %s%-4s %-*s  %s\n", mark, hop, width, exp, got)
		}
	}
}

func flowList(flows []uint32) string {
	var b strings.Builder
	b.WriteString("flow")
	if len(flows) > 1 {
		b.WriteString("s")
	}
	for i, f := range flows {
		if i == 4 {
			fmt.Fprintf(&b, ", … %d in all", len(flows))
			break
		}
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %#05x", f)
	}
	return b.String()
}

func contains(s []netip.Addr, a netip.Addr) bool {
	for _, x := range s {
		if x == a {
			return true
		}
	}
	return false
}
