package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/srv6oam/srv6oam/bpf/agent"
	"github.com/srv6oam/srv6oam/bpf/agent/agenttest"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// TestStampTLVsLab: srv6-ping --stamp with RFC 8972 and RFC 9503 TLVs against srv6-agent's
// stateful reflector on h2 of line4. The Return Path TLV sends every reply back through r2's
// and r1's End SIDs: nftables on r2 counts the replies that arrive there addressed to its SID
// with a routing header (the witness that the kernel forwarded them by that SRH), and counts
// none without the TLV. The other TLVs are checked against what the lab knows: addresses,
// ports, DSCP on the wire, and the reflector's counts.
func TestStampTLVsLab(t *testing.T) {
	lab := labtest.Up(t, "line4")
	key := filepath.Join(t.TempDir(), "stamp.key")
	if err := os.WriteFile(key, []byte("0123456789abcdef-lab-key"), 0o600); err != nil {
		t.Fatal(err)
	}
	agenttest.Start(t, lab, "h2", agent.Config{Reflector: &agent.ReflectorConfig{
		Senders: []string{"fc00:0:1::/48"}, Rate: 1000, Mode: "stateful", HMACKeyFile: key, DSCP: []int{0, 46},
		ReturnSIDs: []string{"fc00:0:2::e", "fc00:0:3::e"}}})
	warm(t, lab, "h1", "fc00:0:4::1")
	ctx := context.Background()
	for _, c := range [][]string{
		{"add", "table", "ip6", "rp"},
		{"add", "chain", "ip6", "rp", "pre", "{ type filter hook prerouting priority -300 ; }"},
		{"add", "rule", "ip6", "rp", "pre", "ip6", "daddr", "fc00:0:3::e", "ip6", "nexthdr", "43", "counter"},
	} {
		if out, err := lab.Output(ctx, "r2", "nft", c...); err != nil {
			t.Fatalf("nft: %v %s", err, out)
		}
	}
	counted := func() int {
		out, err := lab.Output(ctx, "r2", "nft", "list", "chain", "ip6", "rp", "pre")
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`counter packets (\d+)`).FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("no counter in %s", out)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	schema := compileSchema(t, "srv6-ping-stamp.schema.json")
	const n = 4
	base := []string{"--stamp", "--shared-clock", "-c", strconv.Itoa(n), "-i", "0.05", "--stamp-ssid", "77",
		"--stamp-tlv", "location,timestamp-info,cos=46,direct,follow-up,dna=fc00:0:4::1", "--stamp-hmac-key-file", key}

	out, stderr, code := runCLI(t, lab, "h1", append(base, "fc00:0:4::1")...)
	t.Logf("srv6-ping\n%s", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	tlvLine := regexp.MustCompile(`(?m)^  TLVs: reflector seq (\d+); it saw \[fc00:0:1::1\]:\d+ → \[fc00:0:4::1\]:862; clock (ntp|free-running), T2 software, T3 software; arrived DSCP 0 ECN 0, asked reply DSCP 46, reply came with DSCP 46; counts sent (\d+), reflector received (\d+), replied (\d+)`)
	lines := tlvLine.FindAllStringSubmatch(out, -1)
	if len(lines) != n {
		t.Fatalf("%d TLV lines, want %d", len(lines), n)
	}
	for i, l := range lines {
		if l[1] != strconv.Itoa(i) || l[3] != strconv.Itoa(i+1) || l[4] != strconv.Itoa(i+1) || l[5] != strconv.Itoa(i+1) {
			t.Errorf("probe %d: %q", i+1, l[0])
		}
	}
	if !strings.Contains(out, "destination confirmed") || !strings.Contains(out, "HMAC verified") || strings.Contains(out, "not recognised") {
		t.Error("DNA not confirmed, HMAC not verified or a TLV not recognised")
	}
	if !strings.Contains(out, "loss per direction (Direct Measurement): forward 0, backward 0") {
		t.Error("no loss per direction line")
	}
	if got := counted(); got != 0 {
		t.Fatalf("%d replies reached r2's End SID without a Return Path TLV", got)
	}

	// Through a chosen return path: r2 End, then r1 End, then h1.
	args := append(append([]string{"--json"}, base...), "--stamp-return-segs", "fc00:0:3::e,fc00:0:2::e", "fc00:0:4::1")
	jout, stderr, code := runCLI(t, lab, "h1", args...)
	if code != 0 {
		t.Fatalf("--stamp-return-segs: exit %d: %s\n%s", code, stderr, jout)
	}
	validate(t, schema, jout)
	var doc struct {
		Options struct{ TLVs []string }
		Results []struct {
			Status string
			TLVs   *struct {
				ReflectorSeq       uint32 `json:"reflector_seq"`
				ReturnPathHonoured *bool  `json:"return_path_honoured"`
				HMACVerified       bool   `json:"hmac_verified"`
			}
		}
		Summary struct {
			Received    int
			Directional *struct{ Forward, Backward int } `json:"loss_per_direction"`
		}
	}
	if err := json.Unmarshal([]byte(jout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary.Received != n || doc.Summary.Directional == nil || doc.Summary.Directional.Forward != 0 {
		t.Fatalf("summary %+v", doc.Summary)
	}
	for _, r := range doc.Results {
		if r.Status != "reply" || r.TLVs == nil || r.TLVs.ReturnPathHonoured == nil || !*r.TLVs.ReturnPathHonoured || !r.TLVs.HMACVerified {
			t.Errorf("result %+v", r)
		}
	}
	if len(doc.Options.TLVs) == 0 || doc.Options.TLVs[len(doc.Options.TLVs)-1] != "HMAC" {
		t.Errorf("options.tlvs %v: the HMAC TLV comes last", doc.Options.TLVs)
	}
	if got := counted(); got != n {
		t.Errorf("r2 saw %d replies addressed to its End SID with an SRH, want %d", got, n)
	}
	// The reflector removed each reply's segment list after sending it: plain replies again.
	if _, stderr, code := runCLI(t, lab, "h1", append(base, "fc00:0:4::1")...); code != 0 {
		t.Fatalf("after the return path: exit %d: %s", code, stderr)
	}
	if got := counted(); got != n {
		t.Errorf("after a run without Return Path, r2 counts %d replies to its End SID, want still %d: a segment list stayed on the reflector's socket", got, n)
	}
	// A SID the reflector does not allow: the Return Path comes back flagged U, replies plain.
	out, _, code = runCLI(t, lab, "h1", append(base, "--stamp-return-segs", "fc00:0:3::e1", "fc00:0:4::1")...)
	if code != 0 || !strings.Contains(out, "return path NOT honoured") || !strings.Contains(out, "not recognised: Return Path") {
		t.Errorf("Return Path through a SID off reflector.return_sids: exit %d\n%s", code, out)
	}
	if got := counted(); got != n {
		t.Errorf("r2 counts %d replies to its End SID, want still %d", got, n)
	}
}
