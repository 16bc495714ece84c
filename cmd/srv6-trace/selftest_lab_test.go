package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/srv6oam/srv6oam/cmd/internal/cli/clitest"

	"github.com/srv6oam/srv6oam/cmd/internal/output"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// The three labs modelled on the kernel's SRv6 selftests (testnet/topologies: csid, hencapred,
// flavors), through every policy their routers hold, with the commands as an operator runs them:
// srv6-ping, srv6-trace, --ecmp and --per-segment, in the encoding the router's policy uses.
// Each lab has a witness on the wire: tshark, another implementation's dissectors, decodes what
// crossed a link, and the test checks it against what the commands said (the destination a
// uSID node shifted to, the reduced SRH, the SRH a PSP node popped).

var (
	toolsOnce sync.Once
	toolsDir  string
	toolsErr  error
)

// TestMain removes the binaries tools built.
func TestMain(m *testing.M) {
	code := m.Run()
	if toolsDir != "" {
		os.RemoveAll(toolsDir)
	}
	os.Exit(code)
}

// tools builds srv6-trace and srv6-ping once for every test of the package.
func tools(t *testing.T) (trace, ping string) {
	t.Helper()
	toolsOnce.Do(func() {
		if toolsDir, toolsErr = os.MkdirTemp("", "srv6-trace-tools"); toolsErr != nil {
			return
		}
		for bin, pkg := range map[string]string{"srv6-trace": ".", "srv6-ping": "../srv6-ping"} {
			if out, err := exec.Command("go", "build", "-o", filepath.Join(toolsDir, bin), pkg).CombinedOutput(); err != nil {
				toolsErr = fmt.Errorf("build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if toolsErr != nil {
		t.Fatal(toolsErr)
	}
	return filepath.Join(toolsDir, "srv6-trace"), filepath.Join(toolsDir, "srv6-ping")
}

// runIn runs a command in node and returns its standard output, standard error and exit code.
func runIn(t *testing.T, lab *testnet.Lab, node string, name string, args ...string) (string, string, int) {
	t.Helper()
	return clitest.Run(t, exec.Command(name, args...), func(cmd *exec.Cmd) error { return lab.Run(node, cmd) })
}

type pingDoc struct {
	Results []output.PingResult `json:"results"`
	Summary output.PingSummary  `json:"summary"`
}

// policy is one SR policy of a lab: from a host, the segment list its router steers the host's
// packets into (encoding as the router's mode), to the other site's host.
type policy struct {
	host, dst string
	segs      string // --segs as typed
	encoding  []string
	// sidHops are the SID hops srv6-trace must show, in order: "SID" or "SID/CSID" for the C-SID
	// of a container; popped marks the hop whose SID popped the SRH (PSP).
	sidHops []string
	popped  string
	// segments is how many segments --per-segment reports (each C-SID one).
	segments int
}

func (p policy) args(extra ...string) []string {
	return append(append(append([]string{"--json"}, p.encoding...), "--segs", p.segs), append(extra, p.dst)...)
}

// checkPolicy pings and traces a policy and checks what each command reports.
func checkPolicy(t *testing.T, lab *testnet.Lab, trace, ping string, p policy) {
	t.Helper()
	out, stderr, code := runIn(t, lab, p.host, ping, p.args("-c", "3", "-i", "0.05", "-W", "2")...)
	var pd pingDoc
	if err := json.Unmarshal([]byte(out), &pd); err != nil || code != 0 || pd.Summary.Received != 3 {
		t.Errorf("%s: srv6-ping %v: exit %d, %+v (%v)\n%s%s", p.host, p.args(), code, pd.Summary, err, stderr, out)
	}

	out, stderr, code = runIn(t, lab, p.host, trace, p.args("-q", "3")...)
	var doc output.TraceDocument
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 || !doc.Reached {
		t.Fatalf("%s: srv6-trace: exit %d, reached %v (%v)\n%s%s", p.host, code, doc.Reached, err, stderr, out)
	}
	var got []string
	popped := ""
	for _, h := range doc.Hops {
		if h.SID == nil {
			continue
		}
		name := h.SID.SID
		if h.SID.CSID != nil {
			name += "/" + h.SID.CSID.Value
		}
		got = append(got, name)
		if h.SID.SRHPopped {
			popped = h.SID.SID
		}
		for _, pr := range h.Probes {
			if !pr.Answered {
				t.Errorf("%s: srv6-trace hop %d: a probe unanswered (the retry must outlast the routers' ICMPv6 rate limit)", p.host, h.TTL)
			}
		}
	}
	if strings.Join(got, " ") != strings.Join(p.sidHops, " ") || popped != p.popped {
		t.Errorf("%s: srv6-trace SID hops %q, popped at %q; want %q, popped at %q", p.host, got, popped, p.sidHops, p.popped)
	}

	out, stderr, code = runIn(t, lab, p.host, trace, p.args("--ecmp")...)
	doc = output.TraceDocument{}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 || len(doc.Branches) != 1 || !doc.Reached {
		t.Errorf("%s: srv6-trace --ecmp: exit %d, %d branches, reached %v (%v); want the lab's one path\n%s", p.host, code, len(doc.Branches), doc.Reached, err, stderr)
	}

	out, stderr, code = runIn(t, lab, p.host, trace, p.args("--per-segment")...)
	doc = output.TraceDocument{}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 || len(doc.Segments) != p.segments {
		t.Errorf("%s: srv6-trace --per-segment: exit %d, %d segments, want %d (%v)\n%s%s", p.host, code, len(doc.Segments), p.segments, err, stderr, out)
	}
	if strings.Contains(stderr, "warning") {
		t.Errorf("%s: srv6-trace --per-segment warned on a host set up for it: %s", p.host, stderr)
	}
	for _, s := range doc.Segments {
		if !s.Alive {
			t.Errorf("%s: srv6-trace --per-segment: segment %d %s down: %s", p.host, s.Index, s.SID, s.Error)
		}
	}
}

// acceptSRH turns on SRH processing on a lab host (all and its interface, which Linux both
// requires): per-segment loop-back probes come back to it with an SRH.
func acceptSRH(t *testing.T, lab *testnet.Lab, host string) {
	t.Helper()
	ifcs, err := lab.Interfaces(host)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-qw", "net.ipv6.conf.all.seg6_enabled=1"}
	for _, i := range ifcs {
		args = append(args, "net.ipv6.conf."+i.Name+".seg6_enabled=1")
	}
	if _, stderr, code := runIn(t, lab, host, "sysctl", args...); code != 0 {
		t.Fatalf("%s: sysctl %v: %s", host, args, stderr)
	}
}

func packetsOf(t *testing.T, ts *labtest.Tshark) []map[string]string {
	t.Helper()
	pkts, err := ts.Packets()
	if err != nil {
		t.Fatal(err)
	}
	return pkts
}

func TestSelftestLabs(t *testing.T) {
	trace, ping := tools(t)
	fields := []string{"ipv6.dst", "ipv6.routing.segleft", "ipv6.routing.srh.last_entry", "ipv6.routing.srh.addr", "icmpv6.type"}

	t.Run("csid", func(t *testing.T) {
		lab := labtest.Up(t, "csid")
		for _, h := range []string{"hs1", "hs2"} {
			acceptSRH(t, lab, h)
		}
		red := []string{"--encap-red", "--decap", "--sid-structure", "32/16"}
		// hs1 → hs2 through rt4, rt3, rt2 in one container. rt4 consumes its uSID 0400 by
		// shifting the destination: what rt3 receives is fcbb:0:300:200:d46::, no SRH.
		ts := labtest.StartTshark(t, lab, "rt3", "rt4", "ipv6.dst == fcbb:0:300:200:d46::", fields...)
		out, stderr, code := runIn(t, lab, "hs1", ping, "--json", "-c", "3", "-i", "0.05", "--encap-red", "--decap",
			"--segs", "fcbb:0::/32 0400,0300,0200,d46", "cafe::2")
		var pd pingDoc
		if err := json.Unmarshal([]byte(out), &pd); err != nil || code != 0 || pd.Summary.Received != 3 {
			t.Errorf("srv6-ping in the compact form: exit %d, %+v (%v)\n%s", code, pd.Summary, err, stderr)
		}
		echoes := 0
		pkts := packetsOf(t, ts)
		for _, p := range pkts {
			if p["ipv6.dst"] == "fcbb:0:300:200:d46::,cafe::2" && p["ipv6.routing.segleft"] == "" && p["icmpv6.type"] == "128" {
				echoes++
			}
		}
		if echoes != 3 {
			t.Errorf("tshark on rt3 saw %d echo requests to the shifted container fcbb:0:300:200:d46:: without an SRH, want 3: %v", echoes, pkts)
		}
		checkPolicy(t, lab, trace, ping, policy{host: "hs1", dst: "cafe::2", segs: "fcbb:0:400:300:200:d46::", encoding: red,
			sidHops: []string{"fcbb:0:400:300:200:d46::/0400", "fcbb:0:400:300:200:d46::/0300"}, segments: 4})
		checkPolicy(t, lab, trace, ping, policy{host: "hs2", dst: "cafe::1", segs: "fcbb:0:300:400:100:d46::", encoding: red,
			sidHops: []string{"fcbb:0:300:400:100:d46::/0300", "fcbb:0:300:400:100:d46::/0400"}, segments: 4})
	})

	t.Run("hencapred", func(t *testing.T) {
		lab := labtest.Up(t, "hencapred") // the routers' ICMPv6 rate limit on, 1000 ms, burst 6
		for _, h := range []string{"hs1", "hs2", "hs3", "hs4"} {
			acceptSRH(t, lab, h)
		}
		// H.Encaps.Red of three SIDs: rt3 receives fcff:3::e with a reduced SRH of the other two
		// (Segments Left 2 = Last Entry 1 + 1); of one SID: rt1 receives no SRH at all.
		three := labtest.StartTshark(t, lab, "rt3", "rt1", "ipv6.dst == fcff:3::e", fields...)
		one := labtest.StartTshark(t, lab, "rt1", "rt2", "ipv6.dst == fcff:1::d46", fields...)
		red := []string{"--encap-red", "--decap"}
		for _, p := range []policy{
			{host: "hs1", dst: "cafe::2", segs: "fcff:3::e,fcff:4::e,fcff:2::d46", sidHops: []string{"fcff:3::e", "fcff:4::e"}, segments: 3},
			{host: "hs2", dst: "cafe::1", segs: "fcff:1::d46", segments: 1},
			{host: "hs3", dst: "cafe::4", segs: "fcff:2::e,fcff:4::d46", sidHops: []string{"fcff:2::e"}, segments: 2},
			{host: "hs4", dst: "cafe::3", segs: "fcff:1::e,fcff:3::d46", sidHops: []string{"fcff:1::e"}, segments: 2},
		} {
			p.encoding = red
			checkPolicy(t, lab, trace, ping, p)
		}
		reduced, bare := 0, 0
		for _, p := range packetsOf(t, three) {
			if p["ipv6.routing.segleft"] == "2" && p["ipv6.routing.srh.last_entry"] == "1" && p["ipv6.routing.srh.addr"] == "fcff:2::d46,fcff:4::e" && p["icmpv6.type"] == "128" {
				reduced++
			}
		}
		for _, p := range packetsOf(t, one) {
			if p["ipv6.dst"] == "fcff:1::d46,cafe::1" && p["ipv6.routing.segleft"] == "" && p["icmpv6.type"] == "128" {
				bare++
			}
		}
		if reduced < 3 || bare < 3 {
			t.Errorf("tshark: %d probes with the reduced SRH (SL 2, Last Entry 1, fcff:2::d46 fcff:4::e) on rt3, %d without an SRH on rt1; want srv6-ping's 3 at least", reduced, bare)
		}
	})

	t.Run("flavors", func(t *testing.T) {
		lab := labtest.Up(t, "flavors")
		for _, h := range []string{"hs1", "hs2"} {
			acceptSRH(t, lab, h)
		}
		// H.Insert through PSP: rt2 receives its fcff:2::ef1 with Segments Left 1 and pops the
		// SRH; hs2 receives the echo request without one.
		before := labtest.StartTshark(t, lab, "rt2", "rt4", "ipv6.dst == fcff:2::ef1", fields...)
		after := labtest.StartTshark(t, lab, "hs2", "rt2", "ipv6.dst == cafe::2", fields...)
		ins := []string{"--insert"}
		checkPolicy(t, lab, trace, ping, policy{host: "hs1", dst: "cafe::2", segs: "fcff:3::e,fcff:4::ef1,fcff:2::ef1", encoding: ins,
			sidHops: []string{"fcff:3::e", "fcff:4::ef1", "fcff:2::ef1"}, popped: "fcff:2::ef1", segments: 4})
		withSRH, without := 0, 0
		for _, p := range packetsOf(t, before) {
			if p["ipv6.routing.segleft"] == "1" && p["icmpv6.type"] == "128" {
				withSRH++
			}
		}
		for _, p := range packetsOf(t, after) {
			if p["ipv6.routing.segleft"] != "" {
				t.Errorf("tshark: hs2 received a packet with an SRH (Segments Left %s): PSP did not pop it", p["ipv6.routing.segleft"])
			} else if p["icmpv6.type"] == "128" {
				without++
			}
		}
		if withSRH < 3 || without < 3 {
			t.Errorf("tshark: %d echo requests reached rt2 with Segments Left 1, %d reached hs2 without an SRH; want srv6-ping's 3 at least", withSRH, without)
		}
		checkPolicy(t, lab, trace, ping, policy{host: "hs2", dst: "cafe::1", segs: "fcff:1::ef1", encoding: ins,
			sidHops: []string{"fcff:1::ef1"}, popped: "fcff:1::ef1", segments: 2})

		// H.Encaps through the PSP path: cafe::2 gets bare IPv6-in-IPv6; srv6-ping says why.
		out, _, code := runIn(t, lab, "hs1", ping, "-c", "1", "-W", "2", "--segs", "fcff:3::e,fcff:4::ef1,fcff:2::ef1", "cafe::2")
		if code == 0 || !strings.Contains(out, "bare IPv6-in-IPv6 (the SRH popped, PSP)") {
			t.Errorf("srv6-ping --encap through PSP: exit %d, no PSP hint:\n%s", code, out)
		}
	})
}
