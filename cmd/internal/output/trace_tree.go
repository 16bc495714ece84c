package output

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/srv6oam/srv6oam/probes/trace"
)

// treeNode is one hop of the ECMP tree: the same responder at the same hop limit after the same
// hops before it.
type treeNode struct {
	hop      trace.Hop
	addr     netip.Addr
	flows    int
	children []*treeNode
}

func (p *TracePrinter) tree(ctx context.Context, rep *trace.Report, shown []bool) {
	root := &treeNode{}
	var allHops []trace.Hop
	for _, br := range rep.Branches {
		n := root
		n.flows += len(br.Flows)
		for _, h := range br.Hops {
			allHops = append(allHops, h)
			var a netip.Addr
			if rs := h.Responders(); len(rs) > 0 {
				a = rs[0]
			}
			var next *treeNode
			for _, c := range n.children {
				if c.addr == a && c.hop.TTL == h.TTL {
					next = c
					break
				}
			}
			if next == nil {
				next = &treeNode{hop: trace.Hop{TTL: h.TTL, Segment: h.Segment, SID: h.SID, SIDAddr: h.SIDAddr,
					SLBefore: h.SLBefore, SLAfter: h.SLAfter, Destination: h.Destination}, addr: a}
				n.children = append(n.children, next)
			}
			next.hop.Probes = append(next.hop.Probes, h.Probes...)
			next.flows += len(br.Flows)
			n = next
		}
	}
	widthA, widthN := p.widths(ctx, allHops)
	p.printTree(ctx, rep, root.children, "", -1, widthA, widthN, shown)
	fmt.Fprintf(p.W, "%d branches: %d flows, %d probes\n", len(rep.Branches), rep.Flows, rep.Probes)
}

// printTree prints siblings; a single child continues the same column, several open branches.
func (p *TracePrinter) printTree(ctx context.Context, rep *trace.Report, nodes []*treeNode, prefix string, seg, widthA, widthN int, shown []bool) {
	for len(nodes) == 1 {
		n := nodes[0]
		seg = p.treeHop(ctx, rep, n, prefix, prefix, seg, widthA, widthN, shown)
		nodes = n.children
	}
	for i, n := range nodes {
		first, rest := prefix+"├─ ", prefix+"│  "
		if i == len(nodes)-1 {
			first, rest = prefix+"└─ ", prefix+"   "
		}
		s := p.treeHop(ctx, rep, n, first, rest, seg, widthA, widthN, shown)
		p.printTree(ctx, rep, n.children, rest, s, widthA, widthN, shown)
	}
}

func (p *TracePrinter) treeHop(ctx context.Context, rep *trace.Report, n *treeNode, first, rest string, seg, widthA, widthN int, shown []bool) int {
	lead := first
	if len(rep.Path) > 1 && n.hop.Segment >= 0 && n.hop.Segment != seg {
		seg = n.hop.Segment
		fmt.Fprintf(p.W, "%ssegment %d → %s\n", first, seg+1, rep.Path[seg])
		lead = rest
	}
	// One RTT column: the fastest probe; then how many flows took this hop.
	h := n.hop
	best := trace.Probe{}
	for _, pr := range h.Probes {
		if pr.Answered && pr.From == n.addr && (!best.Answered || pr.RTT < best.RTT) {
			best = pr
		}
	}
	line := trace.Hop{TTL: h.TTL, SID: h.SID, SIDAddr: h.SIDAddr, SLBefore: h.SLBefore, SLAfter: h.SLAfter, Probes: []trace.Probe{best}}
	if !best.Answered {
		line.Probes = []trace.Probe{{}}
	}
	fmt.Fprintf(p.W, "%s%s", lead, p.hopLine(ctx, line, widthA, widthN))
	fmt.Fprintf(p.W, "   (%d flow%s)\n", n.flows, plural(n.flows))
	// Under a node that branches, the rest prefix carries the tree's "│" on.
	indent := rest + "     "
	if len(n.children) > 1 {
		indent = rest + "│    "
	}
	p.nextHopsUnder(rep, &n.hop, indent, shown)
	return seg
}
