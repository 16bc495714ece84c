package agent

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/srv6oam/srv6oam/bpf"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/srh"
)

// sample encodes an end_oam ring buffer record the way the kernel lays out struct oam_event.
func sample(to netip.Addr, port uint16, seq uint32, flags uint8, capture []byte) []byte {
	b := make([]byte, bpf.EventSize+len(capture)+4) // + trailing bytes, as a capture record has
	sid := netip.MustParseAddr("fc00:0:2::b0").As16()
	copy(b[0:], sid[:])
	a := to.As16()
	copy(b[16:], a[:])
	le := binary.LittleEndian
	le.PutUint64(b[32:], 1000+uint64(seq))
	le.PutUint64(b[40:], 900+uint64(seq))
	le.PutUint32(b[48:], 77)
	le.PutUint32(b[52:], seq)
	le.PutUint32(b[56:], 3)
	le.PutUint32(b[60:], 2)
	le.PutUint32(b[64:], 200)
	le.PutUint16(b[68:], port)
	le.PutUint16(b[70:], uint16(len(capture)))
	b[72] = 1
	b[73] = flags
	b[74] = 1
	copy(b[bpf.EventSize:], capture)
	return b
}

type sent struct {
	to   netip.AddrPort
	data []byte
}

type fakeSender struct{ sent []sent }

func (f *fakeSender) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	f.sent = append(f.sent, sent{addr, append([]byte(nil), b...)})
	return len(b), nil
}

var (
	collector = netip.MustParseAddr("fc00:0:1::1")
	stranger  = netip.MustParseAddr("2001:db8::1")
	allowList = []netip.Prefix{netip.MustParsePrefix("fc00::/16")}
)

func fixedClock() oam.ClockState {
	return oam.ClockState{Synchronised: true, EstErrorMicros: 5, MaxErrorMicros: 50}
}

func TestPipelineReportsAllowedCollector(t *testing.T) {
	var f fakeSender
	var st Stats
	p := newPipeline(trustingConfig(2, allowList, 1000, 100), &f, &st, fixedClock)
	p.handle(sample(collector, 9000, 1, srh.ProbeReport|srh.ProbeCapture, []byte{0x60, 1, 2}), 0)
	p.handle(sample(collector, 9000, 2, srh.ProbeReport, nil), 1)
	if len(f.sent) != 0 {
		t.Fatalf("sent before flush: %d datagrams", len(f.sent))
	}
	p.flushAll()
	if len(f.sent) != 1 {
		t.Fatalf("sent %d datagrams, want 1 batch", len(f.sent))
	}
	if want := netip.AddrPortFrom(collector, 9000); f.sent[0].to != want {
		t.Errorf("sent to %v, want %v", f.sent[0].to, want)
	}
	var r oam.Report
	if err := r.UnmarshalBinary(f.sent[0].data); err != nil {
		t.Fatal(err)
	}
	if r.NodeID != 2 || r.Clock != fixedClock() || len(r.Records) != 2 {
		t.Fatalf("report %+v", r)
	}
	r0 := r.Records[0]
	if r0.Sequence != 1 || r0.Session != 77 || r0.TimestampNs != 1001 || r0.SenderTxNs != 901 || r0.IngressIfindex != 3 ||
		r0.SegmentsLeft != 1 || !r0.SlotWritten || string(r0.Capture) != "\x60\x01\x02" || r0.SID != netip.MustParseAddr("fc00:0:2::b0") {
		t.Errorf("record 0 = %+v", r0)
	}
	if st.Events.Load() != 2 || st.ReportsSent.Load() != 2 || st.DatagramsSent.Load() != 1 {
		t.Errorf("stats events %d sent %d datagrams %d", st.Events.Load(), st.ReportsSent.Load(), st.DatagramsSent.Load())
	}
}

func TestPipelineRefusesCollectorOffAllowList(t *testing.T) {
	var f fakeSender
	var st Stats
	p := newPipeline(trustingConfig(2, allowList, 1000, 100), &f, &st, fixedClock)
	p.handle(sample(stranger, 9000, 1, srh.ProbeReport, nil), 0)
	p.handle(sample(netip.IPv6Unspecified(), 9000, 2, srh.ProbeReport, nil), 0)
	p.handle(sample(collector, 9000, 3, 0, nil), 0) // no R flag: no report wanted
	p.flushAll()
	if len(f.sent) != 0 {
		t.Fatalf("sent %d datagrams, want none", len(f.sent))
	}
	if st.RefusedAllowList.Load() != 1 || st.NoCollector.Load() != 2 {
		t.Errorf("refused %d, no collector %d; want 1, 2", st.RefusedAllowList.Load(), st.NoCollector.Load())
	}
}

func TestPipelineRateLimitsPerCollector(t *testing.T) {
	var f fakeSender
	var st Stats
	other := netip.MustParseAddr("fc00:0:4::1")
	p := newPipeline(trustingConfig(2, allowList, 10, 5), &f, &st, fixedClock) // 10/s, burst 5
	for i := range 20 {
		p.handle(sample(collector, 9000, uint32(i), srh.ProbeReport, nil), 0)
	}
	// A second collector has its own bucket.
	for i := range 3 {
		p.handle(sample(other, 9000, uint32(i), srh.ProbeReport, nil), 0)
	}
	// 100 ms later one more token has accrued for the first collector.
	p.handle(sample(collector, 9000, 100, srh.ProbeReport, nil), 100_000_000)
	p.handle(sample(collector, 9000, 101, srh.ProbeReport, nil), 100_000_000)
	p.flushAll()
	if got := st.ReportsSent.Load(); got != 5+3+1 {
		t.Errorf("sent %d reports, want 9", got)
	}
	if got := st.RateLimited.Load(); got != 15+1 {
		t.Errorf("rate limited %d, want 16", got)
	}
}

func TestPipelineBatchesUntilDatagramFull(t *testing.T) {
	var f fakeSender
	var st Stats
	p := newPipeline(trustingConfig(2, allowList, 1e6, 1000), &f, &st, fixedClock)
	per := (oam.MaxReportSize - oam.ReportHeaderSize) / oam.ReportRecordSize
	n := 2*per + 3
	for i := range n {
		p.handle(sample(collector, 9000, uint32(i), srh.ProbeReport, nil), int64(i))
	}
	p.flushAll()
	if len(f.sent) != 3 {
		t.Fatalf("sent %d datagrams for %d records, want 3", len(f.sent), n)
	}
	seq := uint32(0)
	for _, d := range f.sent {
		if len(d.data) > oam.MaxReportSize {
			t.Errorf("datagram of %d bytes exceeds %d", len(d.data), oam.MaxReportSize)
		}
		var r oam.Report
		if err := r.UnmarshalBinary(d.data); err != nil {
			t.Fatal(err)
		}
		for _, rec := range r.Records {
			if rec.Sequence != seq {
				t.Fatalf("record sequence %d, want %d", rec.Sequence, seq)
			}
			seq++
		}
	}
	if int(seq) != n {
		t.Errorf("received %d records, want %d", seq, n)
	}
}

func TestPipelineCountsUndecodableSample(t *testing.T) {
	var f fakeSender
	var st Stats
	p := newPipeline(trustingConfig(2, allowList, 10, 5), &f, &st, fixedClock)
	p.handle(make([]byte, 10), 0)
	bad := sample(collector, 9000, 1, srh.ProbeReport, nil)
	binary.LittleEndian.PutUint16(bad[70:], 200) // capture longer than the sample
	p.handle(bad, 0)
	if st.DecodeErrors.Load() != 2 || st.Events.Load() != 0 {
		t.Errorf("decode errors %d events %d, want 2, 0", st.DecodeErrors.Load(), st.Events.Load())
	}
}

// untrustingConfig: reports to allow only, none trusted with captures or next hops.
func untrustingConfig(rate, burst, total float64) pipelineConfig {
	return pipelineConfig{NodeID: 2, Allow: allowList, Rate: rate, Burst: burst, TotalRate: total, TotalBurst: total}
}

// withPacketLen sets the probe length End.OAM saw (struct oam_event's packet_len).
func withPacketLen(s []byte, n uint32) []byte {
	binary.LittleEndian.PutUint32(s[64:], n)
	return s
}

// A prober that rotates its report port gets no more reports than one that does not: the
// bucket is per collector address. Before, 5,000 ports drew 491,224 reports in 10 s instead of
// 10,999. Nothing per port outlives a flush either.
func TestPipelineRotatingPortsShareOneBudget(t *testing.T) {
	var f fakeSender
	var st Stats
	p := newPipeline(untrustingConfig(10, 5, 1e9), &f, &st, fixedClock)
	for port := range 5000 {
		p.handle(sample(collector, uint16(10000+port), uint32(port), srh.ProbeReport, nil), int64(port))
	}
	p.flushAll()
	if got := st.ReportsSent.Load(); got != 5 {
		t.Errorf("%d reports for 5,000 ports within 5 µs, want the burst of 5", got)
	}
	if got := st.RateLimited.Load(); got != 4995 {
		t.Errorf("rate limited %d, want 4995", got)
	}
	if len(p.dests) != 0 || len(p.queue) != 0 {
		t.Errorf("%d batches and %d queued after a flush, want none", len(p.dests), len(p.queue))
	}
	if st.CollectorsTracked.Load() != 1 {
		t.Errorf("%d collectors tracked, want 1", st.CollectorsTracked.Load())
	}
}

// 10,000 distinct collectors, one report each: the bucket table stays bounded, and a collector
// that comes after them all still gets its report (before, the table filled at 4,096 for good
// and every new collector was counted as rate limited).
func TestPipelineFreshCollectorAfterTenThousand(t *testing.T) {
	var f fakeSender
	var st Stats
	p := newPipeline(untrustingConfig(1000, 10, 1e12), &f, &st, fixedClock)
	addr := func(i int) netip.Addr {
		return netip.AddrFrom16([16]byte{0xfc, 0, 0, 9, 10: byte(i >> 16), 11: byte(i >> 8), 15: byte(i)})
	}
	for i := range 10000 {
		p.handle(sample(addr(i), 9000, uint32(i), srh.ProbeReport, nil), int64(i)*1_000_000) // 1 ms apart
		if i%500 == 0 {
			p.flushAll()
		}
	}
	p.flushAll()
	if st.RateLimited.Load() != 0 || st.ReportsSent.Load() != 10000 {
		t.Fatalf("%d sent, %d rate limited, want 10,000 and none", st.ReportsSent.Load(), st.RateLimited.Load())
	}
	if n := st.CollectorsTracked.Load(); n != maxCollectors {
		t.Errorf("%d collectors tracked, want the bound %d", n, maxCollectors)
	}
	f.sent = nil
	fresh := netip.MustParseAddr("fc00:0:1::99")
	p.handle(sample(fresh, 4242, 1, srh.ProbeReport, nil), 20_000_000_000)
	p.flushAll()
	if len(f.sent) != 1 || f.sent[0].to != netip.AddrPortFrom(fresh, 4242) {
		t.Errorf("fresh collector got %v, want one report", f.sent)
	}
	// Each evicted bucket was full again (1 token spent of 10, at 1000/s refilled in 1 ms):
	// nothing an eviction could lose.
	if st.BucketsEvicted.Load() != 0 {
		t.Errorf("%d buckets evicted before they refilled, want 0", st.BucketsEvicted.Load())
	}
}

// The agent-wide budget bounds what many collectors draw together.
func TestPipelineAgentBudget(t *testing.T) {
	var f fakeSender
	var st Stats
	p := newPipeline(untrustingConfig(1000, 100, 50), &f, &st, fixedClock) // 50 for the whole agent
	for i := range 1000 {
		to := netip.AddrFrom16([16]byte{0xfc, 0, 0, 9, 14: byte(i >> 8), 15: byte(i)})
		p.handle(sample(to, 9000, uint32(i), srh.ProbeReport, nil), int64(i))
	}
	p.flushAll()
	if st.ReportsSent.Load() != 50 || st.RateLimitedAgent.Load() != 950 || st.RateLimited.Load() != 0 {
		t.Errorf("sent %d, agent-limited %d, collector-limited %d; want 50, 950, 0",
			st.ReportsSent.Load(), st.RateLimitedAgent.Load(), st.RateLimited.Load())
	}
}

// A collector not trusted for captures and next hops gets neither, whatever the probe asks
// (counted), and no report larger than its probe; a trusted one gets both.
func TestPipelineTrustForCaptureAndNextHops(t *testing.T) {
	trusted := netip.MustParseAddr("fc00:0:1::1")
	plain := netip.MustParseAddr("fc00:0:1::2")
	var f fakeSender
	var st Stats
	cfg := untrustingConfig(1000, 100, 1e9)
	cfg.Trusted = []netip.Prefix{netip.PrefixFrom(trusted, 128)}
	p := newPipeline(cfg, &f, &st, fixedClock)
	p.nextHops = newNextHopResolver(newFake(), &st)
	capture := ipv6Capture(nextSID)
	flags := srh.ProbeReport | srh.ProbeCapture | srh.ProbeNextHops
	p.handle(sample(plain, 9000, 1, flags, capture), 0)
	p.handle(sample(trusted, 9000, 2, flags, capture), 0)
	p.flushAll()
	if len(f.sent) != 2 {
		t.Fatalf("%d datagrams, want 2", len(f.sent))
	}
	for _, d := range f.sent {
		var r oam.Report
		if err := r.UnmarshalBinary(d.data); err != nil {
			t.Fatal(err)
		}
		rec := r.Records[0]
		switch d.to.Addr() {
		case plain:
			if len(rec.Capture) != 0 || rec.NextHops != nil {
				t.Errorf("untrusted collector got capture %d bytes, next hops %v", len(rec.Capture), rec.NextHops)
			}
			if out := len(d.data) + 48; out > 200 {
				t.Errorf("report of %d bytes on the wire for a probe of 200", out)
			}
		case trusted:
			if len(rec.Capture) != len(capture) || rec.NextHops == nil {
				t.Errorf("trusted collector got capture %d bytes, next hops %v", len(rec.Capture), rec.NextHops)
			}
		}
	}
	if st.UntrustedFlags.Load() != 1 {
		t.Errorf("untrusted flags counted %d, want 1", st.UntrustedFlags.Load())
	}
}

// No report is larger than the probe that caused it: a packet shorter than the report it
// would start is not reported (no real probe is: a stamped one holds an SRH with two segments
// and the 40-byte Probe TLV), one as long as the report is, and later records of the same
// batch cost only their own 48 bytes.
func TestPipelineNeverLargerThanTheProbe(t *testing.T) {
	var f fakeSender
	var st Stats
	p := newPipeline(untrustingConfig(1000, 100, 1e9), &f, &st, fixedClock)
	oneRecord := uint32(reportOverhead + oam.ReportRecordSize)
	p.handle(withPacketLen(sample(collector, 9000, 1, srh.ProbeReport, nil), oneRecord-1), 0)
	if st.RefusedAmplification.Load() != 1 {
		t.Fatalf("refused %d, want the short packet refused", st.RefusedAmplification.Load())
	}
	p.handle(withPacketLen(sample(collector, 9000, 2, srh.ProbeReport, nil), oneRecord), 0)
	p.handle(withPacketLen(sample(collector, 9000, 3, srh.ProbeReport, nil), oam.ReportRecordSize), 0)
	p.flushAll()
	if len(f.sent) != 1 || len(f.sent[0].data)+48 != int(oneRecord)+oam.ReportRecordSize {
		t.Fatalf("sent %v, want one datagram of two records", f.sent)
	}
}

func TestRateTableEvictsLeastRecentlyUsed(t *testing.T) {
	tab := newRateTable(1, 2, 3) // 1 token/s, burst 2, 3 entries
	a := func(i byte) netip.Addr { return netip.AddrFrom16([16]byte{0xfc, 15: i}) }
	for i := byte(1); i <= 3; i++ {
		if !tab.take(a(i), 0) {
			t.Fatalf("first take of %d refused", i)
		}
	}
	tab.take(a(1), 0) // 1 is now the most recently used, 2 the least; 1 has no token left
	if tab.take(a(1), 0) {
		t.Fatal("a third take within the burst of 2 allowed")
	}
	if !tab.take(a(4), 0) { // evicts 2, which had a token left: counted
		t.Fatal("a new address refused when the table is full")
	}
	if tab.len() != 3 || tab.entries[a(2)] != nil || tab.evicted != 1 {
		t.Errorf("len %d, 2 present %v, evicted %d; want 3, false, 1", tab.len(), tab.entries[a(2)] != nil, tab.evicted)
	}
	// Two seconds later every bucket has refilled: evicting one loses nothing.
	tab.take(a(5), 2e9)
	if tab.evicted != 1 {
		t.Errorf("evicted %d after evicting a refilled bucket, want still 1", tab.evicted)
	}
}

// BenchmarkRateTableFull: a take by a new address in a full table (an eviction each time).
func BenchmarkRateTableFull(b *testing.B) {
	tab := newRateTable(1000, 10, maxCollectors)
	addrs := make([]netip.Addr, 2*maxCollectors)
	for i := range addrs {
		addrs[i] = netip.AddrFrom16([16]byte{0xfc, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tab.take(addrs[i%len(addrs)], int64(i))
		i++
	}
}

type discard struct{}

func (discard) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) { return len(b), nil }

// BenchmarkPipeline measures the agent's user-space path per probe event: decode the ring buffer
// sample, check the allow-list and token bucket, encode the report record into the collector's
// batch, and hand full batches to the socket (a discarding sender here, so the figure is the
// agent's own cost, not the kernel's UDP stack).
func BenchmarkPipeline(b *testing.B) {
	var st Stats
	p := newPipeline(trustingConfig(2, allowList, 1e12, 1<<30), discard{}, &st, fixedClock)
	s := sample(collector, 9000, 1, srh.ProbeReport, nil)
	b.ReportAllocs()
	now := int64(0)
	for b.Loop() {
		now += 100
		p.handle(s, now)
	}
	p.flushAll()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
	if st.ReportsSent.Load() != uint64(b.N) {
		b.Fatalf("sent %d reports for %d events", st.ReportsSent.Load(), b.N)
	}
}

// BenchmarkPipelineUDP is BenchmarkPipeline with the real socket path: full batches are sent
// with sendto(2) over loopback to a collector socket nobody reads (the kernel drops what does not
// fit its buffer; the send cost is paid either way).
func BenchmarkPipelineUDP(b *testing.B) {
	sink, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		b.Skipf("no IPv6 loopback: %v", err)
	}
	defer sink.Close()
	conn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	to := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	var st Stats
	p := newPipeline(trustingConfig(2, []netip.Prefix{netip.MustParsePrefix("::1/128")}, 1e12, 1<<30), conn, &st, fixedClock)
	s := sample(to.Addr(), to.Port(), 1, srh.ProbeReport, nil)
	b.ReportAllocs()
	now := int64(0)
	for b.Loop() {
		now += 100
		p.handle(s, now)
	}
	p.flushAll()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
	if st.SendErrors.Load() != 0 {
		b.Fatalf("%d send errors", st.SendErrors.Load())
	}
}

// FuzzPipelineHandle feeds arbitrary ring buffer records through the pipeline: it must never panic,
// never send anything but a decodable report to an allow-listed collector, and, to collectors not
// trusted with captures, never send more bytes than the probes carried.
func FuzzPipelineHandle(f *testing.F) {
	f.Add(sample(collector, 9000, 1, srh.ProbeReport, nil))
	f.Add(sample(collector, 9000, 1, srh.ProbeReport|srh.ProbeCapture, []byte{1, 2, 3}))
	f.Add(sample(stranger, 1, 1, srh.ProbeReport, nil))
	f.Add([]byte{})
	f.Add(sample(collector, 9000, 1, srh.ProbeReport|srh.ProbeCapture|srh.ProbeNextHops, ipv6Capture(nextSID)))
	f.Fuzz(func(t *testing.T, s []byte) {
		var fs fakeSender
		var st Stats
		p := newPipeline(trustingConfig(2, allowList, 1000, 10), &fs, &st, fixedClock)
		p.nextHops = newNextHopResolver(newFake(), &st)
		p.handle(s, 0)
		p.handle(s, 1)
		p.flushAll()
		for _, d := range fs.sent {
			if !allowList[0].Contains(d.to.Addr()) {
				t.Fatalf("sent to %v, off the allow-list", d.to)
			}
			var r oam.Report
			if err := r.UnmarshalBinary(d.data); err != nil {
				t.Fatalf("sent an undecodable report: %v", err)
			}
		}
		var us fakeSender
		u := newPipeline(untrustingConfig(1000, 10, 1e9), &us, &st, fixedClock)
		u.nextHops = newNextHopResolver(newFake(), &st)
		u.handle(s, 0)
		u.handle(s, 1)
		u.flushAll()
		var ev bpf.Event
		in := 0
		if bpf.DecodeEvent(s, &ev) == nil {
			in = 2 * int(ev.PacketLen)
		}
		out := 0
		for _, d := range us.sent {
			out += len(d.data) + 48
		}
		if out > in {
			t.Fatalf("untrusted collector: %d bytes of reports on the wire for %d bytes of probes", out, in)
		}
	})
}

// trustingConfig is a pipeline configuration whose allow-list is also trusted for captures and
// next hops, with an agent-wide budget that never limits: the tests of batching and encoding.
func trustingConfig(nodeID uint32, allow []netip.Prefix, rate, burst float64) pipelineConfig {
	return pipelineConfig{NodeID: nodeID, Allow: allow, Trusted: allow, Rate: rate, Burst: burst, TotalRate: 1e12, TotalBurst: 1e12}
}
