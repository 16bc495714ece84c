package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/cmd/internal/output"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// ptInterface is one interface of wan10 with a Path Tracing midpoint.
type ptInterface struct{ node, peer string }

// ptIDs gives every router interface of topo (not the hosts') a Path Tracing id: 2 × its
// link's number, plus 1 on the link's b end.
func ptIDs(topo *testnet.Topology) map[uint16]ptInterface {
	router := func(n string) bool { return strings.HasPrefix(n, "r") || strings.HasPrefix(n, "p") }
	ids := map[uint16]ptInterface{}
	for i, l := range topo.Links {
		if router(l.A) {
			ids[uint16(2*(i+1))] = ptInterface{l.A, l.B}
		}
		if router(l.B) {
			ids[uint16(2*(i+1)+1)] = ptInterface{l.B, l.A}
		}
	}
	return ids
}

// TestPTThroughWan10: srv6-agent --pt on every router of wan10 (SRv6 routers and the plain
// core), and srv6-trace --pt from h1 through r2's End SID to h2's and back. Every probe comes
// home with the interfaces it left by: r1's towards r2 first, then a chain in which each
// midpoint sits on the node the one before it sent to, whichever ECMP branch the core took;
// the text names them as --pt-names says.
func TestPTThroughWan10(t *testing.T) {
	topo, err := testnet.Load("wan10")
	if err != nil {
		t.Fatal(err)
	}
	lab := labtest.UpTopology(t, topo)
	dir := t.TempDir()
	for _, cmd := range []string{"srv6-trace", "srv6-agent"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, cmd), "github.com/srv6oam/srv6oam/cmd/"+cmd).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", cmd, err, out)
		}
	}
	ids := ptIDs(topo)
	args := map[string][]string{}
	var names []string
	for id, i := range ids {
		args[i.node] = append(args[i.node], "--pt", fmt.Sprintf("dev=to-%s,id=%d,template=4", i.peer, id))
		names = append(names, fmt.Sprintf("%d=%s:to-%s", id, i.node, i.peer))
	}
	for node, a := range args {
		cmd := exec.Command(filepath.Join(dir, "srv6-agent"), a...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := lab.Start(node, cmd); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Errorf("srv6-agent on %s: %v\n%s", node, err, stderr.String())
			}
		})
		// Attached once it says it runs.
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(stderr.String(), "srv6-agent running") {
			if time.Now().After(deadline) {
				t.Fatalf("srv6-agent on %s did not start:\n%s", node, stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	run := func(args ...string) string {
		t.Helper()
		return mustRunIn(t, lab, "h1", filepath.Join(dir, "srv6-trace"), args...)
	}
	common := []string{"--pt", "-q", "4", "-w", "5", "--pt-template", "4", "--pt-names", strings.Join(names, ","), "--segs", "fc00:0:3::e", "fc00:0:8::e"}
	var doc output.PTDocument
	out := run(append([]string{"--json"}, common...)...)
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.Sent != 4 || doc.Back != 4 || len(doc.Probes) != 4 || len(doc.Paths) == 0 {
		t.Fatalf("sent %d, back %d, %d probes, %d paths:\n%s", doc.Sent, doc.Back, len(doc.Probes), len(doc.Paths), out)
	}
	for _, p := range doc.Probes {
		if p.Lost || p.Error != "" || p.Full || len(p.Hops) < 5 {
			t.Errorf("probe %d: lost %v, error %q, full %v, %d hops", p.Seq, p.Lost, p.Error, p.Full, len(p.Hops))
			continue
		}
		first := ids[p.Hops[0].Interface]
		if first != (ptInterface{"r1", "r2"}) {
			t.Errorf("probe %d: first midpoint %+v, want r1 towards r2", p.Seq, first)
		}
		for i, h := range p.Hops {
			at, ok := ids[h.Interface]
			if !ok {
				t.Errorf("probe %d hop %d: interface %d is none of the lab's", p.Seq, i, h.Interface)
				continue
			}
			if h.Name != at.node+":to-"+at.peer {
				t.Errorf("probe %d hop %d: named %q, want %s:to-%s", p.Seq, i, h.Name, at.node, at.peer)
			}
			if h.Candidates < 1 {
				t.Errorf("probe %d hop %d: TTS %#x outside the probe's window", p.Seq, i, h.TTS)
			}
			if i == 0 {
				continue
			}
			// The midpoint before sent to this node, or to a host (no midpoint) which sent
			// the probe back to this one: h2 returns it to r3, the only router it has.
			prev := ids[p.Hops[i-1].Interface]
			if prev.peer != at.node && !(prev.peer == "h2" && at.node == "r3") {
				t.Errorf("probe %d hop %d: %s:to-%s after %s:to-%s, which does not lead there", p.Seq, i, at.node, at.peer, prev.node, prev.peer)
			}
		}
		if last := ids[p.Hops[len(p.Hops)-1].Interface]; last != (ptInterface{"r1", "h1"}) {
			t.Errorf("probe %d: last midpoint %+v, want r1 towards h1", p.Seq, last)
		}
	}

	text := run(append([]string{"--pt", "-q", "1"}, common[3:]...)...)
	for _, want := range []string{"srv6-trace --pt to fc00:0:8::e via fc00:0:3::e and back", "probe 1: back in", "r1:to-r2", "r1:to-h1", "--- 1 probes sent, 1 back, 1 paths"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	t.Logf("\n%s", text)
}
