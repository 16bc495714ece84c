package output

import (
	"fmt"
	"strings"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/probes/trace"
)

// ioamLines renders what a hop's quoted IOAM trace says of it (srv6-trace --ioam): the entry
// (or entries, when silent hops before it filled some) it added, or why it added none.
func (p *TracePrinter) ioamLines(h *trace.Hop, indent string) []string {
	if h.IOAM == nil {
		if len(h.Responders()) == 0 {
			return nil
		}
		for _, pr := range h.Probes {
			if pr.IOAMErr != "" {
				return []string{indent + "ioam: the quoted trace does not read: " + pr.IOAMErr}
			}
		}
		if h.Destination {
			return []string{indent + "ioam: (an Echo Reply quotes nothing: the destination's entry, if any, is not seen)"}
		}
		return []string{indent + "ioam: the error quotes no trace (the router cut the quote, or the Hop-by-Hop header was dropped)"}
	}
	rec := h.IOAM
	if h.IOAMNew == 0 {
		why := fmt.Sprintf("IOAM off on its ingress interface, or namespace %d unknown to it", rec.Namespace)
		if rec.Overflow {
			why = fmt.Sprintf("no room left: the trace overflowed (pre-allocate more with --ioam-nodes, %d now full)", len(rec.Entries))
		}
		return []string{indent + "ioam: no entry (" + why + ")"}
	}
	var out []string
	first := len(rec.Entries) - h.IOAMNew
	for i := first; i < len(rec.Entries); i++ {
		label := "ioam:"
		if h.IOAMNew > 1 {
			label = fmt.Sprintf("ioam hop %d:", i+1)
		}
		var d *oam.OneWay
		if i < len(h.IOAMDelays) {
			d = &h.IOAMDelays[i]
		}
		out = append(out, indent+label+" "+p.ioamEntry(rec, &rec.Entries[i], d))
	}
	return out
}

// ioamEntry renders one entry: "node 2 r1  if 1→2  hl 62  rx 07:41:02.123456  +0.021 ms".
func (p *TracePrinter) ioamEntry(rec *ioam.Record, e *ioam.Entry, d *oam.OneWay) string {
	return ioamEntryText(p.Names, rec, e, d)
}

// ioamEntryText renders one IOAM entry, nodes named by names.
func ioamEntryText(names *Names, rec *ioam.Record, e *ioam.Entry, d *oam.OneWay) string {
	var f []string
	t := rec.Type
	if t.Has(ioam.BitHopLimitNodeID) || t.Has(ioam.BitHopLimitNodeIDWide) {
		node := fmt.Sprintf("node %d", e.NodeID)
		if name := names.IOAMNode(e.NodeID); name != "" {
			node += " " + name
		}
		f = append(f, node, fmt.Sprintf("hl %d", e.HopLimit))
	}
	if (t.Has(ioam.BitInterfaces) && !e.Unsupports(ioam.BitInterfaces)) || (t.Has(ioam.BitInterfacesWide) && !e.Unsupports(ioam.BitInterfacesWide)) {
		f = append(f, "if "+ioamIf(e.Ingress, t.Has(ioam.BitInterfacesWide))+"→"+ioamIf(e.Egress, t.Has(ioam.BitInterfacesWide)))
	}
	if rec.HasTime(e) {
		f = append(f, "rx "+e.Time().Format("15:04:05.000000"))
		if d != nil {
			if s := ioamDelayText(*d); s != "" {
				f = append(f, s)
			}
		}
	}
	if t.Has(ioam.BitQueueDepth) && !e.Unsupports(ioam.BitQueueDepth) {
		f = append(f, fmt.Sprintf("queue %d B", e.QueueDepth))
	}
	if (t.Has(ioam.BitNamespaceData) && !e.Unsupports(ioam.BitNamespaceData)) || t.Has(ioam.BitNamespaceDataWide) {
		f = append(f, fmt.Sprintf("data %#x", e.NamespaceData))
	}
	if len(e.Unsupported) > 0 {
		names := make([]string, len(e.Unsupported))
		for i, b := range e.Unsupported {
			names[i] = ioam.BitName(b)
		}
		f = append(f, "not supported: "+strings.Join(names, ","))
	}
	return strings.Join(f, "  ")
}

// ioamIf prints an interface id; 0xffff (short) and all ones (wide) are what Linux writes
// for an interface it cannot name (no ingress device, a local delivery).
func ioamIf(id uint32, wide bool) string {
	if (!wide && id == 0xffff) || (wide && id == ioam.Unavailable) {
		return "-"
	}
	return fmt.Sprint(id)
}

// ioamDelayText is the delay from the previous IOAM point by the one-way rule: a number only
// when measured.
func ioamDelayText(w oam.OneWay) string {
	switch w.State {
	case oam.DelayMeasured:
		if w.Bound > 0 {
			return "+" + oam.FormatMillis(w.Delay) + " ms ±" + oam.FormatMillis(w.Bound)
		}
		return "+" + oam.FormatMillis(w.Delay) + " ms"
	case oam.DelayNegative:
		return "+neg! (the clocks disagree)"
	case oam.DelayUnsynchronised:
		return "+unsync"
	case oam.DelayClockUnknown:
		return "+clock?"
	}
	return ""
}

// JSONIOAM is what a hop's quoted IOAM trace says of it (srv6-trace --ioam).
type JSONIOAM struct {
	Namespace uint16   `json:"namespace"`
	TraceType []string `json:"trace_type"`
	// Filled is the number of entries this hop added (more than 1 when silent hops before it
	// filled some, 0 when it filled none); Entries are those entries.
	Filled  int             `json:"filled"`
	Entries []JSONIOAMEntry `json:"entries"`
	// Quoted is the number of entries in the quoted trace, every IOAM hop up to this one.
	Quoted   int    `json:"quoted"`
	Free     int    `json:"free"`
	Overflow bool   `json:"overflow"`
	Error    string `json:"error,omitempty"`
}

// JSONIOAMEntry is one IOAM hop's entry. Absent fields were not asked for or not supported
// (NotSupported names those a hop said it does not fill).
type JSONIOAMEntry struct {
	Hop           int     `json:"hop"` // 1-based among the IOAM hops
	NodeID        *uint64 `json:"node_id,omitempty"`
	Name          string  `json:"name,omitempty"`
	HopLimit      *uint8  `json:"hop_limit,omitempty"`
	IngressIf     *uint32 `json:"ingress_if,omitempty"`
	EgressIf      *uint32 `json:"egress_if,omitempty"`
	Timestamp     string  `json:"timestamp,omitempty"`
	QueueDepth    *uint32 `json:"queue_depth_bytes,omitempty"`
	NamespaceData *uint64 `json:"namespace_data,omitempty"`
	// Delay from the previous IOAM hop (from the probe's transmission for the first): State as
	// one-way delays have it; DelayMS only when measured.
	DelayState   string   `json:"delay_state,omitempty"`
	DelayMS      *float64 `json:"delay_ms,omitempty"`
	BoundMS      *float64 `json:"bound_ms,omitempty"`
	NotSupported []string `json:"not_supported,omitempty"`
}

func jsonIOAM(h *trace.Hop, names *Names) *JSONIOAM {
	if h.IOAM == nil {
		for _, pr := range h.Probes {
			if pr.IOAMErr != "" {
				return &JSONIOAM{Error: pr.IOAMErr, TraceType: []string{}, Entries: []JSONIOAMEntry{}}
			}
		}
		return nil
	}
	return newJSONIOAM(h.IOAM, len(h.IOAM.Entries)-h.IOAMNew, h.IOAMDelays, names)
}

// newJSONIOAM is the ioam object of rec's entries from index first on (the ones a hop added,
// or all of them), with delays[i] the delay of entry i.
func newJSONIOAM(rec *ioam.Record, first int, delays []oam.OneWay, names *Names) *JSONIOAM {
	j := &JSONIOAM{Namespace: rec.Namespace, TraceType: rec.Type.Names(), Filled: len(rec.Entries) - first, Quoted: len(rec.Entries),
		Free: rec.Free, Overflow: rec.Overflow, Entries: []JSONIOAMEntry{}}
	t := rec.Type
	for i := first; i < len(rec.Entries); i++ {
		e := rec.Entries[i]
		je := JSONIOAMEntry{Hop: i + 1}
		if t.Has(ioam.BitHopLimitNodeID) || t.Has(ioam.BitHopLimitNodeIDWide) {
			id, hl := e.NodeID, e.HopLimit
			je.NodeID, je.HopLimit, je.Name = &id, &hl, names.IOAMNode(id)
		}
		if (t.Has(ioam.BitInterfaces) && !e.Unsupports(ioam.BitInterfaces)) || (t.Has(ioam.BitInterfacesWide) && !e.Unsupports(ioam.BitInterfacesWide)) {
			in, out := e.Ingress, e.Egress
			je.IngressIf, je.EgressIf = &in, &out
		}
		if rec.HasTime(&e) {
			je.Timestamp = e.Time().UTC().Format("2006-01-02T15:04:05.000000Z07:00")
		}
		if t.Has(ioam.BitQueueDepth) && !e.Unsupports(ioam.BitQueueDepth) {
			q := e.QueueDepth
			je.QueueDepth = &q
		}
		if (t.Has(ioam.BitNamespaceData) && !e.Unsupports(ioam.BitNamespaceData)) || t.Has(ioam.BitNamespaceDataWide) {
			d := e.NamespaceData
			je.NamespaceData = &d
		}
		if i < len(delays) && t.Has(ioam.BitTimestampSeconds) && t.Has(ioam.BitTimestampFraction) {
			w := delays[i]
			je.DelayState = w.State.String()
			if w.State == oam.DelayMeasured {
				v := ms(w.Delay)
				je.DelayMS = &v
				if w.Bound > 0 {
					b := ms(w.Bound)
					je.BoundMS = &b
				}
			}
		}
		for _, b := range e.Unsupported {
			je.NotSupported = append(je.NotSupported, ioam.BitName(b))
		}
		j.Entries = append(j.Entries, je)
	}
	return j
}

// ioamFooter says why delays between IOAM hops were not shown, when they were not.
func (p *TracePrinter) ioamFooter(hops []trace.Hop) {
	for _, h := range hops {
		for _, w := range h.IOAMDelays {
			if w.State == oam.DelayClockUnknown {
				fmt.Fprintln(p.W, "ioam: +clock? = the hops' clocks are of unknown quality: say how well they are synchronised with --ioam-clock-error, or --shared-clock in a lab of namespaces")
				return
			}
		}
	}
}
