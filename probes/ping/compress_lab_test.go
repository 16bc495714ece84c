package ping_test

import (
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/ping"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// Through the uSID container of the kernel's NEXT-C-SID selftest (the csid lab), H.Encaps.Red
// with no SRH: the replies come; and through a container whose second C-SID, 0500, no node
// binds, the error from rt4 names that C-SID and the destination rt4 could not route,
// fcbb:0:500:200:d46:: (before, srv6-ping named the whole container and SL=0, and reported an
// unbound uSID as fcbb:0:300:500::).
func TestPingUSIDContainer(t *testing.T) {
	lab := labtest.Up(t, "csid")
	a := mustAddr
	opts := ping.Options{Count: 3, Interval: 20 * time.Millisecond, Timeout: 2 * time.Second, Encoding: probes.EncapRed, Structure: oam.USID}
	good := oam.Target{Segments: oam.SegmentList{a("fcbb:0:400:300:200:d46::")}, Destination: a("cafe::2"), Decap: true}
	if _, sum := pingIn(t, lab, "hs1", good, opts); sum.Received == 0 {
		t.Fatalf("no reply through the container: %+v", sum)
	}
	bad := oam.Target{Segments: oam.SegmentList{a("fcbb:0:400:500:200:d46::")}, Destination: a("cafe::2"), Decap: true}
	rs, sum := pingIn(t, lab, "hs1", bad, opts)
	if sum.Errors == 0 {
		t.Fatalf("no error through the unbound uSID: %+v", sum)
	}
	for _, r := range rs {
		if r.Kind != oam.KindError {
			continue
		}
		at := r.At
		if r.From != a("fc00:0:4::1") || at.Index != 0 || at.CSID != 1 || at.CSIDValue != 0x500 || at.Dst != a("fcbb:0:500:200:d46::") || at.Inferred {
			t.Errorf("error %s from %v at %+v: want rt4, C-SID 1 = 0500, quoted destination fcbb:0:500:200:d46::", r.Error, r.From, at)
		}
	}
	// Without the structure, the common uSID one reads the quote, and says it inferred it.
	opts.Structure = oam.SIDStructure{}
	rs, _ = pingIn(t, lab, "hs1", bad, opts)
	for _, r := range rs {
		if r.Kind == oam.KindError && (r.At.CSIDValue != 0x500 || !r.At.Inferred) {
			t.Errorf("without --sid-structure: %+v, want C-SID 0500, inferred", r.At)
		}
	}
}

// Through the PSP path of the kernel's flavors selftest (the flavors lab) with H.Encaps: PSP at
// rt2 pops the SRH and cafe::2 receives bare IPv6-in-IPv6, which it does not decapsulate; its
// Parameter Problem quotes the outer packet without its SRH: srv6-ping says the SRH was popped.
// With H.Insert the replies come.
func TestPingPSP(t *testing.T) {
	lab := labtest.Up(t, "flavors")
	a := mustAddr
	tgt := oam.Target{Segments: oam.SegmentList{a("fcff:3::e"), a("fcff:4::ef1"), a("fcff:2::ef1")}, Destination: a("cafe::2")}
	opts := ping.Options{Count: 2, Interval: 20 * time.Millisecond, Timeout: 2 * time.Second, Encoding: probes.Insert}
	if _, sum := pingIn(t, lab, "hs1", tgt, opts); sum.Received == 0 {
		t.Fatalf("no reply with H.Insert: %+v", sum)
	}
	opts.Encoding = probes.Encap
	rs, sum := pingIn(t, lab, "hs1", tgt, opts)
	if sum.Received != 0 || sum.Errors == 0 {
		t.Fatalf("H.Encaps through PSP: %+v, want errors only", sum)
	}
	for _, r := range rs {
		if r.Kind == oam.KindError && (r.ICMPType != probes.ICMPv6ParamProblem || !r.At.Popped || r.At.Index != 3 || r.At.Decapsulated) {
			t.Errorf("%s at %+v: want Parameter Problem about the probe whose SRH was popped", r.Error, r.At)
		}
	}
}
