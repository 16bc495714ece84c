package oam

import (
	"math"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Millis is d in milliseconds, the unit of every delay srv6oam prints or puts in JSON.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// FormatMillis prints d in milliseconds with microsecond resolution ("0.061"), as ping does
// in its statistics.
func FormatMillis(d time.Duration) string { return strconv.FormatFloat(Millis(d), 'f', 3, 64) }

// Histogram range of Stats with quantiles: 1 ns to 100 s at 3 significant digits (a value is
// kept within 0.1 %).
const (
	histLowest  = 1
	histHighest = int64(100 * time.Second)
	histDigits  = 3
)

// Stats accumulates a stream of durations: count, min, max, mean and standard deviation
// exactly (running sums; mdev as iputils ping computes it), and quantiles from an HDR
// histogram when made with NewQuantileStats (bounded memory, 0.1 % resolution). The zero value
// keeps no quantiles. It is the one accumulator of srv6oam: ping's RTTs, the collector's
// per-segment delays, STAMP's four figures.
type Stats struct {
	count     int64
	min, max  time.Duration
	sum, sum2 float64
	hist      *hdrhistogram.Histogram
	overflow  int64 // values beyond the histogram's range (counted in min/max/mean only)
}

// NewQuantileStats returns Stats that also keep p50/p90/p99 (about 40 KB of histogram).
func NewQuantileStats() Stats {
	return Stats{hist: hdrhistogram.New(histLowest, histHighest, histDigits)}
}

// Add accounts one value.
func (s *Stats) Add(d time.Duration) {
	if s.count == 0 || d < s.min {
		s.min = d
	}
	if s.count == 0 || d > s.max {
		s.max = d
	}
	s.count++
	f := float64(d)
	s.sum += f
	s.sum2 += f * f
	if s.hist != nil && s.hist.RecordValue(max(int64(d), histLowest)) != nil {
		s.overflow++
	}
}

// Count is the number of values added.
func (s *Stats) Count() int64 { return s.count }

// Reset forgets every value, keeping the histogram's memory.
func (s *Stats) Reset() {
	h := s.hist
	*s = Stats{hist: h}
	if h != nil {
		h.Reset()
	}
}

// StatsSummary is a snapshot of Stats; the quantiles are 0 without a histogram.
type StatsSummary struct {
	Count               int64
	Min, Avg, Max, Mdev time.Duration
	P50, P90, P99       time.Duration
}

// Summary returns the statistics so far; it does not allocate.
func (s *Stats) Summary() StatsSummary {
	if s.count == 0 {
		return StatsSummary{}
	}
	mean := s.sum / float64(s.count)
	v := max(s.sum2/float64(s.count)-mean*mean, 0)
	out := StatsSummary{Count: s.count, Min: s.min, Max: s.max, Avg: time.Duration(mean), Mdev: time.Duration(math.Sqrt(v))}
	if s.hist != nil {
		q := func(p float64) time.Duration {
			return min(max(time.Duration(s.hist.ValueAtQuantile(p)), s.min), s.max)
		}
		out.P50, out.P90, out.P99 = q(50), q(90), q(99)
	}
	return out
}
