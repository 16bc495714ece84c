package output

import (
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes/delay"
)

// The JSON forms of a timestamped run, documented in docs/json.md (section "delay"). Field
// names are snake_case; durations are milliseconds as numbers; timestamps are CLOCK_TAI
// nanoseconds. A delay that is not believed (state other than "measured") has no delay_ms: its
// raw timestamp difference is in raw_ms, for diagnosis.

// DelayRun is what an envelope of mode "timestamps" says about the run besides its target:
// the session, the built-in collector, the segment list on the wire and the timestamping
// points.
type DelayRun struct {
	Session   uint32      `json:"session"`
	Collector string      `json:"collector"`
	Path      []string    `json:"path"` // the segment list on the wire, visiting order
	Points    []JSONPoint `json:"points"`
}

// DelayOptions echoes the options of a timestamped run.
type DelayOptions struct {
	Count       int     `json:"count"`
	IntervalMS  float64 `json:"interval_ms"`
	TimeoutMS   float64 `json:"timeout_ms"`
	LingerMS    float64 `json:"linger_ms"`
	PayloadSize int     `json:"payload_size"`
	HopLimit    int     `json:"hop_limit"`
	FlowLabel   uint32  `json:"flow_label"`
	SharedClock bool    `json:"shared_clock"`
	DetectMult  int     `json:"detect_multiplier"`
	UpMult      int     `json:"up_multiplier"`
	HMACKeyID   uint32  `json:"hmac_key_id"`
	Identifier  uint16  `json:"identifier"`
	// IOAM, with --ioam: the trace every probe carries.
	IOAM *JSONDelayIOAMOptions `json:"ioam,omitempty"`
}

// JSONPoint is a timestamping point.
type JSONPoint struct {
	Name string `json:"name"`
	SID  string `json:"sid,omitempty"`
	Kind string `json:"kind"` // source, node, return, reply
}

// DelaySegment is one segment of one probe.
type DelaySegment struct {
	From    string   `json:"from"`
	To      string   `json:"to"`
	State   string   `json:"state"` // measured, missing, unsynchronised, clock-unknown, negative, lost, not-reached
	DelayMS *float64 `json:"delay_ms,omitempty"`
	BoundMS *float64 `json:"bound_ms,omitempty"`
	RawMS   *float64 `json:"raw_ms,omitempty"`
}

// JSONTransition is a liveness change.
type JSONTransition struct {
	Segment int    `json:"segment"`
	From    string `json:"from"`
	To      string `json:"to"`
	Old     string `json:"old"`
	New     string `json:"new"`
	Seq     uint32 `json:"seq"`
	AtTAINs int64  `json:"at_tai_ns"`
}

// DelayResult is one probe; --json-lines prints it with Type "result".
type DelayResult struct {
	Type        string           `json:"type,omitempty"`
	Seq         uint32           `json:"seq"`
	Status      string           `json:"status"` // complete, partial, lost
	RTTMS       *float64         `json:"rtt_ms,omitempty"`
	TxTAINs     int64            `json:"tx_tai_ns"`
	RxTAINs     int64            `json:"rx_tai_ns,omitempty"`
	LostOn      *int             `json:"lost_on,omitempty"`   // segment index
	LastSeen    string           `json:"last_seen,omitempty"` // point name, for a lost probe
	Evicted     bool             `json:"evicted,omitempty"`
	Segments    []DelaySegment   `json:"segments"`
	Transitions []JSONTransition `json:"transitions,omitempty"`
	// IOAM, with --ioam: the probe's IOAM traces, one per point that saw one.
	IOAM []JSONDelayIOAM `json:"ioam,omitempty"`
}

// JSONStats is a StatsSummary in milliseconds.
type JSONStats struct {
	Count  int64   `json:"count"`
	MinMS  float64 `json:"min_ms"`
	AvgMS  float64 `json:"avg_ms"`
	MaxMS  float64 `json:"max_ms"`
	MdevMS float64 `json:"mdev_ms"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
}

// DelaySegmentSummary is one segment over the run.
type DelaySegmentSummary struct {
	Index          int       `json:"index"`
	From           string    `json:"from"`
	To             string    `json:"to"`
	Delay          JSONStats `json:"delay"`
	MaxBoundMS     float64   `json:"max_bound_ms"`
	Reached        int       `json:"reached"` // probes that reached the segment's start (crossed + lost)
	Lost           int       `json:"lost"`
	LossPercent    float64   `json:"loss_percent"`
	Missing        int       `json:"missing"`
	Unsynchronised int       `json:"unsynchronised"`
	Negative       int       `json:"negative"`
	Liveness       string    `json:"liveness"` // up, down, unknown
	ChangedAtTAINs int64     `json:"changed_at_tai_ns,omitempty"`
	Transitions    int       `json:"transitions"`
}

// DelaySummary is the run's statistics; --json-lines prints it last with Type "summary".
type DelaySummary struct {
	Type        string                `json:"type,omitempty"`
	Transmitted int                   `json:"transmitted"`
	Received    int                   `json:"received"`
	Partial     int                   `json:"partial"`
	Lost        int                   `json:"lost"`
	SendErrors  int                   `json:"send_errors"`
	SharedClock bool                  `json:"shared_clock"`
	ElapsedMS   float64               `json:"elapsed_ms"`
	RTT         JSONStats             `json:"rtt"`
	Segments    []DelaySegmentSummary `json:"segments"`
	Counters    JSONCounters          `json:"counters"`
}

// JSONCounters are the collector's counters (collect.Counters).
type JSONCounters struct {
	Records      uint64 `json:"records"`
	Slots        uint64 `json:"slots"`
	Foreign      uint64 `json:"foreign"`
	Duplicates   uint64 `json:"duplicates"`
	Late         uint64 `json:"late"`
	Stale        uint64 `json:"stale"`
	Unexpected   uint64 `json:"unexpected"`
	PathMismatch uint64 `json:"path_mismatch"`
	Evicted      uint64 `json:"evicted"`
	Gaps         uint64 `json:"gaps"`
	TimeMismatch uint64 `json:"time_mismatch"`
	// Report datagrams received by the built-in collector, and those that did not decode.
	Reports    int `json:"reports"`
	BadReports int `json:"bad_reports"`
	// Returning probes, report records and TX timestamps lost because the prober did not
	// take them fast enough.
	Dropped int `json:"dropped"`
}

func msp(v float64) *float64 { return &v }

func jsonStats(s oam.StatsSummary) JSONStats {
	f := func(d interface{ Nanoseconds() int64 }) float64 { return float64(d.Nanoseconds()) / 1e6 }
	return JSONStats{Count: s.Count, MinMS: f(s.Min), AvgMS: f(s.Avg), MaxMS: f(s.Max), MdevMS: f(s.Mdev),
		P50MS: f(s.P50), P90MS: f(s.P90), P99MS: f(s.P99)}
}

// NewJSONPoints converts the points.
func NewJSONPoints(points []collect.Point) []JSONPoint {
	out := make([]JSONPoint, len(points))
	for i, p := range points {
		out[i] = JSONPoint{Name: p.Name, Kind: p.Kind.String()}
		if p.SID.IsValid() {
			out[i].SID = p.SID.String()
		}
	}
	return out
}

// NewDelayResult converts a delay.Result.
func NewDelayResult(r delay.Result, points []collect.Point) DelayResult {
	j := DelayResult{Seq: r.Sequence, Status: r.Status.String(), TxTAINs: r.TxNs, RxTAINs: r.RxNs, Evicted: r.Evicted}
	if r.Status != collect.StatusLost {
		j.RTTMS = msp(float64(r.RTT) / 1e6)
	} else {
		lost := r.LostOn
		j.LostOn, j.LastSeen = &lost, points[r.LastSeen].Name
	}
	for i, s := range r.Segments {
		seg := DelaySegment{From: points[i].Name, To: points[i+1].Name, State: s.State.String()}
		if s.State == oam.DelayMeasured {
			seg.DelayMS, seg.BoundMS = msp(float64(s.Delay)/1e6), msp(float64(s.Bound)/1e6)
		} else if s.HaveRaw {
			seg.RawMS = msp(float64(s.Raw) / 1e6)
		}
		j.Segments = append(j.Segments, seg)
	}
	for _, t := range r.Transitions {
		j.Transitions = append(j.Transitions, JSONTransition{Segment: t.Segment, From: points[t.Segment].Name, To: points[t.Segment+1].Name,
			Old: t.Old.String(), New: t.New.String(), Seq: t.Sequence, AtTAINs: t.AtNs})
	}
	return j
}

// NewDelaySummary converts a delay.Summary.
func NewDelaySummary(s delay.Summary, points []collect.Point) DelaySummary {
	j := DelaySummary{Transmitted: s.Transmitted, Received: s.Received, Partial: s.Partial, Lost: s.Lost,
		SendErrors: s.SendErrors, SharedClock: s.SharedClock, ElapsedMS: float64(s.Elapsed) / 1e6,
		RTT: jsonStats(s.RTT), Segments: []DelaySegmentSummary{}}
	c := s.Counters
	j.Counters = JSONCounters{Records: c.Records, Slots: c.Slots, Foreign: c.Foreign, Duplicates: c.Duplicates, Late: c.Late,
		Stale: c.Stale, Unexpected: c.Unexpected, PathMismatch: c.PathMismatch, Evicted: c.Evicted, Gaps: c.Gaps,
		TimeMismatch: c.TimeMismatch, Reports: s.Reports, BadReports: s.BadReports, Dropped: s.Dropped}
	for _, seg := range s.Segments {
		j.Segments = append(j.Segments, DelaySegmentSummary{
			Index: seg.Index, From: points[seg.Index].Name, To: points[seg.Index+1].Name, Delay: jsonStats(seg.Delay),
			MaxBoundMS: float64(seg.MaxBound) / 1e6, Reached: seg.Crossed + seg.Lost, Lost: seg.Lost,
			LossPercent: seg.LossPercent(), Missing: seg.Missing, Unsynchronised: seg.Unsynchronised,
			Negative: seg.Negative, Liveness: seg.Liveness.String(), ChangedAtTAINs: seg.ChangedAtNs,
			Transitions: seg.Transitions,
		})
	}
	return j
}

// NewDelayDocument assembles the envelope of a finished timestamped run.
// With --ioam, io shows the probes' IOAM traces (nil without).
func NewDelayDocument(p *delay.Prober, points []collect.Point, target oam.Target, results []delay.Result, s delay.Summary, io *DelayIOAM) Envelope {
	o := p.Options()
	run := &DelayRun{Session: o.Session, Collector: p.Collector().String(), Points: NewJSONPoints(points)}
	for _, a := range p.Path() {
		run.Path = append(run.Path, a.String())
	}
	opts := DelayOptions{Count: o.Count, IntervalMS: ms(o.Interval), TimeoutMS: ms(o.Timeout), LingerMS: ms(o.Linger),
		PayloadSize: o.PayloadSize, HopLimit: o.HopLimit, FlowLabel: o.FlowLabel, SharedClock: o.SharedClock,
		DetectMult: o.DetectMultiplier, UpMult: o.UpMultiplier, Identifier: o.Identifier}
	if o.HMAC != nil {
		opts.HMACKeyID = o.HMAC.ID
	}
	if io != nil {
		opts.IOAM = io.DelayOptions()
	}
	rs := make([]DelayResult, 0, len(results))
	for _, r := range results {
		j := NewDelayResult(r, points)
		if io != nil {
			j.IOAM = io.JSON(&r, points)
		}
		rs = append(rs, j)
	}
	return Envelope{SchemaVersion: SchemaVersion, Command: "srv6-ping", Mode: "timestamps",
		Target: NewTarget(target, "insert", p.Source()), Options: opts, Timestamps: run,
		Results: rs, Summary: NewDelaySummary(s, points)}
}
