package testnet

import (
	"net/netip"
	"slices"
	"testing"
)

// TestSeg6EncapRoundTrip decodes what the lab encodes for a policy.
func TestSeg6EncapRoundTrip(t *testing.T) {
	segs := []netip.Addr{netip.MustParseAddr("fc00:0:2::e"), netip.MustParseAddr("fc00:0:3::d6")}
	for _, c := range []struct {
		enc  srhEncap
		want string
	}{
		{srhEncap{mode: Encap, segments: segs}, "encap segs [fc00:0:2::e fc00:0:3::d6]"},
		{srhEncap{mode: Encap, segments: segs, hmacKeyID: 7}, "encap segs [fc00:0:2::e fc00:0:3::d6] hmac 7"},
		{srhEncap{mode: Inline, segments: segs[:1], hmacKeyID: 1}, "inline segs [fc00:0:2::e] hmac 1"},
	} {
		b, err := c.enc.Encode()
		if err != nil {
			t.Fatal(err)
		}
		e, err := decodeSeg6Encap(b)
		if err != nil {
			t.Fatalf("%v: %v", c.enc.String(), err)
		}
		if got := e.String(); got != c.want {
			t.Errorf("decoded %q, want %q", got, c.want)
		}
		// A cut attribute is an error, never a panic.
		for n := range len(b) {
			if _, err := decodeSeg6Encap(b[:n]); err == nil && n < len(b) {
				t.Errorf("%q cut to %d of %d bytes decoded without error", c.want, n, len(b))
			}
		}
	}
}

// FuzzDecodeSeg6Encap feeds RTA_ENCAP payloads (seeds: the lab's own
// encodings) to the decoder; it must return or fail, never panic, and a
// decoded encap with segments prints them all.
func FuzzDecodeSeg6Encap(f *testing.F) {
	segs := []netip.Addr{netip.MustParseAddr("fc00:0:2::e"), netip.MustParseAddr("fc00:0:3::d6")}
	for _, e := range []srhEncap{{mode: Encap, segments: segs}, {mode: Inline, segments: segs, hmacKeyID: 1}} {
		b, _ := e.Encode()
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{8, 0, 1, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeSeg6Encap(b)
		if err != nil {
			return
		}
		s := e.String()
		if e.mode != 0 && len(e.segments) > 0 && !slices.ContainsFunc(e.segments, func(a netip.Addr) bool { return contains(s, a.String()) }) {
			t.Errorf("%q does not show the segments %v", s, e.segments)
		}
	})
}

// FuzzParseRouteMsg feeds route messages to the RTM_NEWROUTE decoder.
func FuzzParseRouteMsg(f *testing.F) {
	f.Add([]byte{})
	// rtmsg (AF_INET6, dst_len 128, table main, unicast) + RTA_DST.
	f.Add(append([]byte{10, 128, 0, 0, 254, 4, 0, 1, 0, 0, 0, 0, 20, 0, 1, 0},
		netip.MustParseAddr("fc00::1").AsSlice()...))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok, err := parseRouteMsg(b)
		if err == nil && ok && !r.dst.IsValid() {
			t.Errorf("route accepted with an invalid destination %v", r.dst)
		}
	})
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
