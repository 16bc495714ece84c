package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/srv6oam/srv6oam/bpf/agent"
	"github.com/srv6oam/srv6oam/bpf/agent/agenttest"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// TestIOAMLoopBack: srv6-ping --ioam from h1 of wan10 (IOAM on at every node) through r2's End
// SID to h2's and back. Every probe comes home with the whole trace: one entry per node that
// received it, in order, r1's first and h1's own last, node ids as the lab configured them,
// each entry's ingress interface the link it came in on, and, one clock for all, a measured
// delay from the entry before that is not negative. The JSON validates against its schema,
// and each probe's ioam object against srv6-trace's; the text names the nodes (the lab the
// command runs in).
func TestIOAMLoopBack(t *testing.T) {
	topo, err := testnet.Load("wan10")
	if err != nil {
		t.Fatal(err)
	}
	lab := labtest.UpTopology(t, topo)
	warm(t, lab, "h1", "fc00:0:8::1")
	node := map[uint64]string{}
	for _, n := range topo.Nodes {
		node[uint64(n.IOAM.NodeID)] = n.Name
	}
	args := []string{"--ioam", "--ioam-nodes", "12", "--shared-clock", "-c", "3", "-i", "0.1", "--segs", "fc00:0:3::e", "fc00:0:8::e"}
	out, stderr, code := runCLI(t, lab, "h1", append([]string{"--json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	validate(t, compileSchema(t, "srv6-ping-ioam.schema.json"), out)
	var doc struct {
		Results []struct {
			Seq  int
			Lost bool
			IOAM json.RawMessage `json:"ioam"`
		}
		Summary struct{ Transmitted, Received int }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary.Transmitted != 3 || doc.Summary.Received != 3 || len(doc.Results) != 3 {
		t.Fatalf("summary %+v, %d results:\n%s", doc.Summary, len(doc.Results), out)
	}
	entrySchema := compileSchema(t, "srv6-trace-ioam.schema.json")
	for _, r := range doc.Results {
		validate(t, entrySchema, string(r.IOAM))
		var io struct {
			Overflow bool
			Entries  []struct {
				NodeID     uint64   `json:"node_id"`
				IngressIf  uint32   `json:"ingress_if"`
				DelayState string   `json:"delay_state"`
				DelayMS    *float64 `json:"delay_ms"`
			}
		}
		if err := json.Unmarshal(r.IOAM, &io); err != nil {
			t.Fatal(err)
		}
		if io.Overflow || len(io.Entries) < 8 {
			t.Errorf("probe %d: %d entries (overflow %v), want every node there and back", r.Seq, len(io.Entries), io.Overflow)
			continue
		}
		var path []string
		prev := "h1"
		for i, e := range io.Entries {
			name := node[e.NodeID]
			path = append(path, name)
			if name == "" {
				t.Errorf("probe %d entry %d: node id %d is none of the lab's", r.Seq, i, e.NodeID)
				continue
			}
			if want := topo.IOAMInterfaceID(topo.Node(name), prev); want != e.IngressIf {
				t.Errorf("probe %d entry %d (%s): ingress interface %d, want %d (the link from %s)", r.Seq, i, name, e.IngressIf, want, prev)
			}
			if e.DelayState != "measured" || e.DelayMS == nil || *e.DelayMS < 0 {
				t.Errorf("probe %d entry %d (%s): delay %s %v", r.Seq, i, name, e.DelayState, e.DelayMS)
			}
			prev = name
		}
		if path[0] != "r1" || path[len(path)-1] != "h1" || !strings.Contains(strings.Join(path, " "), "r2") || !strings.Contains(strings.Join(path, " "), "h2") {
			t.Errorf("probe %d: path %v, want r1 first, through r2 and h2, h1 last", r.Seq, path)
		}
	}

	text, _, code := runCLI(t, lab, "h1", args...)
	if code != 0 || !strings.Contains(text, "SRV6-PING --ioam fc00:0:8::e via fc00:0:3::e and back to fc00:0:1::1") ||
		!strings.Contains(text, "3 probes transmitted, 3 back, 0% packet loss") || !strings.Contains(text, "seq=1 back in") ||
		!strings.Contains(text, "node 2 r1  hl 63") {
		t.Errorf("text (exit %d):\n%s", code, text)
	}
	t.Logf("\n%s", text)
}

// TestTimestampsIOAM: srv6-ping --timestamps --ioam from h1 of wan10 through End.OAM SIDs on r2
// and h2 (srv6-agent in-process, the collector trusted for captures) and back. Each probe
// comes home with the whole trace, and each agent's report carries the trace as the probe
// reached that node: a prefix of the returned one, entry for entry (same nodes, same receive
// times), ending with the reporting node's own entry (its ingress fills before End.BPF runs).
// The JSON validates against the timestamps schema and each trace against srv6-trace's.
func TestTimestampsIOAM(t *testing.T) {
	topo, err := testnet.Load("wan10")
	if err != nil {
		t.Fatal(err)
	}
	lab := labtest.UpTopology(t, topo)
	agenttest.StartAllTrusting(t, lab, []agenttest.SID{
		{Node: "r2", SID: "fc00:0:3::b0", Device: "to-p2", NodeID: 3},
		{Node: "h2", SID: "fc00:0:8::b0", Device: "to-r3", NodeID: 8},
	}, []string{"fc00:0:1::/48"}, 100000)
	warm(t, lab, "h1", "fc00:0:8::1")
	id := map[string]uint64{}
	for _, n := range topo.Nodes {
		id[n.Name] = uint64(n.IOAM.NodeID)
	}
	// --linger 1: the reports (batched by the agents) have a second after the probe is back.
	args := []string{"--timestamps", "--ioam", "--ioam-nodes", "12", "--shared-clock", "-c", "3", "-i", "0.1", "--linger", "1",
		"--segs", "fc00:0:3::b0", "fc00:0:8::b0"}
	out, stderr, code := runCLI(t, lab, "h1", append([]string{"--json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	validate(t, compileSchema(t, "srv6-ping-timestamps.schema.json"), out)
	type entry struct {
		NodeID    uint64 `json:"node_id"`
		Timestamp string
	}
	var doc struct {
		Options struct {
			IOAM struct {
				ReportsCarryTrace bool `json:"reports_carry_trace"`
			}
		}
		Results []struct {
			Seq    int
			Status string
			IOAM   []struct {
				Point      string
				PointIndex int `json:"point_index"`
				Source     string
				NodeID     *uint32 `json:"node_id"`
				Error      string
				Trace      json.RawMessage
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if !doc.Options.IOAM.ReportsCarryTrace || len(doc.Results) != 3 {
		t.Fatalf("reports carry the trace %v, %d results:\n%s", doc.Options.IOAM.ReportsCarryTrace, len(doc.Results), out)
	}
	traceSchema := compileSchema(t, "srv6-trace-ioam.schema.json")
	want := []struct {
		source string
		node   string
	}{{"report", "r2"}, {"report", "h2"}, {"return", "h1"}}
	for _, r := range doc.Results {
		if r.Status != "complete" || len(r.IOAM) != 3 {
			t.Errorf("probe %d: %s, %d traces, want complete with r2's, h2's and the return's\n%s", r.Seq, r.Status, len(r.IOAM), out[strings.Index(out, `"summary"`):])
			continue
		}
		var traces [3][]entry
		for i, w := range want {
			got := r.IOAM[i]
			if got.Source != w.source || got.PointIndex != i+1 || got.Error != "" {
				t.Errorf("probe %d trace %d: %s at point %d (%s), error %q; want %s at point %d", r.Seq, i, got.Source, got.PointIndex, got.Point, got.Error, w.source, i+1)
				continue
			}
			validate(t, traceSchema, string(got.Trace))
			var tr struct{ Entries []entry }
			if err := json.Unmarshal(got.Trace, &tr); err != nil {
				t.Fatal(err)
			}
			traces[i] = tr.Entries
			if n := len(tr.Entries); n == 0 || tr.Entries[n-1].NodeID != id[w.node] {
				t.Errorf("probe %d: the trace at %s ends with %+v, want %s's entry (node %d)", r.Seq, w.node, tr.Entries, w.node, id[w.node])
			}
		}
		// Each report's trace is what the returned one held when the probe reached that node.
		for i := 0; i < 2; i++ {
			if len(traces[i]) > len(traces[2]) || (i > 0 && len(traces[i]) <= len(traces[i-1])) {
				t.Errorf("probe %d: trace lengths %d, %d, %d: each point's must be longer than the one before", r.Seq, len(traces[0]), len(traces[1]), len(traces[2]))
				continue
			}
			for k, e := range traces[i] {
				if e != traces[2][k] {
					t.Errorf("probe %d: %s's report entry %d %+v, the returned trace's %+v", r.Seq, want[i].node, k, e, traces[2][k])
				}
			}
		}
	}

	text, _, code := runCLI(t, lab, "h1", args...)
	if code != 0 || !strings.Contains(text, "IOAM trace: namespace 0") || !strings.Contains(text, "the End.OAM agents' reports carry it") ||
		!strings.Contains(text, "  ioam back at src: ") || !strings.Contains(text, "node 3 r2  hl ") {
		t.Errorf("text (exit %d):\n%s", code, text)
	}
	t.Logf("\n%s", text)
}

// TestStampIOAM: srv6-ping --stamp --ioam from h1 of wan10 through r2's End SID to the
// reflector on h2, which returns the test packet's trace in its reply (reflect_ioam), and to
// the one on h3, which does not. h2's replies come back with the whole trace: r1 first, r2,
// h2 at the turn, h1's own entry last, each ingress the link it came in on; h3's say why they
// have none. JSON against the stamp schema, each trace against srv6-trace's.
func TestStampIOAM(t *testing.T) {
	topo, err := testnet.Load("wan10")
	if err != nil {
		t.Fatal(err)
	}
	lab := labtest.UpTopology(t, topo)
	senders := []string{"fc00:0:1::/48"}
	h2, _ := agenttest.Start(t, lab, "h2", agent.Config{Reflector: &agent.ReflectorConfig{Listen: "[::]:862", Senders: senders, ReflectIOAM: true}})
	agenttest.Start(t, lab, "h3", agent.Config{Reflector: &agent.ReflectorConfig{Listen: "[::]:862", Senders: senders}})
	warm(t, lab, "h1", "fc00:0:8::1")
	warm(t, lab, "h1", "fc00:0:9::1")
	node := map[uint64]string{}
	for _, n := range topo.Nodes {
		node[uint64(n.IOAM.NodeID)] = n.Name
	}
	args := []string{"--stamp", "--ioam", "--ioam-nodes", "12", "--shared-clock", "-c", "3", "-i", "0.1", "--segs", "fc00:0:3::e"}
	out, stderr, code := runCLI(t, lab, "h1", append(append([]string{"--json"}, args...), "fc00:0:8::1")...)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	validate(t, compileSchema(t, "srv6-ping-stamp.schema.json"), out)
	type result struct {
		Seq       int
		Status    string
		IOAM      json.RawMessage `json:"ioam"`
		IOAMError string          `json:"ioam_error"`
	}
	var doc struct{ Results []result }
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Results) != 3 {
		t.Fatalf("%d results:\n%s", len(doc.Results), out)
	}
	traceSchema := compileSchema(t, "srv6-trace-ioam.schema.json")
	for _, r := range doc.Results {
		if r.Status != "reply" || r.IOAM == nil {
			t.Errorf("seq %d: %s, ioam error %q; want a reply with the trace", r.Seq, r.Status, r.IOAMError)
			continue
		}
		validate(t, traceSchema, string(r.IOAM))
		var io struct {
			Entries []struct {
				NodeID    uint64 `json:"node_id"`
				IngressIf uint32 `json:"ingress_if"`
			}
		}
		if err := json.Unmarshal(r.IOAM, &io); err != nil {
			t.Fatal(err)
		}
		var path []string
		prev := "h1"
		for i, e := range io.Entries {
			name := node[e.NodeID]
			path = append(path, name)
			if want := topo.IOAMInterfaceID(topo.Node(name), prev); name == "" || want != e.IngressIf {
				t.Errorf("seq %d entry %d: node %d (%q), ingress %d, want the link from %s (%d)", r.Seq, i, e.NodeID, name, e.IngressIf, prev, want)
			}
			prev = name
		}
		p := " " + strings.Join(path, " ") + " "
		if len(path) < 5 || path[0] != "r1" || path[len(path)-1] != "h1" || !strings.Contains(p, " r2 ") || !strings.Contains(p, " h2 ") ||
			strings.Index(p, " r2 ") > strings.Index(p, " h2 ") {
			t.Errorf("seq %d: path %v, want r1 first, r2 then h2 (the reflector), h1 last", r.Seq, path)
		}
	}
	if got := h2.Reflector().Stats().IOAMReflected.Load(); got < 3 {
		t.Errorf("h2's reflector counts %d replies with the trace, want 3 at least", got)
	}

	out, stderr, code = runCLI(t, lab, "h1", append(append([]string{"--json"}, args...), "fc00:0:9::1")...)
	if code != 0 {
		t.Fatalf("h3: exit %d: %s\n%s", code, stderr, out)
	}
	validate(t, compileSchema(t, "srv6-ping-stamp.schema.json"), out)
	doc.Results = nil
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range doc.Results {
		if r.Status != "reply" || r.IOAM != nil || !strings.Contains(r.IOAMError, "does not return it") {
			t.Errorf("h3 seq %d: %s, trace %s, error %q; want a reply that says the reflector does not return the trace", r.Seq, r.Status, r.IOAM, r.IOAMError)
		}
	}

	text, _, code := runCLI(t, lab, "h1", append(args, "fc00:0:8::1")...)
	if code != 0 || !strings.Contains(text, "IOAM trace: namespace 0") || !strings.Contains(text, "  ioam there and back: ") ||
		!strings.Contains(text, "node 8 h2  hl ") {
		t.Errorf("text (exit %d):\n%s", code, text)
	}
	t.Logf("\n%s", text)
}
