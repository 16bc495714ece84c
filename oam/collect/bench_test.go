package collect

import (
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
)

// BenchmarkCorrelate measures report records correlated per second: every probe of a
// three-node reflected path has its TX, three single-record reports (one per node, in a
// shuffled order) and its return; each probe resolves, computes four one-way delays, feeds
// the histograms and the liveness machines. One op is one report record.
func BenchmarkCorrelate(b *testing.B) {
	const probes = 4096
	c, err := New(Config{Session: session, Points: PathPoints(path, true), Window: 1024,
		Timeout: time.Second, SourceClock: synced, TxFirst: true})
	if err != nil {
		b.Fatal(err)
	}
	reports := make([][3]*oam.Report, probes)
	for i := range reports {
		for v := 0; v < 3; v++ {
			reports[i][(v+i)%3] = report(v, 0, 0, 0, synced)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	seq := uint32(0)
	now := int64(0)
	for n := 0; n < b.N; {
		seq++
		now += 10 * us
		c.ObserveTx(seq, now, now)
		rs := &reports[seq%probes]
		for j := 0; j < 3; j++ {
			rec := &rs[j].Records[0]
			v := len(path) - 2 - int(rec.SegmentsLeft)
			rec.Sequence = seq
			rec.SenderTxNs = uint64(now)
			rec.TimestampNs = uint64(now + int64(v+1)*100*us + int64(seq%97)*us)
			c.ObserveReport(rs[j], now)
		}
		c.ObserveReceive(seq, now+time.Millisecond.Nanoseconds(), now)
		n += 3
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
	if s := c.Summary(); s.Received == 0 || s.Segments[1].Delay.Count == 0 {
		b.Fatalf("nothing correlated: %+v", s)
	}
}

// BenchmarkDecodeAndCorrelate adds decoding: datagrams of 24 records (what an agent sends under
// load) are decoded with oam.Report.UnmarshalBinary into a reused Report and correlated. One op
// is one record.
func BenchmarkDecodeAndCorrelate(b *testing.B) {
	const batch = 24
	c, err := New(Config{Session: session, Points: PathPoints(path, true), Window: 1024,
		Timeout: time.Second, SourceClock: synced, TxFirst: true})
	if err != nil {
		b.Fatal(err)
	}
	// One datagram per node per batch of probes.
	var rep oam.Report
	var builder oam.ReportBuilder
	datagrams := make([][]byte, 3)
	build := func(first uint32, now int64) {
		for v := 0; v < 3; v++ {
			builder.Reset(uint32(10+v), synced)
			for i := uint32(0); i < batch; i++ {
				r := report(v, first+i, now+int64(v+1)*100*us, now, synced)
				builder.Add(&r.Records[0])
			}
			datagrams[v] = append(datagrams[v][:0], builder.Bytes()...)
		}
	}
	build(1, 0)
	rep.Records = make([]oam.ReportRecord, 0, batch)
	b.ReportAllocs()
	b.ResetTimer()
	seq := uint32(1)
	now := int64(0)
	for n := 0; n < b.N; n += 3 * batch {
		b.StopTimer()
		build(seq, now)
		b.StartTimer()
		for i := uint32(0); i < batch; i++ {
			c.ObserveTx(seq+i, now, now)
		}
		for v := 0; v < 3; v++ {
			if err := rep.UnmarshalBinary(datagrams[v]); err != nil {
				b.Fatal(err)
			}
			c.ObserveReport(&rep, now)
		}
		for i := uint32(0); i < batch; i++ {
			c.ObserveReceive(seq+i, now+time.Millisecond.Nanoseconds(), now)
		}
		seq += batch
		now += batch * 10 * us
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
	if s := c.Summary(); s.Received == 0 {
		b.Fatalf("nothing correlated: %+v", s)
	}
}
