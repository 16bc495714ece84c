package agent_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/bpf"
	"github.com/srv6oam/srv6oam/bpf/agent"
	"github.com/srv6oam/srv6oam/bpf/bpftest"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/oam/pt"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// trafgenLab is line4 with srv6-agent on r1 and trafgen sending from h1.
type trafgenLab struct {
	lab       *testnet.Lab
	agent     *agent.Agent
	collector *net.UDPConn
	received  atomic.Uint64 // report records the collector decoded
	ethHeader []byte        // h1 to-r1 → r1 to-h1, IPv6
	dir       string
}

func upTrafgenLab(b *testing.B, cfg agent.Config) *trafgenLab {
	b.Helper()
	if _, err := exec.LookPath("trafgen"); err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatal("trafgen (Debian netsniff-ng) is missing: make deps installs it")
		}
		b.Skip("trafgen (Debian netsniff-ng) is missing")
	}
	lab := labtest.Up(b, "line4")
	l := &trafgenLab{lab: lab, dir: b.TempDir()}
	var err error
	err = lab.Exec("r1", func() error {
		l.agent, err = agent.New(cfg, nil)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.agent.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("agent: %v", err)
		}
	})
	if err := lab.Exec("h1", func() error {
		l.collector, err = net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(h1Addr, 0)))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	l.collector.SetReadBuffer(4 << 20)
	b.Cleanup(func() { l.collector.Close() })
	go func() {
		buf := make([]byte, 2048)
		var r oam.Report
		for {
			n, err := l.collector.Read(buf)
			if err != nil {
				return
			}
			if r.UnmarshalBinary(buf[:n]) == nil {
				l.received.Add(uint64(len(r.Records)))
			}
		}
	}()

	h1, _ := lab.Handle("h1")
	r1, _ := lab.Handle("r1")
	src, err := h1.LinkByName("to-r1")
	if err != nil {
		b.Fatal(err)
	}
	dst, err := r1.LinkByName("to-h1")
	if err != nil {
		b.Fatal(err)
	}
	l.ethHeader = append(append(append([]byte{}, dst.Attrs().HardwareAddr...), src.Attrs().HardwareAddr...), 0x86, 0xdd)
	return l
}

// r1Forwarded is the number of packets r1 sent towards r2.
func (l *trafgenLab) r1Forwarded(b *testing.B) uint64 {
	h, _ := l.lab.Handle("r1")
	link, err := h.LinkByName("to-r2")
	if err != nil {
		b.Fatal(err)
	}
	return link.Attrs().Statistics.TxPackets
}

// trafgenTime matches trafgen's summary line "  0 sec, 288382 usec on CPU0 (200000 packets)":
// how long its send loop ran, without process start-up.
var trafgenTime = regexp.MustCompile(`(\d+) sec, (\d+) usec on CPU`)

// trafgen sends n copies of pkt (an IPv6 packet) from h1 on one CPU, at rate ("" = as fast as
// it can), and returns how long its send loop ran (by its own account, so that process start-up
// does not count).
func (l *trafgenLab) trafgen(b *testing.B, name string, pkt []byte, n int, rate string) time.Duration {
	b.Helper()
	frame := append(append([]byte{}, l.ethHeader...), pkt...)
	var conf strings.Builder
	conf.WriteString("{ ")
	for i, c := range frame {
		if i > 0 {
			conf.WriteString(", ")
		}
		fmt.Fprintf(&conf, "0x%02x", c)
	}
	conf.WriteString(" }\n")
	path := filepath.Join(l.dir, name+".cfg")
	if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	args := []string{"--dev", "to-r1", "--conf", path, "-n", fmt.Sprint(n), "-P", "1", "--no-sock-mem", "-Q"}
	if rate != "" {
		args = append(args, "-b", rate)
	}
	cmd := exec.Command("trafgen", args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := l.lab.Run("h1", cmd); err != nil {
		b.Fatalf("trafgen: %v\n%s", err, out.String())
	}
	m := trafgenTime.FindStringSubmatch(out.String())
	if m == nil {
		b.Fatalf("trafgen printed no send time:\n%s", out.String())
	}
	sec, _ := strconv.Atoi(m[1])
	usec, _ := strconv.Atoi(m[2])
	return time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond
}

func mustBytes(b *testing.B, p bpftest.Packet) []byte {
	raw, err := p.Bytes()
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkForwarding measures packets per second r1 forwards, side by side in one lab: plain
// IPv6, native seg6local End, End.BPF end_oam for a packet without OAM TLVs, end_oam for a probe
// (slot written, ring buffer event read by the agent), and end_oam for a probe that asks for no report
// (slot written, no event). trafgen on h1 sends b.N packets as fast as it can on one CPU;
// fwd_pps is what r1 put on its link to r2 divided by trafgen's send time. Packets go out in
// chunks of at least minChunk, so that trafgen's start-up never dominates.
//
// The machine is shared, so load drifts between sub-benchmarks. Each one therefore alternates
// chunks of its own packets with chunks of native End packets and also reports vs_end, the ratio
// of the two rates measured under the same load.
func BenchmarkForwarding(b *testing.B) {
	cfg := r1Config()
	cfg.MetricsListen = ""
	l := upTrafgenLab(b, cfg)
	collector := l.collector.LocalAddr().(*net.UDPAddr).AddrPort()
	nativeEnd := netip.MustParseAddr("fc00:0:2::e")
	endPkt := mustBytes(b, bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{nativeEnd, h2Addr}, FlowLabel: 2})
	modes := []struct {
		name string
		pkt  []byte
	}{
		{"ipv6", plainIPv6(mustBytes(b, bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{h2Addr}, FlowLabel: 1}))},
		{"end", endPkt},
		{"end_oam_plain", mustBytes(b, bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{r1SID, h2Addr}, FlowLabel: 3})},
		// A SID that is not the last before the final segment: Segments Left is still 1 after
		// the kernel's decrement, and End.OAM reads the SRH in place without walking headers.
		{"end_oam_plain_mid", mustBytes(b, bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{r1SID, netip.MustParseAddr("fc00:0:3::e"), h2Addr}, FlowLabel: 5})},
		{"end_oam_probe", mustBytes(b, bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{r1SID, h2Addr}, FlowLabel: 4, Slots: true,
			Probe: &srh.Probe{Flags: srh.ProbeReport, Session: 1, Sequence: 1, ReportTo: collector.Addr(), ReportPort: collector.Port()}})},
		{"end_oam_probe_noreport", mustBytes(b, bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{r1SID, h2Addr}, FlowLabel: 6, Slots: true,
			Probe: &srh.Probe{Session: 1, Sequence: 1}})},
	}
	const chunks, minChunk = 10, 20000
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			b.ReportAllocs()
			n := max(b.N/chunks, minChunk)
			var sent, fwd, refFwd uint64
			var elapsed, refElapsed time.Duration
			for sent < uint64(b.N) {
				before := l.r1Forwarded(b)
				elapsed += l.trafgen(b, m.name, m.pkt, n, "")
				fwd += l.r1Forwarded(b) - before
				sent += uint64(n)
				if m.name == "end" {
					continue
				}
				b.StopTimer()
				before = l.r1Forwarded(b)
				refElapsed += l.trafgen(b, "end-ref", endPkt, n, "")
				refFwd += l.r1Forwarded(b) - before
				b.StartTimer()
			}
			pps := float64(fwd) / elapsed.Seconds()
			b.ReportMetric(pps, "fwd_pps")
			b.ReportMetric(float64(fwd)/float64(sent), "fwd/sent")
			if m.name != "end" {
				b.ReportMetric(pps/(float64(refFwd)/refElapsed.Seconds()), "vs_end")
			}
		})
	}
}

// plainIPv6 turns a one-segment SRv6 packet into the same IPv6 packet without the SRH.
func plainIPv6(pkt []byte) []byte {
	srhLen := 8 * (int(pkt[41]) + 1)
	out := append(append([]byte{}, pkt[:40]...), pkt[40+srhLen:]...)
	out[6] = 59 // no next header
	out[4], out[5] = byte((len(out)-40)>>8), byte(len(out)-40)
	return out
}

// withHopByHop is plain (an IPv6 header with no next header) with the Hop-by-Hop header hbh
// behind its IPv6 header.
func withHopByHop(plain, hbh []byte) []byte {
	out := append(append(append([]byte{}, plain[:40]...), hbh...), plain[40:]...)
	out[6] = 0
	out[4], out[5] = byte((len(out)-40)>>8), byte(len(out)-40)
	return out
}

// BenchmarkAgentProbeReports sends probes through r1 at 50,000 per second (trafgen's pacing;
// sent_pps is what it achieved) and reports how many events End.OAM lost to a full ring, how many
// report records it sent, and how many the collector socket in h1 received and decoded.
func BenchmarkAgentProbeReports(b *testing.B) {
	cfg := r1Config()
	cfg.MetricsListen = ""
	cfg.ReportRate = 1e6
	cfg.ReportBurst = 1e6
	l := upTrafgenLab(b, cfg)
	collector := l.collector.LocalAddr().(*net.UDPAddr).AddrPort()
	probe := mustBytes(b, bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{r1SID, h2Addr}, FlowLabel: 5, Slots: true,
		Probe: &srh.Probe{Flags: srh.ProbeReport, Session: 1, Sequence: 1, ReportTo: collector.Addr(), ReportPort: collector.Port()}})
	st := l.agent.Stats()
	b.ReportAllocs()
	lost0, ev0, sent0, rx0 := l.lostEvents(b), st.Events.Load(), st.ReportsSent.Load(), l.received.Load()
	elapsed := l.trafgen(b, "probes50k", probe, b.N, "50000pps")
	// Let the agent and the collector drain.
	for i := 0; i < 50 && st.Events.Load()-ev0 < uint64(b.N); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	for i := 0; i < 50 && l.received.Load()-rx0 < st.ReportsSent.Load()-sent0; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sent_pps")
	b.ReportMetric(float64(l.lostEvents(b)-lost0), "lost_samples")
	b.ReportMetric(float64(st.Events.Load()-ev0)/float64(b.N), "events/probe")
	b.ReportMetric(float64(st.ReportsSent.Load()-sent0)/float64(b.N), "sent/probe")
	b.ReportMetric(float64(l.received.Load()-rx0)/float64(b.N), "received/probe")
}

// lostEvents is how many probe events End.OAM could not write because its ring buffer was full.
func (l *trafgenLab) lostEvents(b *testing.B) uint64 {
	c, err := l.agent.Counters()
	if err != nil {
		b.Fatal(err)
	}
	return c.EventsLost
}

// BenchmarkIOAMForwarding measures what IOAM costs a Linux router (r1) per packet, as
// BenchmarkForwarding measures End.OAM: trafgen on h1 sends IPv6 packets to h2 carrying a
// Hop-by-Hop IOAM Pre-allocated Trace (namespace 0, hop limit and node id, interface ids,
// receive time: what srv6-trace --ioam sends), and fwd_pps is what r1 forwards. Each row
// alternates its chunks with chunks of a reference row under the same load and reports the
// ratio: hbh_off is the trace through r1 with IOAM off on its ingress (Linux parses the header
// and skips the option) against the same packet without the header (vs_plain); ioam_on is r1
// filling its entry (ioam6_enabled=1 and namespace 0 known) against hbh_off (vs_off).
func BenchmarkIOAMForwarding(b *testing.B) {
	cfg := r1Config()
	cfg.MetricsListen = ""
	l := upTrafgenLab(b, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := l.lab.Output(ctx, "r1", "ip", "ioam", "namespace", "add", "0"); err != nil {
		b.Fatalf("ip ioam namespace add 0: %v\n%s", err, out)
	}
	setIOAM := func(on bool) {
		v := "0"
		if on {
			v = "1"
		}
		if err := l.lab.Exec("r1", func() error {
			return os.WriteFile("/proc/sys/net/ipv6/conf/to-h1/ioam6_enabled", []byte(v), 0o644)
		}); err != nil {
			b.Fatal(err)
		}
	}
	plain := plainIPv6(mustBytes(b, bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{h2Addr}, FlowLabel: 7}))
	tr, err := ioam.NewTrace(0, ioam.Bits(ioam.BitHopLimitNodeID, ioam.BitInterfaces, ioam.BitTimestampSeconds, ioam.BitTimestampFraction), 8)
	if err != nil {
		b.Fatal(err)
	}
	hbh, err := ioam.AppendHopByHop(nil, 59, &tr)
	if err != nil {
		b.Fatal(err)
	}
	withHBH := withHopByHop(plain, hbh)

	type side struct {
		pkt []byte
		on  bool
	}
	rows := []struct {
		name, ratio string
		row, ref    side
	}{
		{"hbh_off", "vs_plain", side{withHBH, false}, side{plain, false}},
		{"ioam_on", "vs_off", side{withHBH, true}, side{withHBH, false}},
	}
	const chunks, minChunk = 10, 20000
	for _, r := range rows {
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			n := max(b.N/chunks, minChunk)
			var sent, fwd, refFwd uint64
			var elapsed, refElapsed time.Duration
			for sent < uint64(b.N) {
				b.StopTimer()
				setIOAM(r.row.on)
				b.StartTimer()
				before := l.r1Forwarded(b)
				elapsed += l.trafgen(b, r.name, r.row.pkt, n, "")
				fwd += l.r1Forwarded(b) - before
				sent += uint64(n)
				b.StopTimer()
				setIOAM(r.ref.on)
				before = l.r1Forwarded(b)
				refElapsed += l.trafgen(b, r.name+"-ref", r.ref.pkt, n, "")
				refFwd += l.r1Forwarded(b) - before
				b.StartTimer()
			}
			pps := float64(fwd) / elapsed.Seconds()
			b.ReportMetric(pps, "fwd_pps")
			b.ReportMetric(float64(fwd)/float64(sent), "fwd/sent")
			b.ReportMetric(pps/(float64(refFwd)/refElapsed.Seconds()), r.ratio)
		})
	}
	setIOAM(false)
}

// BenchmarkPTForwarding measures what a Path Tracing midpoint (bpf's pt_midpoint on r1's egress
// towards r2, TCX) costs r1 per packet, as BenchmarkIOAMForwarding measures IOAM: trafgen on h1
// sends IPv6 packets to h2 and fwd_pps is what r1 forwards. Each row alternates its chunks with
// chunks of the same packets with the midpoint detached and reports the ratio (vs_off):
// non_pt is a packet without a Hop-by-Hop header (the midpoint's first check lets it go),
// pt_probe one with a Hop-by-Hop PT option of 12 MCDs (the midpoint shifts the stack and
// writes its MCD).
func BenchmarkPTForwarding(b *testing.B) {
	cfg := r1Config()
	cfg.MetricsListen = ""
	l := upTrafgenLab(b, cfg)
	var ifindex int
	if err := l.lab.Exec("r1", func() error {
		ifc, err := net.InterfaceByName("to-r2")
		if err == nil {
			ifindex = ifc.Index
		}
		return err
	}); err != nil {
		b.Fatal(err)
	}
	var mid *bpf.PTMidpoint
	set := func(on bool) {
		if !on {
			if mid != nil {
				if err := mid.Close(); err != nil {
					b.Fatal(err)
				}
				mid = nil
			}
			return
		}
		if mid == nil {
			err := l.lab.Exec("r1", func() (err error) {
				mid, err = bpf.AttachPT(ifindex, bpf.PTOptions{InterfaceID: 0x12})
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Cleanup(func() { set(false) })
	plain := plainIPv6(mustBytes(b, bpftest.Packet{Src: h1Addr, Segments: []netip.Addr{h2Addr}, FlowLabel: 7}))
	o, err := pt.NewOption(pt.DefaultMCDs)
	if err != nil {
		b.Fatal(err)
	}
	hbh, err := pt.AppendHopByHop(nil, 59, &o)
	if err != nil {
		b.Fatal(err)
	}
	probe := withHopByHop(plain, hbh)

	const chunks, minChunk = 10, 20000
	for _, r := range []struct {
		name string
		pkt  []byte
	}{{"non_pt", plain}, {"pt_probe", probe}} {
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			n := max(b.N/chunks, minChunk)
			var sent, fwd, refFwd uint64
			var elapsed, refElapsed time.Duration
			for sent < uint64(b.N) {
				b.StopTimer()
				set(true)
				b.StartTimer()
				before := l.r1Forwarded(b)
				elapsed += l.trafgen(b, r.name, r.pkt, n, "")
				fwd += l.r1Forwarded(b) - before
				sent += uint64(n)
				b.StopTimer()
				set(false)
				before = l.r1Forwarded(b)
				refElapsed += l.trafgen(b, r.name+"-ref", r.pkt, n, "")
				refFwd += l.r1Forwarded(b) - before
				b.StartTimer()
			}
			pps := float64(fwd) / elapsed.Seconds()
			b.ReportMetric(pps, "fwd_pps")
			b.ReportMetric(float64(fwd)/float64(sent), "fwd/sent")
			b.ReportMetric(pps/(float64(refFwd)/refElapsed.Seconds()), "vs_off")
		})
	}
}
