package monitor

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// nativeCounts decodes a native histogram's positive spans and deltas into counts by key.
func nativeCounts(t *testing.T, h *dto.Histogram) map[int]uint64 {
	t.Helper()
	out := map[int]uint64{}
	k, d, count := 0, 0, int64(0)
	for i, s := range h.GetPositiveSpan() {
		k += int(s.GetOffset())
		if i > 0 && s.GetOffset() < 0 {
			t.Fatalf("span %d: negative offset %d", i, s.GetOffset())
		}
		for range s.GetLength() {
			count += h.GetPositiveDelta()[d]
			d++
			if count < 0 {
				t.Fatalf("bucket %d: negative count", k)
			}
			if count > 0 {
				out[k] = uint64(count)
			}
			k++
		}
	}
	if d != len(h.GetPositiveDelta()) {
		t.Fatalf("%d deltas, spans cover %d", len(h.GetPositiveDelta()), d)
	}
	return out
}

// TestDelayHistAsClientGolang: for the same values, delayHist's exposition is client_golang's
// histogram's (same options): count, sum, classic buckets, schema, zero bucket and every native
// bucket; also once the values are spread wider than 160 buckets, where both halve the
// resolution; and 0, negative and +Inf values.
func TestDelayHistAsClientGolang(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range []struct {
		name string
		gen  func() float64
		n    int
	}{
		{"lab-rtt", func() float64 { return math.Exp(rng.NormFloat64()*0.5) * 300e-6 }, 20000},
		{"wide", func() float64 { return math.Exp2(rng.Float64()*60 - 40) }, 5000},
		{"edges", func() float64 {
			// Everything a time.Duration's Seconds can be: 0, negative (a clock step), 1 ns, a
			// bucket's bound, the longest.
			return []time.Duration{0, -time.Millisecond, 1, 50 * time.Microsecond, time.Millisecond, 5 * time.Second,
				6 * time.Second, math.MaxInt64}[rng.IntN(8)].Seconds()
		}, 2000},
	} {
		t.Run(c.name, func(t *testing.T) {
			ref := prometheus.NewHistogram(histogramOpts("x_seconds", "x", prometheus.Labels{"a": "b"}))
			ours := newDelayHist(prometheus.NewDesc("srv6_monitor_x_seconds", "x", nil, nil), labelPairs(prometheus.Labels{"a": "b"}), time.Now())
			for range c.n {
				v := c.gen()
				ref.Observe(max(v, 0)) // ours takes a negative value as 0
				ours.Observe(v)
			}
			var want, got dto.Metric
			if err := ref.Write(&want); err != nil {
				t.Fatal(err)
			}
			if err := ours.snapshot().Write(&got); err != nil {
				t.Fatal(err)
			}
			w, g := want.GetHistogram(), got.GetHistogram()
			if g.GetSampleCount() != w.GetSampleCount() || g.GetSchema() != w.GetSchema() || g.GetZeroCount() != w.GetZeroCount() ||
				g.GetZeroThreshold() != w.GetZeroThreshold() {
				t.Fatalf("count %d schema %d zero %d (≤ %g); client_golang: %d, %d, %d (≤ %g)", g.GetSampleCount(), g.GetSchema(), g.GetZeroCount(),
					g.GetZeroThreshold(), w.GetSampleCount(), w.GetSchema(), w.GetZeroCount(), w.GetZeroThreshold())
			}
			if gs, ws := g.GetSampleSum(), w.GetSampleSum(); gs != ws && math.Abs(gs-ws) > 1e-9*math.Abs(ws) {
				t.Errorf("sum %g, client_golang %g", gs, ws)
			}
			if len(g.GetBucket()) != len(w.GetBucket()) {
				t.Fatalf("%d classic buckets, client_golang %d", len(g.GetBucket()), len(w.GetBucket()))
			}
			for i, b := range w.GetBucket() {
				if gb := g.GetBucket()[i]; gb.GetUpperBound() != b.GetUpperBound() || gb.GetCumulativeCount() != b.GetCumulativeCount() {
					t.Errorf("classic bucket %d: ≤ %g: %d, client_golang ≤ %g: %d", i, gb.GetUpperBound(), gb.GetCumulativeCount(), b.GetUpperBound(), b.GetCumulativeCount())
				}
			}
			gn, wn := nativeCounts(t, g), nativeCounts(t, w)
			if len(gn) != len(wn) {
				t.Errorf("%d native buckets, client_golang %d", len(gn), len(wn))
			}
			for k, v := range wn {
				if gn[k] != v {
					t.Errorf("native bucket %d: %d, client_golang %d", k, gn[k], v)
				}
			}
			if len(gn) > nativeMaxBuckets {
				t.Errorf("%d native buckets in use, more than %d", len(gn), nativeMaxBuckets)
			}
			if got.GetLabel()[0].GetName() != "a" || got.GetLabel()[0].GetValue() != "b" {
				t.Errorf("labels %v", got.GetLabel())
			}
			t.Logf("%d values: schema %d, %d native buckets", c.n, g.GetSchema(), len(gn))
		})
	}
}

// BenchmarkDelayHist: one observation, ours and client_golang's, with 1,000 histograms
// observed in turn (as 1,000 jobs' replies come), so that neither stays in cache.
func BenchmarkDelayHist(b *testing.B) {
	vals := make([]float64, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range vals {
		vals[i] = math.Exp(rng.NormFloat64()*0.5) * 300e-6
	}
	b.Run("delayHist", func(b *testing.B) {
		hs := make([]*delayHist, 1000)
		for i := range hs {
			hs[i] = newDelayHist(descRTT, nil, time.Now())
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			hs[i%len(hs)].Observe(vals[i%len(vals)])
			i++
		}
	})
	b.Run("client_golang", func(b *testing.B) {
		hs := make([]prometheus.Histogram, 1000)
		for i := range hs {
			hs[i] = prometheus.NewHistogram(histogramOpts("x_seconds", "x", nil))
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			hs[i%len(hs)].Observe(vals[i%len(vals)])
			i++
		}
	})
}
