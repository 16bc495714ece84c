package collect

import (
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: 1 ns to 100 s at 3 significant digits (a value is kept within 0.1 %).
const (
	histLowest  = 1
	histHighest = int64(100 * time.Second)
	histDigits  = 3
)

// Stats accumulates a stream of durations: count, min, max, mean and deviation exactly
// (running sums), quantiles from an HDR histogram (bounded memory, 0.1 % resolution).
type Stats struct {
	count     int64
	min, max  int64
	sum, sum2 float64
	hist      *hdrhistogram.Histogram
	overflow  int64 // values beyond the histogram's range (counted in min/max/mean only)
}

func newStats() Stats {
	return Stats{hist: hdrhistogram.New(histLowest, histHighest, histDigits)}
}

func (s *Stats) record(v int64) {
	if s.count == 0 || v < s.min {
		s.min = v
	}
	if s.count == 0 || v > s.max {
		s.max = v
	}
	s.count++
	f := float64(v)
	s.sum += f
	s.sum2 += f * f
	if s.hist.RecordValue(max(v, histLowest)) != nil {
		s.overflow++
	}
}

// Summary is a snapshot of Stats.
type StatsSummary struct {
	Count               int64
	Min, Avg, Max, Mdev time.Duration
	P50, P90, P99       time.Duration
}

func (s *Stats) summary() StatsSummary {
	if s.count == 0 {
		return StatsSummary{}
	}
	mean := s.sum / float64(s.count)
	v := s.sum2/float64(s.count) - mean*mean
	if v < 0 {
		v = 0
	}
	q := func(p float64) time.Duration {
		return time.Duration(min(max(s.hist.ValueAtQuantile(p), s.min), s.max))
	}
	return StatsSummary{
		Count: s.count,
		Min:   time.Duration(s.min), Max: time.Duration(s.max),
		Avg: time.Duration(mean), Mdev: time.Duration(math.Sqrt(v)),
		P50: q(50), P90: q(90), P99: q(99),
	}
}
