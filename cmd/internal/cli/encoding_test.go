package cli

import (
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
)

func TestParseSegments(t *testing.T) {
	a := netip.MustParseAddr
	for _, c := range []struct {
		in   string
		want []string
		s    oam.SIDStructure
	}{
		{"fc00:0:2::e,fc00:0:3::e", []string{"fc00:0:2::e", "fc00:0:3::e"}, oam.SIDStructure{}},
		{"fcbb:0::/32 0400,0300,0200,d46", []string{"fcbb:0:400:300:200:d46::"}, oam.USID},
		{"fcbb:0::/32{0400,0300},fcff:2::d46", []string{"fcbb:0:400:300::", "fcff:2::d46"}, oam.USID},
		{"fcbb:0:400:300:200:d46::", []string{"fcbb:0:400:300:200:d46::"}, oam.SIDStructure{}},
	} {
		got, s, err := ParseSegments(c.in, 0)
		if err != nil || s != c.s || len(got) != len(c.want) {
			t.Errorf("%q: %v %v %v", c.in, got, s, err)
			continue
		}
		for i := range got {
			if got[i] != a(c.want[i]) {
				t.Errorf("%q: segment %d %v, want %s", c.in, i, got[i], c.want[i])
			}
		}
	}
	for _, bad := range []string{"", "fc00::1,,fc00::2", "fcbb:0::/32{0400", "fcbb:0::/32{1},fcbb:0::/48{1}", "10.0.0.1"} {
		if _, _, err := ParseSegments(bad, 0); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseWait(t *testing.T) {
	for _, c := range []struct {
		in         string
		max        time.Duration
		here, near float64
	}{
		{"2", 2 * time.Second, 3, 10},
		{"5.0,3,10", 5 * time.Second, 3, 10},
		{"1,0,0", time.Second, -1, -1},
		{"0.5,2", 500 * time.Millisecond, 2, 10},
	} {
		m, h, n, err := ParseWait(c.in)
		if err != nil || m != c.max || h != c.here || n != c.near {
			t.Errorf("%q: %v %v %v %v", c.in, m, h, n, err)
		}
	}
	for _, bad := range []string{"0", "61", "1,2,3,4", "x", "1,-1", "1,1001"} {
		if _, _, _, err := ParseWait(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
