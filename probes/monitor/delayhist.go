package monitor

import (
	"math"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// delayHist is a Prometheus histogram of delays in seconds for a writer that holds its job's lock
// (rj.mu): the classic buckets of delayBuckets and a native histogram of schema 3 (a factor of
// 2^(1/8) ≈ 1.09 per bucket, what client_golang makes of NativeHistogramBucketFactor 1.1), its
// buckets dense between the lowest and the highest observed. An observation is a few additions,
// where client_golang's histogram, made for concurrent writers, looks its native bucket up in a
// sync.Map and keeps two copies of everything: at 100,000 probes a second that was a tenth of
// the monitor's CPU, and most of a job's memory. Collect, under the same lock, takes a snapshot
// that the registry encodes later. A negative value (a clock step) counts as 0.
type delayHist struct {
	desc    *prometheus.Desc
	labels  []*dto.LabelPair
	created *timestamppb.Timestamp // read, never written, by every snapshot

	count uint64
	sum   float64
	// classic counts per bucket of delayBuckets, not cumulative; the last one is +Inf's.
	classic []uint64
	// schema of the native buckets: 3, less once more than nativeMaxBuckets would be needed;
	// native[i] counts the bucket of key lo+i; zero the observations ≤ nativeZeroThreshold.
	schema int32
	lo     int
	native []uint64
	used   int // buckets of native in use
	zero   uint64
}

const (
	nativeSchema        = 3
	nativeMaxBuckets    = 160
	nativeMaxRange      = 4096
	nativeZeroThreshold = prometheus.DefNativeHistogramZeroThreshold
)

// nativeBounds are the upper bounds of schema 3's buckets within one power of two, as fractions
// of math.Frexp (in [0.5, 1)): bucket k of schema 3 ends at 2^(k/8).
var nativeBounds = func() []float64 {
	b := make([]float64, 1<<nativeSchema)
	for i := range b {
		b[i] = math.Exp2(float64(i)/float64(len(b)) - 1)
	}
	return b
}()

// newDelayHist makes a histogram exposed as desc's, with labels.
func newDelayHist(desc *prometheus.Desc, labels []*dto.LabelPair, created time.Time) *delayHist {
	return &delayHist{desc: desc, labels: labels, created: timestamppb.New(created), schema: nativeSchema,
		classic: make([]uint64, len(delayBuckets)+1)}
}

// nativeKey is the key of v's bucket in schema 3: the bucket whose upper bound is the first at or
// above v.
func nativeKey(v float64) int {
	frac, exp := math.Frexp(v)
	return sort.SearchFloat64s(nativeBounds, frac) + (exp-1)*len(nativeBounds)
}

// Observe adds one value in seconds. The job's lock is held.
func (h *delayHist) Observe(v float64) {
	if math.IsNaN(v) {
		return
	}
	v = max(v, 0)
	h.count++
	h.sum += v
	i := sort.SearchFloat64s(delayBuckets, v) // the first bucket whose bound is ≥ v
	h.classic[i]++
	if v <= nativeZeroThreshold {
		h.zero++
		return
	}
	var k int
	if math.IsInf(v, 1) {
		k = nativeKey(math.MaxFloat64) + 1 // the bucket above the largest finite value's
	} else {
		k = nativeKey(v)
	}
	// Down to the current schema: bucket k of schema s is buckets 2k−1 and 2k of s+1.
	k = (k + 1<<(nativeSchema-h.schema) - 1) >> (nativeSchema - h.schema)
	h.add(k)
}

// add counts one in the bucket of key k. As client_golang does, it halves the resolution while
// more than nativeMaxBuckets buckets are in use (and while the dense range would be wider than
// nativeMaxRange, which only values far apart, such as nanoseconds and hours, reach).
func (h *delayHist) add(k int) {
	if len(h.native) == 0 {
		h.lo, h.native, h.used = k, append(h.native, 1), 1
		return
	}
	for {
		lo, hi := min(h.lo, k), max(h.lo+len(h.native)-1, k)
		used := h.used
		if k < h.lo || k >= h.lo+len(h.native) || h.native[k-h.lo] == 0 {
			used++
		}
		if (used <= nativeMaxBuckets && hi-lo < nativeMaxRange) || h.schema == -4 {
			break
		}
		h.halve()
		k = (k + 1) >> 1
	}
	switch {
	case k < h.lo:
		grown := make([]uint64, h.lo-k+len(h.native))
		copy(grown[h.lo-k:], h.native)
		h.native, h.lo = grown, k
	case k >= h.lo+len(h.native):
		h.native = append(h.native, make([]uint64, k-h.lo-len(h.native)+1)...)
	}
	if h.native[k-h.lo] == 0 {
		h.used++
	}
	h.native[k-h.lo]++
}

// halve merges pairs of buckets: schema s−1's bucket j is s's buckets 2j−1 and 2j.
func (h *delayHist) halve() {
	lo := (h.lo + 1) >> 1
	hi := (h.lo + len(h.native)) >> 1
	merged := make([]uint64, hi-lo+1)
	for i, c := range h.native {
		merged[(h.lo+i+1)>>1-lo] += c
	}
	h.native, h.lo, h.used = merged, lo, 0
	for _, c := range merged {
		if c > 0 {
			h.used++
		}
	}
	h.schema--
}

// snapshot is the histogram as it is now, for the registry to encode. The job's lock is held.
// Its buckets, counts and spans come in a few blocks rather than a pointer each (the garbage
// of a scrape of 10,000 jobs is mostly these).
func (h *delayHist) snapshot() prometheus.Metric {
	n := len(delayBuckets)
	type block struct {
		hist    dto.Histogram
		schema  int32
		zt      float64
		count   uint64
		sum     float64
		zero    uint64
		buckets []dto.Bucket
		ptrs    []*dto.Bucket
		cum     []uint64
	}
	b := &block{schema: h.schema, zt: nativeZeroThreshold, count: h.count, sum: h.sum, zero: h.zero,
		buckets: make([]dto.Bucket, n), ptrs: make([]*dto.Bucket, n), cum: make([]uint64, n)}
	cum := uint64(0)
	for i := range n {
		cum += h.classic[i]
		b.cum[i] = cum
		b.buckets[i].CumulativeCount, b.buckets[i].UpperBound = &b.cum[i], &delayBuckets[i]
		b.ptrs[i] = &b.buckets[i]
	}
	hist := &b.hist
	hist.SampleCount, hist.SampleSum, hist.Bucket = &b.count, &b.sum, b.ptrs
	hist.CreatedTimestamp, hist.Schema, hist.ZeroThreshold, hist.ZeroCount = h.created, &b.schema, &b.zt, &b.zero
	// Spans of buckets in use; a gap of up to two empty buckets stays inside a span.
	type span struct {
		offset int32
		length uint32
	}
	var spans []span
	deltas := make([]int64, 0, h.used+4)
	prev, next := int64(0), 0
	for i, c := range h.native {
		if c == 0 {
			continue
		}
		k := h.lo + i
		if gap := k - next; len(spans) == 0 || gap > 2 {
			spans = append(spans, span{offset: int32(gap)})
		} else {
			for range gap {
				spans[len(spans)-1].length++
				deltas = append(deltas, -prev)
				prev = 0
			}
		}
		spans[len(spans)-1].length++
		deltas = append(deltas, int64(c)-prev)
		prev, next = int64(c), k+1
	}
	if len(spans) > 0 {
		ds := make([]dto.BucketSpan, len(spans))
		vals := make([]span, len(spans))
		copy(vals, spans)
		hist.PositiveSpan = make([]*dto.BucketSpan, len(spans))
		for i := range ds {
			ds[i].Offset, ds[i].Length = &vals[i].offset, &vals[i].length
			hist.PositiveSpan[i] = &ds[i]
		}
		hist.PositiveDelta = deltas
	}
	return histSnapshot{desc: h.desc, labels: h.labels, h: hist}
}

// histSnapshot is a delayHist's snapshot as a prometheus.Metric.
type histSnapshot struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	h      *dto.Histogram
}

func (s histSnapshot) Desc() *prometheus.Desc { return s.desc }

func (s histSnapshot) Write(m *dto.Metric) error {
	m.Label, m.Histogram = s.labels, s.h
	return nil
}
