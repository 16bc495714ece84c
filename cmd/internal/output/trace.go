package output

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/trace"
)

// TracePrinter writes traces as srv6-trace prints them: traceroute's lines, grouped by the segment
// being travelled, SID nodes marked.
type TracePrinter struct {
	W     io.Writer
	Names *Names
	// IOAM prints each hop's IOAM entry under it (srv6-trace --ioam).
	IOAM bool
	// Verbose prints under each hop the packet its first error quoted, decoded (-v).
	Verbose bool
}

// Header prints the first line: "srv6-trace to D via A → B, 30 hops max".
func (p *TracePrinter) Header(target oam.Target, opts trace.Options) {
	fmt.Fprintf(p.W, "srv6-trace to %s, %d hops max", target, opts.MaxHops)
	if opts.ECMP {
		fmt.Fprintf(p.W, ", ECMP discovery (MDA, %.0f%% confidence)", trace.Confidence*100)
	}
	fmt.Fprintln(p.W)
}

// trace.Report prints the hops, or the tree of branches after ECMP discovery.
func (p *TracePrinter) Report(ctx context.Context, rep *trace.Report) {
	p.Names.PrefetchNames(ctx, rep)
	shown := make([]bool, len(rep.NextHops))
	defer p.nextHopsLeft(rep, shown)
	if len(rep.Branches) > 1 {
		p.tree(ctx, rep, shown)
		return
	}
	widthA, widthN := p.widths(ctx, rep.Hops)
	seg := -1
	for _, h := range rep.Hops {
		if len(rep.Path) > 1 && h.Segment >= 0 && h.Segment != seg {
			seg = h.Segment
			fmt.Fprintf(p.W, "segment %d → %s\n", seg+1, rep.Path[seg])
		}
		fmt.Fprintln(p.W, p.hopLine(ctx, h, widthA, widthN))
		if p.IOAM {
			for _, l := range p.ioamLines(&h, "      ") {
				fmt.Fprintln(p.W, l)
			}
		}
		if p.Verbose {
			p.quoteLines(&h)
		}
		p.nextHopsUnder(rep, &h, "     ", shown)
	}
	if p.IOAM {
		p.ioamFooter(rep.Hops)
	}
	if len(rep.Branches) == 1 {
		fmt.Fprintf(p.W, "one path: %d flows, %d probes\n", rep.Flows, rep.Probes)
	}
}

// nextHopsUnder prints the agent's next hops under the hop of a SID node (--agent-nexthops).
func (p *TracePrinter) nextHopsUnder(rep *trace.Report, h *trace.Hop, indent string, shown []bool) {
	n := nextHopsFor(rep.NextHops, h)
	if n == nil {
		return
	}
	mda := -1
	if len(rep.Branches) > 0 {
		mda = trace.MDANextHops(rep, n.Index)
	}
	fmt.Fprintf(p.W, "%s%s\n", indent, nextHopLine(n, mda))
	for i := range rep.NextHops {
		if &rep.NextHops[i] == n {
			shown[i] = true
		}
	}
}

// nextHopsLeft prints the agent answers of SIDs the trace did not show (their node never
// answered), then the next-hop step's error and the hint when a SID had no report.
func (p *TracePrinter) nextHopsLeft(rep *trace.Report, shown []bool) {
	for i := range rep.NextHops {
		n := &rep.NextHops[i]
		if !shown[i] {
			fmt.Fprintf(p.W, "SID %d %s (not seen by the trace): %s\n", n.Index+1, n.SID, nextHopLine(n, -1))
		}
	}
	p.nextHopsFooter(rep.NextHops, rep.NextHopsErr)
}

func (p *TracePrinter) widths(ctx context.Context, hops []trace.Hop) (addr, name int) {
	for _, h := range hops {
		for _, a := range h.Responders() {
			addr = max(addr, len(a.String()))
			name = max(name, len(p.Names.Name(ctx, a)))
		}
	}
	return addr, name
}

// hopLine renders " 3  fd00:0:0:3::2  r2  0.070 ms  0.061 ms  *  [SID fc00:0:3::e End, SL 1→0]".
func (p *TracePrinter) hopLine(ctx context.Context, h trace.Hop, widthA, widthN int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%2d ", h.TTL)
	rs := h.Responders()
	if len(rs) == 0 {
		for range h.Probes {
			b.WriteString(" *")
		}
		return b.String()
	}
	var errs []string
	for ri, a := range rs {
		if ri > 0 {
			b.WriteString("\n   ")
		}
		fmt.Fprintf(&b, " %-*s", widthA, a)
		if widthN > 0 {
			fmt.Fprintf(&b, "  %-*s", widthN, p.Names.Name(ctx, a))
		}
		for _, pr := range h.Probes {
			switch {
			case !pr.Answered:
				if ri == 0 {
					b.WriteString("  *")
				}
			case pr.From == a:
				fmt.Fprintf(&b, "  %s", formatRTT(pr.RTT))
				if pr.Error != "" {
					b.WriteString(" " + shortError(pr.ICMPType, pr.ICMPCode))
					if !containsString(errs, pr.Error) {
						errs = append(errs, pr.Error)
					}
				}
			}
		}
	}
	var notes []string
	if h.SID {
		notes = append(notes, p.sidNote(&h))
	}
	if h.Decapsulated {
		notes = append(notes, p.decapNote(&h, errs))
		errs = nil
	}
	notes = append(notes, errs...)
	if len(notes) > 0 {
		b.WriteString("   [" + strings.Join(notes, "; ") + "]")
	}
	return b.String()
}

// segmentNumber numbers a per-segment line: "2", or "1.3" for the third C-SID of container 1.
func segmentNumber(s *trace.SegmentStatus) string {
	if s.CSID >= 0 {
		return fmt.Sprintf("%d.%d", s.Index+1, s.CSID+1)
	}
	return fmt.Sprint(s.Index + 1)
}

func numWidth(status []trace.SegmentStatus) int {
	w := 0
	for i := range status {
		w = max(w, len(segmentNumber(&status[i])))
	}
	return w
}

// segmentStatusLabel is the segment of a per-segment line: the SID, or a container's C-SID as
// "uSID 0300 = fcbb:0:300::".
func segmentStatusLabel(s *trace.SegmentStatus) string {
	if s.CSID >= 0 {
		return fmt.Sprintf("uSID %s = %s", s.Structure.FormatCSID(s.CSIDValue), s.CSIDAddr)
	}
	return s.SID.String()
}

// decapNote says that the errors of a hop are about the probes' inner packet: "decapsulated by
// SID fcff:2::d46 End.DT6 table 100; the inner packet to fcff:2::d46 found no route in its
// table" for the usual case, a decapsulating SID whose table lookup failed.
func (p *TracePrinter) decapNote(h *trace.Hop, errs []string) string {
	note := "decapsulated"
	if sid := h.DecapSID; sid.IsValid() {
		note += " by SID " + sid.String()
		if beh := p.Names.Behavior(sid); beh != "" {
			note += " " + beh
		}
	}
	if len(errs) == 1 && errs[0] == "Destination unreachable: No route" {
		return note + fmt.Sprintf("; the inner packet to %s found no route in its table", h.Decap)
	}
	if len(errs) > 0 {
		return note + fmt.Sprintf("; then, for the inner packet to %s: %s", h.Decap, strings.Join(errs, "; "))
	}
	return note
}

// sidNote says what the node at a SID hop did: "SID fc00:0:3::e End, SL 1→0", "uSID 0300 =
// fcbb:0:300:: of fcbb:0:400:300:200:d46::" (a container's C-SID consumed), "SID fcff:2::ef1
// End, SL 1→popped: the SRH left here (PSP)".
func (p *TracePrinter) sidNote(h *trace.Hop) string {
	if h.CSID >= 0 {
		s := h.Structure
		addr := s.CSIDAddr(s.Block(h.SIDAddr), h.CSIDValue)
		note := fmt.Sprintf("uSID %s = %s of %s", s.FormatCSID(h.CSIDValue), addr, h.SIDAddr)
		if beh := p.Names.Behavior(addr); beh != "" {
			note += " " + beh
		}
		return note
	}
	note := "SID " + h.SIDAddr.String()
	if beh := p.Names.Behavior(h.SIDAddr); beh != "" {
		note += " " + beh
	}
	switch {
	case h.Popped:
		note += fmt.Sprintf(", SL %d→popped: the SRH left here (PSP)", h.SLBefore)
	case h.SLBefore >= 0 && h.SLAfter >= 0:
		note += fmt.Sprintf(", SL %d→%d", h.SLBefore, h.SLAfter)
	}
	return note
}

func containsString(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// shortError is traceroute's annotation of an error: !N, !H, !X, !P, !S (source policy).
func shortError(typ, code uint8) string {
	switch typ {
	case probes.ICMPv6DestUnreachable:
		switch code {
		case 0:
			return "!N"
		case 1:
			return "!X"
		case 3:
			return "!H"
		case 4:
			return "!P"
		case 5:
			return "!S"
		}
		return fmt.Sprintf("!<%d>", code)
	case probes.ICMPv6ParamProblem:
		return "!PP"
	case probes.ICMPv6PacketTooBig:
		return "!F"
	}
	return fmt.Sprintf("!<%d/%d>", typ, code)
}

// formatRTT prints a round trip as traceroute does: milliseconds with three decimals.
func formatRTT(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// PerSegment prints what per-segment probing found, one line per segment.
func (p *TracePrinter) PerSegment(ctx context.Context, target oam.Target, status []trace.SegmentStatus) {
	p.perSegment(ctx, target, status, nil)
}

// perSegment prints one line per segment, with its one-way delay when w is not nil, and then
// the return to the prober.
func (p *TracePrinter) perSegment(_ context.Context, target oam.Target, status []trace.SegmentStatus, w *trace.OneWay) {
	fmt.Fprintf(p.W, "srv6-trace per segment to %s\n", target)
	width := 0
	for _, s := range status {
		width = max(width, len(segmentStatusLabel(&s)))
	}
	if w != nil {
		if s, ok := w.Segment(len(status)); ok {
			width = max(width, len([]rune(segmentLabel(s))))
		}
	}
	for _, s := range status {
		state := "alive"
		if !s.Alive {
			state = "DOWN "
		}
		how := "loop "
		if !s.Loop {
			how = "echo "
		}
		var b strings.Builder
		fmt.Fprintf(&b, "segment %-*s  %-*s  %s  %s", numWidth(status), segmentNumber(&s), width, segmentStatusLabel(&s), state, how)
		for _, pr := range s.Probes {
			if pr.Answered && pr.Kind == oam.KindReply {
				fmt.Fprintf(&b, "  %s", formatRTT(pr.RTT))
			} else {
				b.WriteString("  *")
			}
		}
		if w != nil {
			if seg, ok := w.Segment(s.Index); ok {
				fmt.Fprintf(&b, "   %s", oneWayText(seg, w.Summary.SharedClock))
			}
		}
		behAddr := s.SID
		if s.CSID >= 0 {
			behAddr = s.CSIDAddr
		}
		if beh := p.Names.Behavior(behAddr); beh != "" {
			fmt.Fprintf(&b, "   [%s]", beh)
		}
		if s.Error != "" {
			fmt.Fprintf(&b, "   [%s]", s.Error)
		}
		fmt.Fprintln(p.W, b.String())
	}
	if w != nil {
		if line, ok := returnLine(w, len(status), width); ok {
			fmt.Fprintln(p.W, line)
		}
	}
}

// quoteLines prints, under a hop, what its first error quoted of the probe.
func (p *TracePrinter) quoteLines(h *trace.Hop) {
	for _, pr := range h.Probes {
		if pr.Quote == nil {
			continue
		}
		fmt.Fprintf(p.W, "      quoted by %s (%d bytes):\n", pr.From, len(pr.Quote))
		for _, l := range QuoteLines(DecodeQuote(pr.Quote), "        ") {
			fmt.Fprintln(p.W, l)
		}
		return
	}
}
