package oam

import "net/netip"

// Position is where along its path a probe was when a node quoted it in an ICMPv6 error: the
// segment it was heading for (the active SID) and, in a container of compressed SIDs, the
// C-SID. Linux raises Time Exceeded after the node's SRv6 processing (End advanced Segments
// Left and the destination, NEXT-C-SID shifted it, PSP popped the SRH), so the quote shows the
// packet as it was about to leave toward that segment.
type Position struct {
	// Index of the active segment in the path (visiting order), -1 when the quote does not say.
	Index int
	// SID is that segment as the segment list holds it (a whole container for compressed SIDs).
	SID netip.Addr
	// CSID is, when that segment is a container, the position (from 0) of its C-SID being
	// processed, and CSIDValue that C-SID; CSID is -1 otherwise.
	CSID      int
	CSIDValue uint64
	// Dst is the quoted destination address; SegmentsLeft the quoted SRH's, -1 without one.
	Dst          netip.Addr
	SegmentsLeft int
	// Popped: the probe left with an SRH and the quote has none: a node before this one
	// removed it (the PSP flavor at the penultimate segment).
	Popped bool
	// Decapsulated: the probe was encapsulated and the quote is its inner packet: the error was
	// raised after a node decapsulated it (an End.DT6 whose table has no route for the inner
	// destination, say). Index is then the last segment, the one that decapsulated.
	Decapsulated bool
	// Structure is the SID structure that read the quote: the one given, or, when none was and
	// a known one explains a shifted destination, that one (Inferred set).
	Structure SIDStructure
	Inferred  bool
}

// Known reports whether the position was found.
func (p *Position) Known() bool { return p.Index >= 0 }

// Less reports whether p is earlier along the path than q.
func (p *Position) Less(q *Position) bool {
	if p.Index != q.Index {
		return p.Index < q.Index
	}
	return p.CSID < q.CSID
}

// Quoted is what an ICMPv6 error quoted of a probe: its outer destination, whether it was still
// encapsulated (an IPv6 header inside), and, when it still had one, its SRH's Segments Left.
type Quoted struct {
	Dst          netip.Addr
	HasSRH       bool
	SegmentsLeft int
	Encapsulated bool
}

// Sent says what a probe left with: an SRH, an outer IPv6 header around the echo.
type Sent struct {
	SRH, Encap bool
}

// commonStructures are tried, in order, to read a shifted destination when no SID structure was
// given: the uSID form (F3216) first, then other NEXT-C-SID layouts in use.
var commonStructures = []SIDStructure{USID, {BlockBits: 48, CSIDBits: 16}, {BlockBits: 32, CSIDBits: 32}, {BlockBits: 16, CSIDBits: 16}}

// Locate finds q along path, the segment list the probe carried in visiting order (final
// segment last), read with structure s (zero: whole SIDs, unless a common structure explains the
// quote). sent says whether the probe left with an SRH (a reduced encapsulation of one SID has
// none) and encapsulated.
//
// With an SRH in the quote its Segments Left names the segment, in a full and in a reduced SRH
// alike: Segments Left counts the segments still to visit after the active one, so the active one
// is path[len(path)-1-SL]. Without one (H.Encaps.Red of one SID, a container, a PSP-popped
// packet) the destination names it, as a segment of the list or as a container shifted by the
// nodes that consumed its first C-SIDs.
func Locate(path SegmentList, s SIDStructure, sent Sent, q Quoted) Position {
	p := Position{Index: -1, CSID: -1, Dst: q.Dst, SegmentsLeft: -1, Structure: s}
	if q.HasSRH {
		p.SegmentsLeft = q.SegmentsLeft
	}
	if !q.Dst.IsValid() || len(path) == 0 {
		return p
	}
	if sent.Encap && !q.Encapsulated && !q.HasSRH {
		// The quote is the inner packet: the last segment decapsulated it.
		p.Decapsulated, p.Index, p.SID = true, len(path)-1, path[len(path)-1]
		return p
	}
	p.Popped = sent.SRH && !q.HasSRH
	at := func(i int) Position {
		p.Index, p.SID = i, path[i]
		if c, ok := s.csidAt(path[i], q.Dst); ok {
			p.CSID = c
			p.CSIDValue = s.CSIDs(path[i])[c]
		}
		return p
	}
	if q.HasSRH {
		if i := len(path) - 1 - q.SegmentsLeft; i >= 0 && i < len(path) && (s.IsZero() || s.matches(path[i], q.Dst)) {
			if s.IsZero() && path[i] != q.Dst {
				if c, ok := inferStructure(path[i], q.Dst); ok {
					p.Structure, p.Inferred, s = c, true, c
				}
			}
			return at(i)
		}
	}
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == q.Dst {
			return at(i)
		}
	}
	if s.IsZero() {
		for i := len(path) - 1; i >= 0; i-- {
			if c, ok := inferStructure(path[i], q.Dst); ok {
				p.Structure, p.Inferred, s = c, true, c
				return at(i)
			}
		}
		return p
	}
	for i := len(path) - 1; i >= 0; i-- {
		if _, ok := s.csidAt(path[i], q.Dst); ok {
			return at(i)
		}
	}
	return p
}

// inferStructure finds the first common structure that reads dst as container seg shifted.
func inferStructure(seg, dst netip.Addr) (SIDStructure, bool) {
	for _, c := range commonStructures {
		if off, ok := c.csidAt(seg, dst); ok && off > 0 {
			return c, true
		}
	}
	return SIDStructure{}, false
}

// matches: dst is segment seg, or seg's container shifted by s.
func (s SIDStructure) matches(seg, dst netip.Addr) bool {
	if seg == dst {
		return true
	}
	_, ok := s.csidAt(seg, dst)
	return ok
}

// csidAt finds dst as container seg after its first C-SIDs were consumed: same block, and dst's
// C-SIDs the tail of seg's. It returns the position in seg of dst's first C-SID.
func (s SIDStructure) csidAt(seg, dst netip.Addr) (int, bool) {
	if s.IsZero() || !s.IsContainer(seg) || !s.IsContainer(dst) || s.Block(seg) != s.Block(dst) {
		return -1, false
	}
	full, tail := s.CSIDs(seg), s.CSIDs(dst)
	if len(tail) == 0 || len(tail) > len(full) {
		return -1, false
	}
	off := len(full) - len(tail)
	for i, c := range tail {
		if full[off+i] != c {
			return -1, false
		}
	}
	// A one-C-SID container equals its own tail: that is position 0, not a shift.
	return off, true
}
