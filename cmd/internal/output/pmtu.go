package output

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/srv6oam/srv6oam/probes/trace"
)

// What srv6-trace --pmtu prints: each size tried, the path MTU, what each segment is known to
// carry, and how much of the path MTU an SRv6 policy over these SIDs leaves to the packets it
// carries.

// EncapRoom is the largest inner packet (its IPv6 header included) that fits in mtu under
// H.Encaps with sids SIDs in the SRH: the outer IPv6 header (40) and the SRH (8 + 16 per SID)
// come off; reduced drops the first SID from the SRH (H.Encaps.Red).
func EncapRoom(mtu, sids int, reduced bool) int {
	n := sids
	if reduced {
		n--
	}
	srh := 0
	if n > 0 {
		srh = 8 + 16*n
	}
	return mtu - 40 - srh
}

// InsertRoom is the largest original packet that fits in mtu once H.Insert puts an SRH of sids
// SIDs and its original destination (8 + 16 × (sids + 1)) into it.
func InsertRoom(mtu, sids int) int { return mtu - 8 - 16*(sids+1) }

func segmentOf(path []netip.Addr, i int) string {
	if i < 0 || i >= len(path) {
		return "segment ?"
	}
	return fmt.Sprintf("segment %d → %s", i+1, path[i])
}

// PMTU prints a path MTU discovery.
func (p *TracePrinter) PMTU(ctx context.Context, rep *trace.PMTUReport) {
	w := p.W
	via := ""
	if len(rep.Target.Segments) > 0 {
		via = " via " + rep.Target.Segments.String()
	}
	fmt.Fprintf(w, "srv6-trace --pmtu to %s%s from %s: from %d bytes (the route's MTU)\n", rep.Target.Destination, via, rep.Source, rep.Start)
	for _, t := range rep.Tries {
		switch t.Outcome {
		case trace.TryReached:
			fmt.Fprintf(w, "%5d bytes: reached %s\n", t.Size, rep.Target.Destination)
		case trace.TryTooBig:
			fmt.Fprintf(w, "%5d bytes: Packet Too Big from %s, hop %d, %s: mtu %d\n", t.Size, hostText(ctx, p.Names, t.From), t.TTL, segmentOf(rep.Path, t.Segment), t.MTU)
		default:
			fmt.Fprintf(w, "%5d bytes: no answer\n", t.Size)
		}
	}
	for _, h := range rep.Hops {
		if h.Blackhole {
			after := "not even the first hop"
			if h.After > 0 {
				after = fmt.Sprintf("hop %d", h.After)
			}
			fmt.Fprintf(w, "blackhole: probes of %d bytes and more vanish without a Packet Too Big, after %s (%s); %d bytes cross\n",
				h.Size, after, segmentOf(rep.Path, h.Segment), h.MTU)
		}
	}
	if rep.PathMTU == 0 {
		fmt.Fprintf(w, "no probe reached %s: no path MTU\n", rep.Target.Destination)
		return
	}
	fmt.Fprintf(w, "path MTU %d bytes\n", rep.PathMTU)
	for _, s := range rep.Segments {
		line := fmt.Sprintf("  %-36s", segmentOf(rep.Path, s.Index))
		switch {
		case s.MTU > 0:
			line += fmt.Sprintf(" %5d", s.MTU)
			for _, h := range s.Hops {
				if h.Blackhole {
					line += fmt.Sprintf("  blackhole after hop %d", h.After)
				} else {
					line += fmt.Sprintf("  %s hop %d says so (Packet Too Big)", hostText(ctx, p.Names, h.From), h.TTL)
				}
			}
		case s.Crossed > 0:
			line += fmt.Sprintf(" ≥%4d  (crossed whole at %d; nothing on it said less)", s.Crossed, s.Crossed)
		default:
			line += "     ?"
		}
		fmt.Fprintln(w, line)
	}
	if n := len(rep.Target.Segments); n > 0 {
		fmt.Fprintf(w, "room inside a policy over these %d SIDs (inner packet, its headers included): H.Encaps %d, H.Encaps.Red %d, H.Insert %d bytes\n",
			n, EncapRoom(rep.PathMTU, n, false), EncapRoom(rep.PathMTU, n, true), InsertRoom(rep.PathMTU, n))
	}
}

// TracePMTUDocument is srv6-trace --pmtu --json.
type TracePMTUDocument struct {
	Command  string           `json:"command"`
	Version  int              `json:"version"`
	Mode     string           `json:"mode"` // "pmtu"
	Target   TraceTarget      `json:"target"`
	StartMTU int              `json:"start_mtu"`
	PathMTU  *int             `json:"path_mtu"` // null when no probe reached the destination
	Tries    []JSONSizeTry    `json:"tries"`
	Hops     []JSONMTUHop     `json:"limiting_hops"`
	Segments []JSONSegmentMTU `json:"segments"`
	Room     *JSONPolicyRoom  `json:"policy_room,omitempty"`
	Probes   int              `json:"probes"`
	Elapsed  float64          `json:"elapsed_ms"`
	Error    string           `json:"error,omitempty"`
}

// JSONSizeTry is one size tried.
type JSONSizeTry struct {
	Size    int    `json:"size"`
	Outcome string `json:"outcome"` // reached, too_big, silent
	MTU     int    `json:"mtu,omitempty"`
	From    string `json:"from,omitempty"`
	Segment *int   `json:"segment,omitempty"` // 1-based
}

// JSONMTUHop is a hop that limited the path.
type JSONMTUHop struct {
	TTL       int    `json:"ttl"` // 0 when it answered no small probe
	From      string `json:"from,omitempty"`
	Name      string `json:"name,omitempty"`
	Segment   *int   `json:"segment,omitempty"`
	MTU       int    `json:"mtu"`
	Size      int    `json:"size"`
	Blackhole bool   `json:"blackhole"`
	After     int    `json:"after_hop,omitempty"`
}

// JSONSegmentMTU is one segment.
type JSONSegmentMTU struct {
	Segment int    `json:"segment"` // 1-based
	SID     string `json:"sid"`
	// MTU is the smallest found inside it, absent when none; Crossed the largest probe known
	// to have crossed it whole (a lower bound when MTU is absent).
	MTU     *int `json:"mtu,omitempty"`
	Crossed int  `json:"crossed"`
}

// JSONPolicyRoom is the largest inner packet under each headend behaviour.
type JSONPolicyRoom struct {
	SIDs         int `json:"sids"`
	HEncaps      int `json:"h_encaps"`
	HEncapsRed   int `json:"h_encaps_red"`
	HInsert      int `json:"h_insert"`
	OverheadEnc  int `json:"h_encaps_overhead"`
	OverheadIns  int `json:"h_insert_overhead"`
	OverheadEncR int `json:"h_encaps_red_overhead"`
}

func segPtr(i int) *int {
	if i < 0 {
		return nil
	}
	n := i + 1
	return &n
}

// NewTracePMTUDocument converts a discovery (rep may be nil when it failed before any probe).
func NewTracePMTUDocument(ctx context.Context, rep *trace.PMTUReport, target TraceTarget, names *Names, runErr error) TracePMTUDocument {
	d := TracePMTUDocument{Command: "srv6-trace", Version: 1, Mode: "pmtu", Target: target,
		Tries: []JSONSizeTry{}, Hops: []JSONMTUHop{}, Segments: []JSONSegmentMTU{}}
	if runErr != nil {
		d.Error = runErr.Error()
	}
	if rep == nil {
		return d
	}
	d.StartMTU, d.Probes, d.Elapsed = rep.Start, rep.Probes, ms(rep.Elapsed)
	if rep.PathMTU > 0 {
		v := rep.PathMTU
		d.PathMTU = &v
	}
	for _, t := range rep.Tries {
		j := JSONSizeTry{Size: t.Size, Outcome: t.Outcome, MTU: t.MTU}
		if t.From.IsValid() {
			j.From = t.From.String()
		}
		if t.Outcome == trace.TryTooBig {
			j.Segment = segPtr(t.Segment)
		}
		d.Tries = append(d.Tries, j)
	}
	for _, h := range rep.Hops {
		j := JSONMTUHop{TTL: h.TTL, Segment: segPtr(h.Segment), MTU: h.MTU, Size: h.Size, Blackhole: h.Blackhole, After: h.After}
		if h.From.IsValid() {
			j.From, j.Name = h.From.String(), names.Name(ctx, h.From)
		}
		d.Hops = append(d.Hops, j)
	}
	for _, s := range rep.Segments {
		j := JSONSegmentMTU{Segment: s.Index + 1, SID: s.SID.String(), Crossed: s.Crossed}
		if s.MTU > 0 {
			v := s.MTU
			j.MTU = &v
		}
		d.Segments = append(d.Segments, j)
	}
	if n := len(rep.Target.Segments); n > 0 && rep.PathMTU > 0 {
		m := rep.PathMTU
		d.Room = &JSONPolicyRoom{SIDs: n, HEncaps: EncapRoom(m, n, false), HEncapsRed: EncapRoom(m, n, true), HInsert: InsertRoom(m, n),
			OverheadEnc: m - EncapRoom(m, n, false), OverheadEncR: m - EncapRoom(m, n, true), OverheadIns: m - InsertRoom(m, n)}
	}
	return d
}
