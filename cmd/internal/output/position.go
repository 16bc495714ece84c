package output

import (
	"fmt"

	"github.com/srv6oam/srv6oam/oam"
)

// AppendPosition appends what an ICMPv6 error's quote says of where the probe was, to a line
// that reports the error: " (active segment 2/3 fc00:0:3::e, SL=1)",
// " (active segment 1/1 fcbb:0:400:300:200:d46::, uSID 0300 = fcbb:0:300::, quoted destination
// fcbb:0:300:200:d46::)", " (SRH popped before here: PSP; quoted destination cafe::2)". Nothing
// for a result without a quote.
func AppendPosition(b []byte, at *oam.Position, pathLen int) []byte {
	if !at.Dst.IsValid() {
		return b
	}
	if !at.Known() {
		b = fmt.Appendf(b, " (quoted destination %s: not in the segment list", at.Dst)
		if at.Popped {
			b = append(b, "; the SRH was popped before here"...)
		}
		return append(b, ')')
	}
	if at.Decapsulated {
		return fmt.Appendf(b, " (decapsulated by segment %d/%d %s: the error is about the inner packet to %s)", at.Index+1, pathLen, at.SID, at.Dst)
	}
	b = fmt.Appendf(b, " (active segment %d/%d %s", at.Index+1, pathLen, at.SID)
	if at.CSID >= 0 {
		s := at.Structure
		b = fmt.Appendf(b, ", uSID %s = %s", s.FormatCSID(at.CSIDValue), s.CSIDAddr(s.Block(at.SID), at.CSIDValue))
		if at.Inferred {
			b = fmt.Appendf(b, " (read as %s: --sid-structure to say)", s)
		}
	}
	if at.SegmentsLeft >= 0 {
		b = fmt.Appendf(b, ", SL=%d", at.SegmentsLeft)
	}
	if at.Popped {
		b = append(b, ", SRH popped before here (PSP)"...)
	}
	if at.Dst != at.SID {
		b = fmt.Appendf(b, ", quoted destination %s", at.Dst)
	}
	return append(b, ')')
}
