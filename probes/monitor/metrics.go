package monitor

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes"
)

const ns = "srv6_monitor"

// Classic buckets from 50 µs to 5 s; native histograms (factor 1.1, ≤ 10 % per bucket) are
// exposed alongside for servers that scrape them.
var delayBuckets = []float64{50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5}

func histogramOpts(name, help string, labels prometheus.Labels) prometheus.HistogramOpts {
	return prometheus.HistogramOpts{
		Namespace: ns, Name: name, Help: help, ConstLabels: labels, Buckets: delayBuckets,
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: 3600e9,
	}
}

// The per-job series share one descriptor per name, without labels: each job's series carry
// their labels themselves (jobMetrics.labels, segLabels), built once when the job starts. A
// prometheus.Desc per job and series held 4 KB of every job (NewDesc hashes, sorts and keeps
// its label pairs); the registry, not pedantic, takes a collected series' labels from the
// series itself and its name and help from the descriptor.
var (
	descSent = prometheus.NewDesc(ns+"_probes_sent_total", "Probes sent by the job.", nil, nil)
	descLost = prometheus.NewDesc(ns+"_probes_lost_total",
		"Probes that did not come back in time (or came back as an ICMPv6 error).", nil, nil)
	descSegLost = prometheus.NewDesc(ns+"_segment_probes_lost_total",
		"Probes lost on the segment (loss localised by the collector; an echo job has one end-to-end segment).", nil, nil)
	descUp = prometheus.NewDesc(ns+"_segment_up",
		"1 when the segment is up, 0 when down (absent while unknown); BFD-like with the job's detect multiplier.", nil, nil)
	descChanged = prometheus.NewDesc(ns+"_segment_last_transition_timestamp_seconds",
		"Unix time of the segment's last liveness change.", nil, nil)
	descUnsynced = prometheus.NewDesc(ns+"_clock_unsynchronised",
		"1 when the last probe's one-way delay on the segment could not be measured because a clock is not synchronised.", nil, nil)
	descRTT       = prometheus.NewDesc(ns+"_rtt_seconds", "Round-trip time of the job's probes (prober's clock only).", nil, nil)
	descResidence = prometheus.NewDesc(ns+"_stamp_reflector_residence_seconds",
		"Time the STAMP reflector held the job's test packets (T3 − T2, the reflector's clock only).", nil, nil)
	descOWD = prometheus.NewDesc(ns+"_one_way_delay_seconds",
		"One-way delay of the segment, measured only when both ends' clocks are synchronised (or shared).", nil, nil)
)

// jobMetrics are the series one job owns; they disappear with the job. The counters are the
// job's own (runningJob.sentN, lostN, segState.lost), read at scrape time.
type jobMetrics struct {
	// labels are the job's label pairs (job_name, kind and its labels:), sorted; segLabels
	// each segment's (and segment, from, to).
	labels    []*dto.LabelPair
	segLabels [][]*dto.LabelPair
	// created is when the job's counters started (their created timestamp).
	created *timestamppb.Timestamp
	// The delay histograms are written under the job's lock (delayHist).
	rtt *delayHist
	owd []*delayHist // timestamped and stamp jobs
	// residence is a stamp job's reflector residence time (T3 − T2).
	residence *delayHist
	// ioam jobs: the delay to each entry from the one before, by hop and IOAM node id; the
	// changes of the nodes' sequence.
	hopDelay    *prometheus.HistogramVec
	pathChanges prometheus.Counter
}

// labelPairs makes sorted label pairs of l.
func labelPairs(l prometheus.Labels) []*dto.LabelPair {
	out := make([]*dto.LabelPair, 0, len(l))
	pairs := make([]dto.LabelPair, len(l))
	i := 0
	for k, v := range l {
		pairs[i].Name, pairs[i].Value = new(k), new(v)
		out = append(out, &pairs[i])
		i++
	}
	slices.SortFunc(out, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

func newJobMetrics(j Job, segs [][2]string) *jobMetrics {
	now := time.Now()
	labels := prometheus.Labels{"job_name": j.Name, "kind": string(j.Kind)}
	for k, v := range j.Labels {
		labels[k] = v
	}
	jm := &jobMetrics{labels: labelPairs(labels), created: timestamppb.New(now)}
	jm.rtt = newDelayHist(descRTT, jm.labels, now)
	if j.Kind == KindStamp {
		jm.residence = newDelayHist(descResidence, jm.labels, now)
	}
	if j.Kind == KindIOAM {
		jm.hopDelay = prometheus.NewHistogramVec(histogramOpts("ioam_hop_delay_seconds",
			"Delay from the IOAM entry before (the probe's transmission for hop 1) to this hop's receive time, measured only with a shared clock or a clock_error bound.", labels),
			[]string{"hop", "node"})
		jm.pathChanges = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "ioam_path_changes_total",
			Help: "Probes whose IOAM trace named other nodes, or the same in another order, than the last probe of their flow label.", ConstLabels: labels})
	}
	for i, s := range segs {
		sl := prometheus.Labels{"segment": strconv.Itoa(i), "from": s[0], "to": s[1]}
		for k, v := range labels {
			sl[k] = v
		}
		pairs := labelPairs(sl)
		jm.segLabels = append(jm.segLabels, pairs)
		if j.Kind == KindTimestamped || j.Kind == KindStamp {
			jm.owd = append(jm.owd, newDelayHist(descOWD, pairs, now))
		}
	}
	return jm
}

// jobSeries is one counter or gauge of a job at scrape time.
type jobSeries struct {
	desc    *prometheus.Desc
	labels  []*dto.LabelPair
	gauge   bool
	value   float64
	created *timestamppb.Timestamp // a counter's
}

func (s *jobSeries) Desc() *prometheus.Desc { return s.desc }

func (s *jobSeries) Write(m *dto.Metric) error {
	m.Label = s.labels
	if s.gauge {
		m.Gauge = &dto.Gauge{Value: &s.value}
	} else {
		m.Counter = &dto.Counter{Value: &s.value, CreatedTimestamp: s.created}
	}
	return nil
}

// timestampedSegments names a timestamped job's segments as probes/delay's points do: the
// source, every SID of the path, and the source again (the probe is reflected).
func timestampedSegments(j Job) [][2]string {
	path := append(j.Target.Path(), j.Target.Destination) // placeholder for the source
	pts := collect.PathPoints(path, true)
	out := make([][2]string, 0, len(pts)-1)
	for i := 0; i+1 < len(pts); i++ {
		out = append(out, [2]string{pts[i].Name, pts[i+1].Name})
	}
	return out
}

// monitorCollector exposes every current job's series at scrape time, so that a job removed
// by a reload takes its series with it.
type monitorCollector struct{ m *Monitor }

func (c monitorCollector) Describe(chan<- *prometheus.Desc) {} // unchecked: job series come and go

func (c monitorCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.RLock()
	jobs := make([]*runningJob, 0, len(c.m.jobs))
	for _, rj := range c.m.jobs {
		jobs = append(jobs, rj)
	}
	c.m.mu.RUnlock()
	var out []prometheus.Metric
	for _, rj := range jobs {
		jm := rj.metrics
		if jm.hopDelay != nil {
			jm.hopDelay.Collect(ch)
			jm.pathChanges.Collect(ch)
		}
		out = out[:0]
		rj.mu.Lock()
		out = append(out, &jobSeries{desc: descSent, labels: jm.labels, value: float64(rj.sentN), created: jm.created})
		out = append(out, &jobSeries{desc: descLost, labels: jm.labels, value: float64(rj.lostN), created: jm.created})
		out = append(out, jm.rtt.snapshot())
		for _, h := range jm.owd {
			out = append(out, h.snapshot())
		}
		if jm.residence != nil {
			out = append(out, jm.residence.snapshot())
		}
		for i := range rj.segs {
			if i >= len(jm.segLabels) {
				break
			}
			s := &rj.segs[i]
			l := jm.segLabels[i]
			out = append(out, &jobSeries{desc: descSegLost, labels: l, value: float64(s.lost), created: jm.created})
			switch s.live.State {
			case collect.LiveUp:
				out = append(out, &jobSeries{desc: descUp, labels: l, gauge: true, value: 1})
			case collect.LiveDown:
				out = append(out, &jobSeries{desc: descUp, labels: l, gauge: true, value: 0})
			}
			if !s.changedAt.IsZero() {
				out = append(out, &jobSeries{desc: descChanged, labels: l, gauge: true, value: float64(s.changedAt.UnixNano()) / 1e9})
			}
			if rj.job.Kind == KindTimestamped || rj.job.Kind == KindStamp {
				out = append(out, &jobSeries{desc: descUnsynced, labels: l, gauge: true, value: b2f(s.unsynced)})
			}
		}
		rj.mu.Unlock()
		// Sent once the job's lock is free: the registry's channel can be full, and the
		// job's results wait on that lock.
		for _, s := range out {
			ch <- s
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (m *Monitor) registerMetrics() {
	m.latProm = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "schedule_lateness_seconds",
		Help:    "How late probes left compared with their jittered schedule.",
		Buckets: []float64{100e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3, 100e-3, 1}, NativeHistogramBucketFactor: 1.1})
	m.reg.MustRegister(
		monitorCollector{m},
		m.latProm,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "jobs", Help: "Jobs configured."},
			func() float64 {
				m.mu.RLock()
				defer m.mu.RUnlock()
				return float64(len(m.jobs))
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "unmatched_replies_total",
			Help: "Echo replies and errors on the shared socket whose identifier belongs to no job (other pingers on the host; not the host's own answers to timestamped probes)."},
			func() float64 {
				return float64(m.demux.Unmatched())
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "foreign_replies_total",
			Help: "Echo replies and errors on the shared socket under one of the jobs' identifiers that answer another process's probes (their data lacks this monitor's cookie): another monitor or pinger on the host chose the same identifier. Dropped."},
			func() float64 {
				return float64(m.demux.Foreign())
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "config_last_reload_successful",
			Help: "1 when the last load of the jobs file (start or SIGHUP) succeeded; 0 when it was refused and the previous jobs run on."},
			func() float64 { return b2f(m.reloadOK.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful load of the jobs file."},
			func() float64 { return float64(m.reloadAt.Load()) / 1e9 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "host_clock_unsynchronised",
			Help: "1 when adjtimex says this host's clock is not synchronised (one-way delays across hosts are then not believed)."},
			func() float64 { return b2f(!hostClock().Synchronised) }),
	)
}

func hostClock() oam.ClockState { return probes.LocalClock() }
