// Package hbh walks and pads the options of an IPv6 Hop-by-Hop (or Destination Options)
// header (RFC 8200 §4.2), for the option codecs that travel in one: oam/ioam's Pre-allocated
// Trace and oam/pt's Path Tracing option. It is pure: bytes in, values out.
package hbh

import (
	"errors"
	"fmt"
)

// ErrShort is returned for a header that ends before its length says.
var ErrShort = errors.New("hop-by-hop header: truncated")

// Find walks the options of the header b (from its next-header octet, the whole header) and
// returns the first option for which match reports true, from its type octet to the header's
// end; ok is false when none matches. Pad1 and PadN are skipped without asking match; an option
// that runs past the header is an error.
func Find(b []byte, match func(opt []byte) bool) (opt []byte, ok bool, err error) {
	if len(b) < 2 || len(b) < (int(b[1])+1)*8 {
		return nil, false, ErrShort
	}
	opts := b[2 : (int(b[1])+1)*8]
	for off := 0; off < len(opts); {
		if opts[off] == 0 { // Pad1
			off++
			continue
		}
		if off+2 > len(opts) || off+2+int(opts[off+1]) > len(opts) {
			return nil, false, fmt.Errorf("hop-by-hop option %#02x at octet %d: runs past the header", opts[off], 2+off)
		}
		if opts[off] != 1 && match(opts[off:]) {
			return opts[off:], true, nil
		}
		off += 2 + int(opts[off+1])
	}
	return nil, false, nil
}

// Pad appends n octets of padding: nothing, a Pad1, or a PadN.
func Pad(b []byte, n int) []byte {
	switch {
	case n <= 0:
		return b
	case n == 1:
		return append(b, 0)
	}
	b = append(b, 1, byte(n-2))
	for range n - 2 {
		b = append(b, 0)
	}
	return b
}

// PadLen is how many octets of padding make size a multiple of 8.
func PadLen(size int) int { return (8 - size%8) % 8 }
