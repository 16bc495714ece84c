package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/srv6oam/srv6oam/cmd/internal/cli/clitest"
	"github.com/srv6oam/srv6oam/cmd/internal/output"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

type pmtuDoc struct {
	PathMTU *int `json:"path_mtu"`
	Hops    []struct {
		TTL       int
		From      string
		Name      string
		Segment   *int
		MTU       int
		Size      int
		Blackhole bool
		After     int `json:"after_hop"`
	} `json:"limiting_hops"`
	Segments []struct {
		Segment int
		MTU     *int
		Crossed int
	}
	Room *struct {
		HEncaps int `json:"h_encaps"`
	} `json:"policy_room"`
}

// TestPMTUNamesTheSegment: in the pmtu lab (a 1400-byte link between p1 and p2, in the middle
// of the segment from r1's End to r2's End) srv6-trace --pmtu finds a path MTU of 1400, names
// p1 at hop 2 and segment 2 as the limit, and says 1320 bytes are left inside an H.Encaps of
// the two SIDs. The kernel agrees: srv6-ping's probe of exactly 1400 bytes along the list is
// answered and one of 1401 gets p1's Packet Too Big; through h1's own H.Encaps policy over the
// same SIDs an iputils ping of 1320 bytes (-M do) is answered and one of 1321 is not. With
// p1's Packet Too Big dropped (a blackhole), the binary search finds 1400 again, the loss after
// hop 2, in segment 2.
func TestPMTUNamesTheSegment(t *testing.T) {
	bin, ping := tools(t)
	lab := labtest.Up(t, "pmtu")
	mustRunIn(t, lab, "h1", bin, "-q", "1", "fc00:0:6::1")
	// -w 1,3,0: a size is silent only after 1 s, not after ten times the small probes' round
	// trip, which a loaded machine's answer could overshoot.
	args := []string{"--pmtu", "-w", "1,3,0", "--segs", "fc00:0:2::e,fc00:0:5::e", "fc00:0:6::1"}
	out := mustRunIn(t, lab, "h1", bin, append([]string{"--json"}, args...)...)
	clitest.ValidateSchema(t, "srv6-trace-pmtu.schema.json", out)
	var d pmtuDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if d.PathMTU == nil || *d.PathMTU != 1400 || len(d.Hops) != 1 || d.Room == nil || d.Room.HEncaps != 1320 {
		t.Fatalf("path MTU %v, hops %+v, room %+v:\n%s", d.PathMTU, d.Hops, d.Room, out)
	}
	if h := d.Hops[0]; h.Blackhole || h.Name != "p1" || h.TTL != 2 || h.Segment == nil || *h.Segment != 2 || h.MTU != 1400 || h.Size != 1500 {
		t.Errorf("limiting hop %+v, want p1 at hop 2 in segment 2 saying 1400", h)
	}
	if len(d.Segments) != 3 || d.Segments[1].MTU == nil || *d.Segments[1].MTU != 1400 || d.Segments[0].MTU != nil || d.Segments[0].Crossed != 1500 {
		t.Errorf("segments %+v", d.Segments)
	}
	text := mustRunIn(t, lab, "h1", bin, args...)
	for _, re := range []string{`(?m)^ 1500 bytes: Packet Too Big from p1 \(fc00:0:3::1\), hop 2, segment 2 → fc00:0:5::e: mtu 1400$`,
		`(?m)^path MTU 1400 bytes$`, `(?m)^  segment 2 → fc00:0:5::e +1400  p1 \(fc00:0:3::1\) hop 2 says so`, `H\.Encaps 1320,`} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("text lacks %s:\n%s", re, text)
		}
	}
	t.Logf("\n%s", text)

	// The kernel's verdict. srv6-ping's probe: outer IPv6 40 + SRH 8 + 16 × 3 (the two SIDs
	// and the destination) + inner IPv6 40 + ICMPv6 8 + payload.
	for _, c := range []struct {
		size int
		ok   bool
	}{{1400, true}, {1401, false}} {
		payload := c.size - 40 - 56 - 40 - 8
		o, _, code := runIn(t, lab, "h1", ping, "-c", "1", "-W", "1", "-s", fmt.Sprint(payload), "--segs", "fc00:0:2::e,fc00:0:5::e", "fc00:0:6::1")
		if (code == 0) != c.ok || (!c.ok && !strings.Contains(o, "Packet too big: mtu=1400")) {
			t.Errorf("srv6-ping of %d bytes: exit %d, want answered %v:\n%s", c.size, code, c.ok, o)
		}
	}
	for _, c := range []struct {
		inner int
		ok    bool
	}{{1320, true}, {1321, false}} {
		_, _, code := runIn(t, lab, "h1", "ping", "-6", "-c", "2", "-W", "1", "-M", "do", "-s", fmt.Sprint(c.inner-48), "fc00:0:6::100")
		if (code == 0) != c.ok {
			t.Errorf("ping -M do of %d bytes through h1's H.Encaps policy: exit %d, want answered %v", c.inner, code, c.ok)
		}
	}

	// A blackhole: p1's Packet Too Big dropped.
	for _, a := range [][]string{{"add", "table", "ip6", "bh"}, {"add", "chain", "ip6", "bh", "out", "{ type filter hook output priority 0 ; }"},
		{"add", "rule", "ip6", "bh", "out", "icmpv6", "type", "packet-too-big", "drop"}} {
		if o, err := lab.Output(context.Background(), "p1", "nft", a...); err != nil {
			t.Fatalf("nft %v: %v %s", a, err, o)
		}
	}
	out = mustRunIn(t, lab, "h1", bin, append([]string{"--json"}, args...)...)
	clitest.ValidateSchema(t, "srv6-trace-pmtu.schema.json", out)
	d = pmtuDoc{}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if d.PathMTU == nil || *d.PathMTU != 1400 || len(d.Hops) != 1 {
		t.Fatalf("blackhole: path MTU %v, hops %+v", d.PathMTU, d.Hops)
	}
	if h := d.Hops[0]; !h.Blackhole || h.After != 2 || h.Size != 1401 || h.MTU != 1400 || h.Segment == nil || *h.Segment != 2 {
		t.Errorf("blackhole hop %+v, want 1401 bytes lost after hop 2, in segment 2", h)
	}
	text = mustRunIn(t, lab, "h1", bin, args...)
	if !strings.Contains(text, "blackhole: probes of 1401 bytes and more vanish without a Packet Too Big, after hop 2 (segment 2 → fc00:0:5::e); 1400 bytes cross") {
		t.Errorf("blackhole text:\n%s", text)
	}
	t.Logf("\n%s", text)
}

// TestVerboseQuotes: srv6-trace -v through line4's two End SIDs prints, under each hop, the
// probe as the router quoted it: the outer IPv6 header from h1, the SRH with the whole list in
// wire order and the Segments Left the router left in it (the same as quoted_segments_left),
// the inner IPv6 header to h2, the Echo Request. --json -v has the same as a quote object.
func TestVerboseQuotes(t *testing.T) {
	bin, _ := tools(t)
	lab := labtest.Up(t, "line4")
	args := []string{"-v", "-q", "1", "-n", "--segs", "fc00:0:2::e,fc00:0:3::e", "fc00:0:4::1"}
	mustRunIn(t, lab, "h1", bin, args...)
	out := mustRunIn(t, lab, "h1", bin, append([]string{"--json"}, args...)...)
	var d struct {
		Hops []struct {
			TTL    int
			Probes []struct {
				Kind     string
				QuotedSL *int `json:"quoted_segments_left"`
				Quote    *output.JSONQuote
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	errors := 0
	for _, h := range d.Hops {
		for _, p := range h.Probes {
			if p.Kind != "error" {
				continue
			}
			errors++
			if p.Quote == nil || len(p.Quote.Layers) < 5 {
				t.Errorf("hop %d: quote %+v", h.TTL, p.Quote)
				continue
			}
			var got []string
			for _, l := range p.Quote.Layers {
				got = append(got, l.Name)
			}
			o, r, in, ic := p.Quote.Layers[0], p.Quote.Layers[1], p.Quote.Layers[2], p.Quote.Layers[3]
			if strings.Join(got[:4], " ") != "ipv6 ipv6.routing ipv6 icmpv6" || o.Src != "fc00:0:1::1" ||
				strings.Join(r.Segments, " ") != "fc00:0:4::1 fc00:0:3::e fc00:0:2::e" || r.SegmentsLeft == nil || p.QuotedSL == nil ||
				*r.SegmentsLeft != *p.QuotedSL || in.Dst != "fc00:0:4::1" || ic.ICMPType == nil || *ic.ICMPType != 128 {
				t.Errorf("hop %d: layers %v, outer %+v, srh %+v (quoted SL %v), inner %+v", h.TTL, got, o, r, p.QuotedSL, in)
			}
		}
	}
	if errors < 2 {
		t.Errorf("%d errors quoted, want r1's and r2's:\n%s", errors, out)
	}
	text := mustRunIn(t, lab, "h1", bin, args...)
	if !strings.Contains(text, "Routing Header for IPv6 (Segment Routing), Segments Left: ") || !strings.Contains(text, "quoted by fd00:") &&
		!strings.Contains(text, "quoted by fc00:") {
		t.Errorf("text:\n%s", text)
	}
	t.Logf("\n%s", text)
}
