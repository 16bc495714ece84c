package agent_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/srv6oam/srv6oam/bpf"
	"github.com/srv6oam/srv6oam/bpf/agent"
	"github.com/srv6oam/srv6oam/bpf/agent/agenttest"
	"github.com/srv6oam/srv6oam/bpf/bpftest"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

var (
	h1Addr = netip.MustParseAddr("fc00:0:1::1")
	h2Addr = netip.MustParseAddr("fc00:0:4::1")
	r1SID  = netip.MustParseAddr("fc00:0:2::b0") // r1's range for End.BPF SIDs (line4.yaml)
)

const r1NodeID = 2

func r1Config() agent.Config {
	return agent.Config{
		NodeID:        r1NodeID,
		SIDs:          []agent.SIDConfig{{SID: r1SID.String(), Device: "to-r2"}},
		Collectors:    []string{"fc00:0:1::/48"}, // h1's locator only
		MetricsListen: "[::1]:0",
	}
}

// startAgent starts an agent in r1's namespace and serves it until the test ends or stop is
// called; stop returns Run's error.
func startAgent(t *testing.T, lab *testnet.Lab, cfg agent.Config) (a *agent.Agent, stop func() error) {
	t.Helper()
	return agenttest.Start(t, lab, "r1", cfg)
}

// listenUDP opens a collector socket in node's namespace.
func listenUDP(t *testing.T, lab *testnet.Lab, node string, addr netip.Addr) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := lab.Exec(node, func() error {
		var err error
		c, err = net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		return err
	})
	if err != nil {
		t.Fatalf("collector socket on %s: %v", node, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func probePacket(seq uint32, collector netip.AddrPort) bpftest.Packet {
	return bpftest.Packet{
		Src:       h1Addr,
		Segments:  []netip.Addr{r1SID, h2Addr},
		FlowLabel: 0x100 + seq,
		Probe: &srh.Probe{Flags: srh.ProbeReport, Session: 0xabc, Sequence: seq, TxTimestamp: uint64(probes.TAINow()),
			ReportTo: collector.Addr(), ReportPort: collector.Port()},
		Slots: true,
	}
}

func send(t *testing.T, lab *testnet.Lab, p bpftest.Packet) []byte {
	t.Helper()
	b, err := p.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if err := bpftest.Send(lab, "h1", b); err != nil {
		t.Fatal(err)
	}
	return b
}

func readReport(t *testing.T, c *net.UDPConn, timeout time.Duration) (oam.Report, error) {
	t.Helper()
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(timeout))
	n, err := c.Read(buf)
	if err != nil {
		return oam.Report{}, err
	}
	var r oam.Report
	if err := r.UnmarshalBinary(buf[:n]); err != nil {
		t.Fatalf("collector received an undecodable report: %v", err)
	}
	return r, nil
}

// assertNothingLeft checks that no srv6oam route remains on r1 and that the program is gone.
func assertNothingLeft(t *testing.T, lab *testnet.Lab, progIDs ...ebpf.ProgramID) {
	t.Helper()
	h, err := lab.Handle("r1")
	if err != nil {
		t.Fatal(err)
	}
	routes, err := bpf.BoundRoutes(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 0 {
		t.Errorf("routes left on r1: %v", routes)
	}
	for _, id := range progIDs {
		// The kernel frees a program after an RCU grace period once its last reference is gone.
		deadline := time.Now().Add(5 * time.Second)
		for {
			p, err := ebpf.NewProgramFromID(id)
			if errors.Is(err, os.ErrNotExist) {
				break
			}
			if err == nil {
				p.Close()
			}
			if time.Now().After(deadline) {
				t.Errorf("program %d still loaded (err %v)", id, err)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func TestAgentStampsAndReportsProbes(t *testing.T) {
	lab := labtest.Up(t, "line4")
	a, stop := startAgent(t, lab, r1Config())
	progID, err := a.ProgramID()
	if err != nil {
		t.Fatal(err)
	}
	collector := listenUDP(t, lab, "h1", h1Addr)
	collectorAddr := collector.LocalAddr().(*net.UDPAddr).AddrPort()
	capture, err := bpftest.Listen(lab, "h2", "to-r2")
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Close()

	t.Run("probe stamped and reported", func(t *testing.T) {
		p := probePacket(1, collectorAddr)
		send(t, lab, p)
		got, _, err := capture.Next(p.FlowLabel, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		off := bpftest.SlotOffset(2, 1)
		if id := binary.BigEndian.Uint32(got[off:]); id != r1NodeID || got[off+4] != srh.SlotWritten {
			t.Fatalf("slot 1: node id %d flags %#x, want %d, W", id, got[off+4], r1NodeID)
		}
		slotTS := binary.BigEndian.Uint64(got[off+8:])
		r, err := readReport(t, collector, 3*time.Second)
		if err != nil {
			t.Fatalf("no report at the collector: %v", err)
		}
		if r.NodeID != r1NodeID || len(r.Records) != 1 {
			t.Fatalf("report %+v", r)
		}
		rec := r.Records[0]
		if rec.SID != r1SID || rec.Session != 0xabc || rec.Sequence != 1 || rec.TimestampNs != slotTS ||
			rec.SenderTxNs != p.Probe.TxTimestamp || !rec.SlotWritten || rec.SegmentsLeft != 0 {
			t.Errorf("record %+v, want SID %v seq 1 timestamp %d (the slot's)", rec, r1SID, slotTS)
		}
		if r.Clock.State > 5 {
			t.Errorf("clock state %d", r.Clock.State)
		}
	})

	t.Run("collector off the allow-list gets nothing", func(t *testing.T) {
		stranger := listenUDP(t, lab, "h2", h2Addr) // fc00:0:4::/48 is not allowed
		before := a.Stats().RefusedAllowList.Load()
		p := probePacket(2, stranger.LocalAddr().(*net.UDPAddr).AddrPort())
		send(t, lab, p)
		if _, _, err := capture.Next(p.FlowLabel, 3*time.Second); err != nil {
			t.Fatalf("probe not forwarded: %v", err)
		}
		if r, err := readReport(t, stranger, 500*time.Millisecond); err == nil {
			t.Fatalf("collector off the allow-list received %+v", r)
		}
		if got := a.Stats().RefusedAllowList.Load(); got != before+1 {
			t.Errorf("refused counter %d, want %d", got, before+1)
		}
	})

	t.Run("malformed probe counted and forwarded", func(t *testing.T) {
		p := probePacket(3, collectorAddr)
		raw, err := p.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		raw[40+8+32+2] = 7 // probe version 7
		if err := bpftest.Send(lab, "h1", raw); err != nil {
			t.Fatal(err)
		}
		got, _, err := capture.Next(p.FlowLabel, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := bpftest.SameExceptForwarding(raw, got); err != nil {
			t.Errorf("malformed probe changed: %v", err)
		}
		c, err := a.Counters()
		if err != nil {
			t.Fatal(err)
		}
		if c.Malformed != 1 {
			t.Errorf("malformed counter %d, want 1", c.Malformed)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		body := scrape(t, lab, a.MetricsAddr().String())
		for _, want := range []string{
			"srv6_agent_events_total 2",
			"srv6_agent_reports_sent_total 1",
			"srv6_agent_reports_refused_allowlist_total 1",
			"srv6_agent_lost_samples_total 0",
			"srv6_endoam_events_lost_total 0",
			"srv6_endoam_packets_total 3",
			"srv6_endoam_probes_total 2",
			"srv6_endoam_malformed_probes_total 1",
			"srv6_agent_sids_bound 1",
			"srv6_agent_clock_synchronised",
		} {
			if !strings.Contains(body, want+"\n") && !strings.Contains(body, want+" ") {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})

	if err := stop(); err != nil {
		t.Fatalf("agent run: %v", err)
	}
	assertNothingLeft(t, lab, progID)
}

// scrape GETs /metrics from r1's namespace. The connection is dialled on a thread in that
// namespace; reading it afterwards works from anywhere.
func scrape(t *testing.T, lab *testnet.Lab, addr string) string {
	t.Helper()
	var conn net.Conn
	if err := lab.Exec("r1", func() error {
		var err error
		conn, err = net.Dial("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("dial metrics: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /metrics HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("metrics response: %v", err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	if _, err := bufio.NewReader(resp.Body).WriteTo(&sb); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("metrics status %d: %s", resp.StatusCode, sb.String())
	}
	return sb.String()
}

// A crashed agent leaves its routes, which keep its program alive. The next agent replaces them,
// and when it exits neither its program nor the crashed one's remains.
func TestAgentRestartReplacesStaleRoutes(t *testing.T) {
	lab := labtest.Up(t, "line4")
	h, err := lab.Handle("r1")
	if err != nil {
		t.Fatal(err)
	}
	stale, err := bpf.Load(bpf.Options{NodeID: 99})
	if err != nil {
		t.Fatal(err)
	}
	staleInfo, err := stale.Program().Info()
	if err != nil {
		t.Fatal(err)
	}
	staleID, _ := staleInfo.ID()
	for _, s := range []string{r1SID.String(), "fc00:0:2::b5"} { // b5: no longer configured
		if err := stale.BindSID(h, bpf.SID{Prefix: netip.MustParsePrefix(s + "/128"), Device: "to-r2"}); err != nil {
			t.Fatal(err)
		}
	}
	stale.Close()

	a, stop := startAgent(t, lab, r1Config())
	progID, err := a.ProgramID()
	if err != nil {
		t.Fatal(err)
	}
	routes, err := bpf.BoundRoutes(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 1 || routes[0].Dst.IP.String() != r1SID.String() {
		t.Fatalf("routes after restart: %v, want only %v", routes, r1SID)
	}
	collector := listenUDP(t, lab, "h1", h1Addr)
	send(t, lab, probePacket(1, collector.LocalAddr().(*net.UDPAddr).AddrPort()))
	r, err := readReport(t, collector, 3*time.Second)
	if err != nil {
		t.Fatalf("no report from the restarted agent: %v", err)
	}
	if r.NodeID != r1NodeID {
		t.Errorf("report from node %d, want the new agent's %d (the stale program still runs)", r.NodeID, r1NodeID)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, lab, progID, staleID)
}

func TestAgentFailedStartLeavesNothing(t *testing.T) {
	lab := labtest.Up(t, "line4")
	cfg := r1Config()
	cfg.SIDs = append(cfg.SIDs, agent.SIDConfig{SID: "fc00:0:2::b1", Device: "no-such-dev"})
	before := loadedEndOAMPrograms(t)
	err := lab.Exec("r1", func() error {
		a, err := agent.New(cfg, nil)
		if err == nil {
			a.Close()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "no-such-dev") {
		t.Fatalf("New with a missing device: %v, want an error naming it", err)
	}
	assertNothingLeft(t, lab)
	waitProgramsGone(t, before)
}

func TestAgentRefusesWithoutForwarding(t *testing.T) {
	lab := labtest.Up(t, "line4")
	err := lab.Exec("r1", func() error {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/all/forwarding", []byte("0"), 0); err != nil {
			return err
		}
		_, err := agent.New(r1Config(), nil)
		return err
	})
	if !errors.Is(err, agent.ErrForwardingDisabled) || !strings.Contains(err.Error(), "net.ipv6.conf.all.forwarding") {
		t.Fatalf("New on a node without forwarding: %v, want ErrForwardingDisabled naming the sysctl", err)
	}
	assertNothingLeft(t, lab)
}

// loadedEndOAMPrograms lists the ids of loaded end_oam programs.
func loadedEndOAMPrograms(t *testing.T) map[ebpf.ProgramID]bool {
	t.Helper()
	ids := map[ebpf.ProgramID]bool{}
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			break
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		if info, err := p.Info(); err == nil && info.Name == bpf.ProgramName {
			ids[id] = true
		}
		p.Close()
	}
	return ids
}

// waitProgramsGone fails when an end_oam program not in before stays loaded. Other tests may
// load end_oam at the same time, so it only blames programs that outlive a grace period.
func waitProgramsGone(t *testing.T, before map[ebpf.ProgramID]bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var extra []ebpf.ProgramID
		for id := range loadedEndOAMPrograms(t) {
			if !before[id] {
				extra = append(extra, id)
			}
		}
		if len(extra) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("end_oam programs left loaded: %v", extra)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAgentBinarySIGTERM runs the real srv6-agent in r1's namespace and stops it with SIGTERM.
func TestAgentBinarySIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the srv6-agent binary")
	}
	lab := labtest.Up(t, "line4")
	bin := filepath.Join(t.TempDir(), "srv6-agent")
	build := exec.Command("go", "build", "-o", bin, "github.com/srv6oam/srv6oam/cmd/srv6-agent")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build srv6-agent: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--node-id", "2", "--sid", r1SID.String()+",dev=to-r2", "--collector", "fc00:0:1::/48")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := lab.Start("r1", cmd); err != nil {
		t.Fatal(err)
	}
	h, err := lab.Handle("r1")
	if err != nil {
		t.Fatal(err)
	}
	waitRoutes(t, h, 1, 10*time.Second, &stderr)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("srv6-agent exited with %v after SIGTERM:\n%s", err, stderr.String())
	}
	assertNothingLeft(t, lab)
	if !strings.Contains(stderr.String(), "routes and program removed") {
		t.Errorf("srv6-agent log lacks its shutdown line:\n%s", stderr.String())
	}
}

func waitRoutes(t *testing.T, h *netlink.Handle, n int, timeout time.Duration, log *strings.Builder) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		routes, err := bpf.BoundRoutes(h)
		if err == nil && len(routes) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d srv6oam routes (err %v), want %d; agent log:\n%s", len(routes), err, n, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
