package main

import (
	"bufio"
	"context"
	binenc "encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/bpf/agent/agenttest"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// jsonResult is the part of a result the test checks.
type jsonResult struct {
	Seq      uint32
	Status   string
	RTTMS    *float64 `json:"rtt_ms"`
	Segments []struct {
		From, To, State string
		DelayMS         *float64 `json:"delay_ms"`
	}
}

// TestTimestampsLab runs `srv6-ping --timestamps` in h1 of line4 through End.OAM SIDs on r1,
// r2 and h2 (srv6-agent in-process) and checks the text, --json and --json-lines output.
func TestTimestampsLab(t *testing.T) {
	lab := labtest.Up(t, "line4")
	agenttest.StartAll(t, lab, agenttest.Line4, []string{"fc00:0:1::/48", "fd00::/16"}, 100000)
	warm(t, lab, "h1", "fc00:0:4::1")
	segs := []string{"src→r1", "r1→r2", "r2→h2", "h2→src"}
	args := []string{"--timestamps", "--shared-clock", "-c", "5", "-i", "0.05",
		"--names", "r1,r2,h2", "--segs", "fc00:0:2::b0,fc00:0:3::b0", "fc00:0:4::b0"}

	t.Run("text", func(t *testing.T) {
		out, stderr, code := runCLI(t, lab, "h1", args...)
		t.Logf("srv6-ping %s\n%s", strings.Join(args, " "), out)
		if code != 0 {
			t.Fatalf("exit %d, stderr %s", code, stderr)
		}
		if !strings.HasPrefix(out, "SRV6-PING fc00:0:4::b0 via fc00:0:2::b0 → fc00:0:3::b0: 56 data bytes, timestamped, back to fc00:0:1::1, collector [fc00:0:1::1]:") {
			t.Errorf("header: %q", strings.SplitN(out, "\n", 2)[0])
		}
		num := `(\d+\.\d{3})`
		var re strings.Builder
		re.WriteString(`rtt=` + num + ` ms`)
		for _, s := range segs {
			re.WriteString(`   ` + regexp.QuoteMeta(s) + ` ` + num)
		}
		re.WriteString(` ms \(one-way, shared clock\)`)
		line := regexp.MustCompile(re.String())
		for seq := 1; seq <= 5; seq++ {
			r := regexp.MustCompile(fmt.Sprintf(`(?m)^seq=%d %s$`, seq, line.String()))
			if !r.MatchString(out) {
				t.Errorf("no line for seq=%d with a one-way delay for each of %v", seq, segs)
			}
		}
		if !strings.Contains(out, "5 probes transmitted, 5 returned, 0.0% loss") {
			t.Errorf("summary: want 5 returned, 0.0%% loss")
		}
		for _, s := range segs {
			row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(s) + ` +` + num + `/` + num + `/` + num + `/` + num +
				` +` + num + `/` + num + `/` + num + ` +shared +0\.0% \(0/5\) +up$`)
			if !row.MatchString(out) {
				t.Errorf("summary: no row for %s with its one-way statistics, 0.0%% (0/5) loss, up", s)
			}
		}
	})

	schema := compileSchema(t, "srv6-ping-timestamps.schema.json")
	t.Run("json", func(t *testing.T) {
		out, stderr, code := runCLI(t, lab, "h1", append([]string{"--json"}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d, stderr %s", code, stderr)
		}
		validate(t, schema, out)
		if testing.Verbose() {
			t.Logf("srv6-ping --json %s\n%s", strings.Join(args, " "), out)
		}
		var doc struct {
			Mode    string
			Results []jsonResult
			Summary struct {
				Transmitted, Received int
				Segments              []struct {
					From, To    string
					LossPercent float64 `json:"loss_percent"`
					Delay       struct{ Count int }
				}
			}
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Mode != "timestamps" || len(doc.Results) != 5 || doc.Summary.Received != 5 || len(doc.Summary.Segments) != len(segs) {
			t.Fatalf("mode %q, %d results, %d received, %d segments; want timestamps, 5, 5, %d", doc.Mode,
				len(doc.Results), doc.Summary.Received, len(doc.Summary.Segments), len(segs))
		}
		for _, r := range doc.Results {
			checkComplete(t, r, segs)
		}
		for i, s := range doc.Summary.Segments {
			if s.From+"→"+s.To != segs[i] || s.LossPercent != 0 || s.Delay.Count != 5 {
				t.Errorf("summary segment %d: %+v; want %s, 0%% loss, 5 delays", i, s, segs[i])
			}
		}
	})

	t.Run("json-lines", func(t *testing.T) {
		out, stderr, code := runCLI(t, lab, "h1", append([]string{"--json-lines"}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d, stderr %s", code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 6 {
			t.Fatalf("%d lines, want 5 results and a summary:\n%s", len(lines), out)
		}
		for i, l := range lines {
			validate(t, schema, l)
			if i < 5 {
				var r jsonResult
				if err := json.Unmarshal([]byte(l), &r); err != nil {
					t.Fatal(err)
				}
				checkComplete(t, r, segs)
			} else if !strings.HasPrefix(l, `{"type":"summary"`) {
				t.Errorf("last line is not the summary: %s", l)
			}
		}
	})

	// -D prefixes every line with the time; --pcap records the probes sent and returned.
	t.Run("D and pcap", func(t *testing.T) {
		pcap := filepath.Join(t.TempDir(), "ts.pcap")
		out, stderr, code := runCLI(t, lab, "h1", append([]string{"-D", "--pcap", pcap}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d, stderr %s", code, stderr)
		}
		if n := len(regexp.MustCompile(`(?m)^\[\d+\.\d{6}\] seq=\d `).FindAllString(out, -1)); n != 5 {
			t.Errorf("%d lines with a -D time, want 5:\n%s", n, out)
		}
		b, err := os.ReadFile(pcap)
		if err != nil {
			t.Fatal(err)
		}
		// pcap: a 24-byte header, then per record 16 bytes (incl_len at 8) and the packet.
		var sent, records int
		for off := 24; off+16 <= len(b); {
			n := int(binenc.LittleEndian.Uint32(b[off+8:]))
			if off+16+n > len(b) {
				t.Fatalf("--pcap: record at %d truncated", off)
			}
			pkt := b[off+16 : off+16+n]
			// An IPv6 packet from h1 with an SRH (next header 43) whose first segment is r1's.
			if n > 40+8+16 && pkt[0]>>4 == 6 && pkt[6] == 43 && netip.AddrFrom16([16]byte(pkt[24:40])) == netip.MustParseAddr("fc00:0:2::b0") {
				sent++
			}
			off += 16 + n
			records++
		}
		t.Logf("--pcap: %d records", records)
		if sent != 5 {
			t.Errorf("--pcap: %d probes toward fc00:0:2::b0 recorded, want the 5 sent", sent)
		}
	})

	// Without --segs the destination alone is timestamped: src→D and D→src.
	t.Run("no segs", func(t *testing.T) {
		out, stderr, code := runCLI(t, lab, "h1", "--json", "--timestamps", "--shared-clock", "-c", "2", "-i", "0.05", "fc00:0:4::b0")
		if code != 0 {
			t.Fatalf("exit %d, stderr %s", code, stderr)
		}
		validate(t, schema, out)
		var doc struct{ Results []jsonResult }
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Results) != 2 {
			t.Fatalf("%v: %s", err, out)
		}
		for _, r := range doc.Results {
			checkComplete(t, r, []string{"src→fc00:0:4::b0", "fc00:0:4::b0→src"})
		}
	})

	// Without --shared-clock the clock state decides: unsynchronised (no NTP on the project's
	// machine) prints no delay, synchronised prints delays with a bound.
	t.Run("unsynchronised", func(t *testing.T) {
		out, stderr, code := runCLI(t, lab, "h1", "--timestamps", "-c", "2", "-i", "0.05", "--names", "r1,r2,h2", "--segs", "fc00:0:2::b0,fc00:0:3::b0", "fc00:0:4::b0")
		if code != 0 {
			t.Fatalf("exit %d, stderr %s", code, stderr)
		}
		// Every node reads this host's clock: its adjtimex state is theirs.
		var tx unix.Timex
		state, err := unix.Adjtimex(&tx)
		if err != nil {
			t.Fatalf("adjtimex: %v", err)
		}
		if state == unix.TIME_ERROR || tx.Status&unix.STA_UNSYNC != 0 {
			if !regexp.MustCompile(`(?m)^seq=1 rtt=\d+\.\d{3} ms   src→r1 unsync   r1→r2 unsync   r2→h2 unsync   h2→src unsync `).MatchString(out) ||
				!strings.Contains(out, "use --shared-clock") {
				t.Errorf("clock unsynchronised: want every segment unsync and the hint to --shared-clock:\n%s", out)
			}
		} else if !regexp.MustCompile(`(?m)^seq=1 rtt=\d+\.\d{3} ms   src→r1 \d+\.\d{3}   r1→r2 \d+\.\d{3}   r2→h2 \d+\.\d{3}   h2→src \d+\.\d{3} ms \(one-way, ±\d+\.\d{3}\)`).MatchString(out) {
			t.Errorf("clock synchronised: want every segment measured with a bound:\n%s", out)
		}
	})

	// A SID that is not End.OAM (r1's plain End) forwards the probe without a timestamp: its
	// segments print "?" (state missing), the probe is partial, and the exit status is 0.
	t.Run("non-OAM SID", func(t *testing.T) {
		a := []string{"--timestamps", "--shared-clock", "-c", "2", "-i", "0.05", "-W", "0.5", "--segs", "fc00:0:2::e,fc00:0:3::b0", "fc00:0:4::b0"}
		out, stderr, code := runCLI(t, lab, "h1", a...)
		t.Logf("srv6-ping %s\n%s", strings.Join(a, " "), out)
		if code != 0 {
			t.Fatalf("exit %d, stderr %s", code, stderr)
		}
		want := regexp.MustCompile(`(?m)^seq=1 rtt=\d+\.\d{3} ms   src→fc00:0:2::e \?   fc00:0:2::e→fc00:0:3::b0 \?   fc00:0:3::b0→fc00:0:4::b0 \d+\.\d{3}   fc00:0:4::b0→src \d+\.\d{3} ms`)
		if !want.MatchString(out) {
			t.Errorf("want r1's segments as ? and the others measured")
		}
		if !regexp.MustCompile(`(?m)^src→fc00:0:2::e .* 2 unreported$`).MatchString(out) || !strings.Contains(out, "? = no timestamp from that node") {
			t.Errorf("summary: want src→fc00:0:2::e with 2 unreported")
		}
		out, _, code = runCLI(t, lab, "h1", append([]string{"--json"}, a...)...)
		validate(t, schema, out)
		if code != 0 || !strings.Contains(out, `"state": "missing"`) || !strings.Contains(out, `"status": "partial"`) {
			t.Errorf("--json: exit %d, want 0 with partial results and missing segments:\n%s", code, out)
		}
	})

	// A destination without End.OAM (h2's loopback): what h2 does with a probe whose SRH still
	// has a segment left decides; the segments it should have timestamped are never measured.
	t.Run("non-OAM destination", func(t *testing.T) {
		a := []string{"--timestamps", "--shared-clock", "-c", "2", "-i", "0.05", "-W", "0.5", "--segs", "fc00:0:2::b0,fc00:0:3::b0", "fc00:0:4::1"}
		out, stderr, code := runCLI(t, lab, "h1", a...)
		t.Logf("srv6-ping %s\n%s", strings.Join(a, " "), out)
		if code != 0 {
			t.Fatalf("exit %d, stderr %s", code, stderr)
		}
		want := regexp.MustCompile(`(?m)^seq=1 rtt=\d+\.\d{3} ms   src→fc00:0:2::b0 \d+\.\d{3}   fc00:0:2::b0→fc00:0:3::b0 \d+\.\d{3}   fc00:0:3::b0→fc00:0:4::1 \?   fc00:0:4::1→src \? ms`)
		if !want.MatchString(out) || !strings.Contains(out, "? = no timestamp from that node") {
			t.Errorf("want the segments up to r2 measured, the two around fc00:0:4::1 as ?, and the note on ?")
		}
	})

	// Ctrl-C: the summary is printed, the exit status says whether a probe returned.
	t.Run("interrupt", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, "--timestamps", "--shared-clock", "-i", "0.05", "--segs", "fc00:0:2::b0", "fc00:0:4::b0")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := lab.Start("h1", cmd); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "seq=3 ") {
				if err := cmd.Process.Signal(os.Interrupt); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("after SIGINT: %v; want exit 0\n%s", err, out.String())
		}
		if !regexp.MustCompile(`(?m)^\d+ probes transmitted, \d+ returned, `).MatchString(out.String()) ||
			!strings.Contains(out.String(), "--- fc00:0:4::b0 timestamped probe statistics") {
			t.Errorf("no summary after SIGINT:\n%s", out.String())
		}
	})

	// Probes that never come back: exit 1, and the loss is localised.
	t.Run("no return", func(t *testing.T) {
		a := []string{"--timestamps", "--shared-clock", "-c", "2", "-i", "0.05", "-W", "0.3", "--segs", "fc00:0:2::b0,fc00:0:3::77", "fc00:0:4::b0"}
		out, stderr, code := runCLI(t, lab, "h1", a...)
		t.Logf("srv6-ping %s\n%s", strings.Join(a, " "), out)
		if code != exitNoReply {
			t.Fatalf("exit %d, want 1; stderr %s", code, stderr)
		}
		if !strings.Contains(out, "seq=1 lost on fc00:0:2::b0→fc00:0:3::77 (last seen by fc00:0:2::b0)") ||
			!strings.Contains(out, "2 probes transmitted, 0 returned, 100.0% loss") {
			t.Errorf("want the loss localised on fc00:0:2::b0→fc00:0:3::77")
		}
	})
}
