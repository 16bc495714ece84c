package output

import (
	"fmt"
	"strings"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/trace"
)

// nextHopsFor finds the agent's answer for the SID a hop processed.
func nextHopsFor(all []trace.NodeNextHops, h *trace.Hop) *trace.NodeNextHops {
	if !h.SID {
		return nil
	}
	for i := range all {
		if all[i].Index == h.Segment && all[i].SID == h.SIDAddr {
			return &all[i]
		}
	}
	return nil
}

// nextHopLine is what prints under a SID node:
// "FIB fc00:0:5::/48 → fc00:0:5::b0: 2 next hops via fd00:0:0:2::2%to-r2, fd00:0:0:3::2%to-r3; MDA found 2".
// mda < 0 leaves the comparison out.
func nextHopLine(n *trace.NodeNextHops, mda int) string {
	if n.NotAwaited {
		return fmt.Sprintf("FIB → %s: no agent report before the wait was interrupted", n.Next)
	}
	if !n.Reported {
		return fmt.Sprintf("FIB → %s: no agent report", n.Next)
	}
	if n.Unsupported {
		return fmt.Sprintf("FIB → %s: the agent (node %d) reported no next hops: this host is not among its trusted collectors (srv6-agent --trusted-collector), or the agent predates --agent-nexthops", n.Next, n.NodeID)
	}
	nh := &n.NextHops
	var b strings.Builder
	switch nh.Status {
	case oam.NextHopsOK:
		fmt.Fprintf(&b, "FIB %s → %s: %d next hop%s via ", nh.Prefix, nh.Destination, len(nh.Hops), plural(len(nh.Hops)))
		for i, h := range nh.Hops {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(formatNextHop(h))
		}
		if nh.Truncated {
			fmt.Fprintf(&b, " (more than %d: truncated)", oam.MaxNextHops)
		}
		if nh.SelectedOnly {
			b.WriteString(" (the kernel's selected path only: no FIB match)")
		}
		if nh.OutputLookup {
			b.WriteString(" (output lookup: the lookup from the ingress interface failed)")
		}
	case oam.NextHopsLocal:
		fmt.Fprintf(&b, "FIB → %s: local to the node%s", nh.Destination, outputLookupNote(nh))
	case oam.NextHopsNoRoute:
		fmt.Fprintf(&b, "FIB → %s: no route%s", nh.Destination, outputLookupNote(nh))
	case oam.NextHopsLimited:
		fmt.Fprintf(&b, "FIB → %s: not looked up (the agent's lookup budget was spent)", nh.Destination)
	case oam.NextHopsNoDestination:
		b.WriteString("FIB: not looked up (the probe's capture reached the agent without its IPv6 header)")
	default:
		fmt.Fprintf(&b, "FIB → %s: the agent's lookup failed%s", nh.Destination, outputLookupNote(nh))
	}
	if mda >= 0 {
		fmt.Fprintf(&b, "; MDA found %d", mda)
	}
	return b.String()
}

// outputLookupNote marks an answer of the agent's output lookup (oam.NextHops.OutputLookup).
func outputLookupNote(nh *oam.NextHops) string {
	if nh.OutputLookup {
		return " (output lookup: the lookup from the ingress interface failed)"
	}
	return ""
}

// formatNextHop is "fd00:0:0:2::2%to-r2", "direct%to-h2" for a connected route, with
// " weight 2", " linkdown", " dead" when they apply.
func formatNextHop(h oam.NextHop) string {
	s := "direct%" + h.Ifname
	if !h.Gateway.IsUnspecified() {
		s = h.Gateway.String() + "%" + h.Ifname
	}
	if h.Weight != 1 {
		s += fmt.Sprintf(" weight %d", h.Weight)
	}
	if h.LinkDown {
		s += " linkdown"
	}
	if h.Dead {
		s += " dead"
	}
	return s
}

// nextHopsHint is printed once after a trace in which some SID had no agent report although
// the whole wait ran.
const nextHopsHint = "no agent report = no srv6-agent End.OAM SID there, or this host is not on the agent's collectors allow-list"

// nextHopsFooter prints the next-hop step's error (one line), then the hint when a SID that had
// its full chance to answer did not.
func (p *TracePrinter) nextHopsFooter(all []trace.NodeNextHops, err error) {
	if err != nil {
		fmt.Fprintln(p.W, err.Error())
	}
	for i := range all {
		if !all[i].Reported && !all[i].NotAwaited {
			fmt.Fprintln(p.W, nextHopsHint)
			return
		}
	}
}

// TraceNextHops is one SID's agent report of --agent-nexthops (docs/json.md).
type TraceNextHops struct {
	Index    int    `json:"index"` // 1-based, as segments are numbered
	SID      string `json:"sid"`
	Next     string `json:"next_segment"`
	Reported bool   `json:"reported"`
	NodeID   uint32 `json:"node_id,omitempty"`
	// Status is the agent's: "ok", "no-route", "local", "no-destination", "limited", "error",
	// or "unsupported" (the agent reported the probe without next hops); absent without a report.
	Status string `json:"status,omitempty"`
	// NotAwaited: no report, and the wait was cut short (interrupted) before this SID's chance.
	NotAwaited   bool   `json:"not_awaited,omitempty"`
	Prefix       string `json:"prefix,omitempty"`
	Table        uint32 `json:"table,omitempty"`
	Truncated    bool   `json:"truncated,omitempty"`
	SelectedOnly bool   `json:"selected_only,omitempty"`
	// OutputLookup: the agent's lookup from the ingress interface failed; this is its output
	// lookup's answer.
	OutputLookup bool           `json:"output_lookup,omitempty"`
	NextHops     []TraceNextHop `json:"nexthops,omitempty"`
	// MDA is how many distinct next routers the trace saw after this SID's node; absent when
	// the trace never saw the SID processed (and in --per-segment).
	MDA *int `json:"mda_next_hops,omitempty"`
}

// TraceNextHop is one FIB next hop.
type TraceNextHop struct {
	Gateway  string `json:"gateway"` // "::" for a directly connected route
	Ifindex  uint32 `json:"ifindex"`
	Ifname   string `json:"ifname"`
	Weight   uint16 `json:"weight"`
	Dead     bool   `json:"dead,omitempty"`
	LinkDown bool   `json:"linkdown,omitempty"`
	OnLink   bool   `json:"onlink,omitempty"`
}

// NewTraceNextHops renders agent next hops; rep (nil in --per-segment) adds the MDA count.
func NewTraceNextHops(all []trace.NodeNextHops, rep *trace.Report) []TraceNextHops {
	out := make([]TraceNextHops, 0, len(all))
	for _, n := range all {
		j := TraceNextHops{Index: n.Index + 1, SID: n.SID.String(), Next: n.Next.String(), Reported: n.Reported, NotAwaited: n.NotAwaited}
		switch {
		case n.Unsupported:
			j.NodeID, j.Status = n.NodeID, "unsupported"
		case n.Reported:
			nh := n.NextHops
			j.NodeID, j.Status, j.Table, j.Truncated, j.SelectedOnly = n.NodeID, nh.Status.String(), nh.Table, nh.Truncated, nh.SelectedOnly
			j.OutputLookup = nh.OutputLookup
			if nh.Prefix.IsValid() {
				j.Prefix = nh.Prefix.String()
			}
			for _, h := range nh.Hops {
				j.NextHops = append(j.NextHops, TraceNextHop{Gateway: h.Gateway.String(), Ifindex: h.Ifindex, Ifname: h.Ifname,
					Weight: h.Weight, Dead: h.Dead, LinkDown: h.LinkDown, OnLink: h.OnLink})
			}
		}
		if rep != nil {
			if m := trace.MDANextHops(rep, n.Index); m >= 0 {
				j.MDA = &m
			}
		}
		out = append(out, j)
	}
	return out
}

// PerSegmentNextHops prints the agents' next hops after --per-segment's lines, one per SID, and
// err, the next-hop step's error, when not nil.
func (p *TracePrinter) PerSegmentNextHops(all []trace.NodeNextHops, err error) {
	width := 0
	for _, n := range all {
		width = max(width, len(n.SID.String()))
	}
	for i := range all {
		n := &all[i]
		fmt.Fprintf(p.W, "segment %d  %-*s  %s\n", n.Index+1, width, n.SID, nextHopLine(n, -1))
	}
	p.nextHopsFooter(all, err)
}
