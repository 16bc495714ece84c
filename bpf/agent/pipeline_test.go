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
	p := newPipeline(2, allowList, 1000, 100, &f, &st, fixedClock)
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
	p := newPipeline(2, allowList, 1000, 100, &f, &st, fixedClock)
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
	p := newPipeline(2, allowList, 10, 5, &f, &st, fixedClock) // 10/s, burst 5
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
	p := newPipeline(2, allowList, 1e6, 1000, &f, &st, fixedClock)
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
	p := newPipeline(2, allowList, 10, 5, &f, &st, fixedClock)
	p.handle(make([]byte, 10), 0)
	bad := sample(collector, 9000, 1, srh.ProbeReport, nil)
	binary.LittleEndian.PutUint16(bad[70:], 200) // capture longer than the sample
	p.handle(bad, 0)
	if st.DecodeErrors.Load() != 2 || st.Events.Load() != 0 {
		t.Errorf("decode errors %d events %d, want 2, 0", st.DecodeErrors.Load(), st.Events.Load())
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
	p := newPipeline(2, allowList, 1e12, 1<<30, discard{}, &st, fixedClock)
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
	p := newPipeline(2, []netip.Prefix{netip.MustParsePrefix("::1/128")}, 1e12, 1<<30, conn, &st, fixedClock)
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

// FuzzPipelineHandle feeds arbitrary ring buffer records through the pipeline: it must never panic and
// never send anything but a decodable report to an allow-listed collector.
func FuzzPipelineHandle(f *testing.F) {
	f.Add(sample(collector, 9000, 1, srh.ProbeReport, nil))
	f.Add(sample(collector, 9000, 1, srh.ProbeReport|srh.ProbeCapture, []byte{1, 2, 3}))
	f.Add(sample(stranger, 1, 1, srh.ProbeReport, nil))
	f.Add([]byte{})
	f.Add(sample(collector, 9000, 1, srh.ProbeReport|srh.ProbeCapture|srh.ProbeNextHops, ipv6Capture(nextSID)))
	f.Fuzz(func(t *testing.T, s []byte) {
		var fs fakeSender
		var st Stats
		p := newPipeline(2, allowList, 1000, 10, &fs, &st, fixedClock)
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
	})
}
