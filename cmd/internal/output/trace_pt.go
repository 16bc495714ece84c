package output

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/pt"
	"github.com/srv6oam/srv6oam/probes/pathtrace"
)

// PTNames names Path Tracing interface ids ("r1:to-r2"), as --pt-names gives them.
type PTNames map[uint16]string

// ParsePTNames reads "ID=NAME,ID=NAME" (ids decimal or 0x hex).
func ParsePTNames(s string) (PTNames, error) {
	names := PTNames{}
	if strings.TrimSpace(s) == "" {
		return names, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		var id uint64
		if ok {
			_, err := fmt.Sscan(k, &id)
			ok = err == nil && id >= 1 && id <= pt.MaxInterfaceID && v != ""
		}
		if !ok {
			return nil, fmt.Errorf("--pt-names %q: %q is not ID=NAME with an interface id of 1 to %d", s, kv, pt.MaxInterfaceID)
		}
		names[uint16(id)] = v
	}
	return names, nil
}

// PTPrinter writes srv6-trace --pt's text.
type PTPrinter struct {
	W        io.Writer
	Names    PTNames
	Template pt.Template
}

// Header is the first line: what is traced, how.
func (p *PTPrinter) Header(target oam.Target, src netip.Addr, opts pathtrace.Options) {
	via := ""
	if len(target.Segments) > 0 {
		via = " via " + target.Segments.String()
	}
	fmt.Fprintf(p.W, "srv6-trace --pt to %s%s and back to %s: %d probes, %d MCDs, template %d (%s units, wrapping every %s)\n",
		target.Destination, via, src, opts.Count, opts.MCDs, opts.Template, fmtDur(opts.Template.Resolution()), fmtDur(opts.Template.Wrap()))
}

// Result prints one probe: the interfaces it left by, in order, with load and timing.
func (p *PTPrinter) Result(r *pathtrace.Result, timeout time.Duration) {
	switch {
	case r.Lost:
		fmt.Fprintf(p.W, "probe %d: lost (not back within %s)\n", r.Seq, fmtDur(timeout))
		return
	case r.Err != nil:
		fmt.Fprintf(p.W, "probe %d: back in %s, unreadable: %v\n", r.Seq, fmtMS(r.RTT), r.Err)
		return
	}
	n := fmt.Sprintf("%d midpoints", len(r.Hops))
	if len(r.Hops) == 1 {
		n = "1 midpoint"
	}
	if r.Full {
		n += " (the stack is full: midpoints before the first shown fell off it; send more with --pt-mcds)"
	}
	fmt.Fprintf(p.W, "probe %d: back in %s, %s\n", r.Seq, fmtMS(r.RTT), n)
	if len(r.Hops) == 0 {
		fmt.Fprintln(p.W, "  (no midpoint wrote an MCD: none on the path, or they dropped or did not read the Hop-by-Hop header)")
	}
	for i := range r.Hops {
		var prev *pathtrace.Hop
		if i > 0 {
			prev = &r.Hops[i-1]
		}
		fmt.Fprintf(p.W, "  %2d  %s\n", i+1, p.hop(&r.Hops[i], prev, r.Sent))
	}
}

// hop renders one MCD: "if 0x012 r1:to-r2   load  0  sent +0.197..+0.201 ms  hop +0.131..+0.139 ms".
func (p *PTPrinter) hop(h, prev *pathtrace.Hop, sent time.Time) string {
	s := fmt.Sprintf("if 0x%03x %-12s load %2d  ", h.Interface, p.Names[h.Interface], h.Load)
	switch {
	case h.Candidates == 0:
		return s + fmt.Sprintf("TTS %#02x fits no time the probe was out (the midpoint's clock or template differs)", h.TTS)
	case h.Candidates > 1:
		return s + fmt.Sprintf("time ambiguous: template %d wraps every %s, the probe was out longer", p.Template, fmtDur(p.Template.Wrap()))
	}
	s += "sent " + span(h.Earliest.Sub(sent), h.Latest.Sub(sent))
	if prev == nil || prev.Candidates != 1 {
		return s
	}
	lo, hi := h.Earliest.Sub(prev.Latest), h.Latest.Sub(prev.Earliest)
	switch {
	case hi < 0:
		s += fmt.Sprintf("  %s before the hop it follows (clocks disagree)", fmtMS(-hi))
	case h.At.Equal(prev.At):
		s += "  (same TTS unit as the hop before)"
	default:
		s += "  hop " + span(max(lo, 0), hi)
	}
	return s
}

// span is "+a..+b ms", or "+a ms" when a and b print the same.
func span(a, b time.Duration) string {
	as, bs := signedMS(a), signedMS(b)
	if as == bs {
		return as
	}
	return strings.TrimSuffix(as, " ms") + ".." + bs
}

// Summary prints the closing lines: how many came back, the paths they took.
func (p *PTPrinter) Summary(sum pathtrace.Summary) {
	fmt.Fprintf(p.W, "--- %d probes sent, %d back, %d paths\n", sum.Sent, sum.Received, len(sum.Paths))
	for _, k := range sortedPaths(sum.Paths) {
		named := k
		if len(p.Names) > 0 {
			named = p.namedPath(k)
		}
		fmt.Fprintf(p.W, "  %s  (%d probes)\n", named, sum.Paths[k])
	}
	fmt.Fprintf(p.W, "(times at the template's resolution, %s; between midpoints of different hosts as good as their clocks' synchronisation)\n", fmtDur(p.Template.Resolution()))
}

func (p *PTPrinter) namedPath(key string) string {
	var out []string
	for _, f := range strings.Split(key, ">") {
		var id uint64
		fmt.Sscan(f, &id)
		if n := p.Names[uint16(id)]; n != "" {
			f = n
		}
		out = append(out, f)
	}
	return strings.Join(out, " > ")
}

func sortedPaths(paths map[string]int) []string {
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if paths[keys[i]] != paths[keys[j]] {
			return paths[keys[i]] > paths[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

func fmtMS(d time.Duration) string { return oam.FormatMillis(d) + " ms" }

func signedMS(d time.Duration) string { return fmt.Sprintf("%+.3f ms", float64(d)/1e6) }

func fmtDur(d time.Duration) string {
	if d >= time.Second {
		return d.String()
	}
	if d < time.Millisecond {
		return fmt.Sprintf("%.3f µs", float64(d)/1e3)
	}
	return fmt.Sprintf("%.3f ms", float64(d)/1e6)
}

// PTDocument is srv6-trace --pt --json.
type PTDocument struct {
	Command string      `json:"command"`
	Version int         `json:"version"`
	Mode    string      `json:"mode"` // "pt"
	Target  TraceTarget `json:"target"`
	Options PTOptions   `json:"options"`
	Probes  []PTProbe   `json:"probes"`
	Sent    int         `json:"sent"`
	Back    int         `json:"received"`
	Paths   []PTPath    `json:"paths"`
}

// PTOptions are the options of the run.
type PTOptions struct {
	Count        int     `json:"count"`
	MCDs         int     `json:"mcds"`
	Template     int     `json:"template"`
	ResolutionNS int64   `json:"resolution_ns"`
	WrapNS       int64   `json:"wrap_ns"`
	TimeoutMS    float64 `json:"timeout_ms"`
	FlowLabel    uint32  `json:"flow_label"`
	Session      uint16  `json:"session"`
}

// PTProbe is one probe.
type PTProbe struct {
	Seq   uint16   `json:"seq"`
	Lost  bool     `json:"lost"`
	Error string   `json:"error,omitempty"`
	Sent  string   `json:"sent"`
	RTTMS *float64 `json:"rtt_ms,omitempty"`
	Full  bool     `json:"full"`
	Hops  []PTHop  `json:"hops"`
}

// PTHop is one midpoint's MCD and what was made of it.
type PTHop struct {
	Interface  uint16 `json:"interface"`
	Name       string `json:"name,omitempty"`
	Load       uint8  `json:"load"`
	TTS        uint8  `json:"tts"`
	Candidates int    `json:"candidates"`
	// AtMS is the start of the TTS unit the midpoint sent in, from the probe's transmission,
	// when Candidates is 1 (it may precede the transmission: the unit began before it);
	// SentMinMS and SentMaxMS bound when the midpoint sent, the unit within the probe's
	// window; DelayMS is AtMS less the previous hop's (or the source's transmission).
	AtMS      *float64 `json:"at_ms,omitempty"`
	SentMinMS *float64 `json:"sent_min_ms,omitempty"`
	SentMaxMS *float64 `json:"sent_max_ms,omitempty"`
	DelayMS   *float64 `json:"delay_ms,omitempty"`
}

// PTPath is one path and how many probes took it.
type PTPath struct {
	Interfaces []uint16 `json:"interfaces"`
	Names      []string `json:"names,omitempty"`
	Probes     int      `json:"probes"`
}

// NewPTDocument assembles the document.
func NewPTDocument(target oam.Target, src netip.Addr, opts pathtrace.Options, results []pathtrace.Result, sum pathtrace.Summary, names PTNames) PTDocument {
	doc := PTDocument{Command: "srv6-trace", Version: 1, Mode: "pt",
		Target: TraceTarget{Destination: target.Destination.String(), Segments: segStrings(target.Segments), Encoding: "insert", Source: src.String()},
		Options: PTOptions{Count: opts.Count, MCDs: opts.MCDs, Template: int(opts.Template), ResolutionNS: int64(opts.Template.Resolution()),
			WrapNS: int64(opts.Template.Wrap()), TimeoutMS: ms(opts.Timeout), FlowLabel: opts.FlowLabel, Session: opts.Session},
		Probes: []PTProbe{}, Paths: []PTPath{}, Sent: sum.Sent, Back: sum.Received}
	for _, r := range results {
		j := PTProbe{Seq: r.Seq, Lost: r.Lost, Sent: r.Sent.UTC().Format(time.RFC3339Nano), Full: r.Full, Hops: []PTHop{}}
		if r.Err != nil {
			j.Error = r.Err.Error()
		}
		if !r.Lost {
			v := ms(r.RTT)
			j.RTTMS = &v
		}
		for _, h := range r.Hops {
			jh := PTHop{Interface: h.Interface, Name: names[h.Interface], Load: h.Load, TTS: h.TTS, Candidates: h.Candidates}
			if h.Candidates == 1 {
				at, lo, hi := ms(h.At.Sub(r.Sent)), ms(h.Earliest.Sub(r.Sent)), ms(h.Latest.Sub(r.Sent))
				jh.AtMS, jh.SentMinMS, jh.SentMaxMS = &at, &lo, &hi
			}
			if h.DelayKnown {
				v := ms(h.Delay)
				jh.DelayMS = &v
			}
			j.Hops = append(j.Hops, jh)
		}
		doc.Probes = append(doc.Probes, j)
	}
	for _, k := range sortedPaths(sum.Paths) {
		var path PTPath
		path.Probes = sum.Paths[k]
		path.Interfaces = []uint16{}
		for f := range strings.SplitSeq(k, ">") {
			var id uint64
			if _, err := fmt.Sscan(f, &id); err == nil {
				path.Interfaces = append(path.Interfaces, uint16(id))
			}
		}
		if len(names) > 0 {
			for _, id := range path.Interfaces {
				path.Names = append(path.Names, names[id])
			}
		}
		doc.Paths = append(doc.Paths, path)
	}
	return doc
}

func segStrings(segs oam.SegmentList) []string {
	out := make([]string, 0, len(segs))
	for _, s := range segs {
		out = append(out, s.String())
	}
	return slices.Clip(out)
}
