package ping

import (
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
)

// The JSON forms of a ping run, as docs/json.md documents them (schema:
// docs/json/srv6-ping.schema.json). Field names are snake_case; times are RFC 3339 with
// nanoseconds, durations are milliseconds as numbers.

// JSONDocument is what srv6-ping --json prints once, at the end.
type JSONDocument struct {
	Command string       `json:"command"`
	Version int          `json:"version"`
	Target  JSONTarget   `json:"target"`
	Options JSONOptions  `json:"options"`
	Results []JSONResult `json:"results"`
	Summary JSONSummary  `json:"summary"`
}

// JSONTarget says what was pinged and how.
type JSONTarget struct {
	Destination string   `json:"destination"`
	Segments    []string `json:"segments"`
	Encoding    string   `json:"encoding"`
	Decap       bool     `json:"decap"`
	Source      string   `json:"source"`
}

// JSONOptions echoes the options that shape the figures.
type JSONOptions struct {
	Count       int     `json:"count"`
	IntervalMS  float64 `json:"interval_ms"`
	TimeoutMS   float64 `json:"timeout_ms"`
	PayloadSize int     `json:"payload_size"`
	HopLimit    int     `json:"hop_limit"`
	FlowLabel   uint32  `json:"flow_label"`
	OAM         bool    `json:"oam"`
	HMACKeyID   uint32  `json:"hmac_key_id"`
	Identifier  uint16  `json:"identifier"`
}

// JSONActiveSegment is the segment an ICMPv6 error's quoted SRH pointed at.
type JSONActiveSegment struct {
	Index        int    `json:"index"`
	SID          string `json:"sid"`
	SegmentsLeft int    `json:"segments_left"`
}

// JSONResult is one Result; --json-lines prints it with Type "result".
type JSONResult struct {
	Type          string             `json:"type,omitempty"`
	Seq           int                `json:"seq"`
	Kind          string             `json:"kind"`
	From          string             `json:"from,omitempty"`
	Bytes         int                `json:"bytes,omitempty"`
	HopLimit      *int               `json:"hop_limit,omitempty"`
	RTTMS         *float64           `json:"rtt_ms,omitempty"`
	SendDelayMS   *float64           `json:"send_delay_ms,omitempty"`
	Sent          string             `json:"sent,omitempty"`
	Received      string             `json:"received,omitempty"`
	SentClock     string             `json:"sent_clock,omitempty"`
	ReceivedClock string             `json:"received_clock,omitempty"`
	Duplicate     bool               `json:"duplicate,omitempty"`
	Late          bool               `json:"late,omitempty"`
	ICMPType      *uint8             `json:"icmp_type,omitempty"`
	ICMPCode      *uint8             `json:"icmp_code,omitempty"`
	Error         string             `json:"error,omitempty"`
	ActiveSegment *JSONActiveSegment `json:"active_segment,omitempty"`
}

// JSONSummary is the statistics block; --json-lines prints it last with Type "summary".
type JSONSummary struct {
	Type        string      `json:"type,omitempty"`
	Transmitted int         `json:"transmitted"`
	Received    int         `json:"received"`
	Duplicates  int         `json:"duplicates"`
	Errors      int         `json:"errors"`
	Late        int         `json:"late"`
	LossPercent float64     `json:"loss_percent"`
	TimeMS      int64       `json:"time_ms"`
	RTT         *JSONRTTSet `json:"rtt_ms,omitempty"`
}

// JSONRTTSet is min/avg/max/mdev in milliseconds.
type JSONRTTSet struct {
	Min  float64 `json:"min"`
	Avg  float64 `json:"avg"`
	Max  float64 `json:"max"`
	Mdev float64 `json:"mdev"`
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// NewJSONTarget describes target for the JSON document.
func NewJSONTarget(target oam.Target, enc probes.Encoding, src string) JSONTarget {
	segs := make([]string, 0, len(target.Segments))
	for _, s := range target.Segments {
		segs = append(segs, s.String())
	}
	return JSONTarget{Destination: target.Destination.String(), Segments: segs, Encoding: enc.String(), Decap: target.Decap, Source: src}
}

// NewJSONOptions describes the options (after defaults) of a run.
func NewJSONOptions(o Options) JSONOptions {
	o, _ = o.withDefaults()
	j := JSONOptions{
		Count: o.Count, IntervalMS: ms(o.Interval), TimeoutMS: ms(o.Timeout), PayloadSize: o.PayloadSize,
		HopLimit: o.HopLimit, FlowLabel: o.FlowLabel, OAM: o.OAM, Identifier: o.Identifier,
	}
	if o.HMAC != nil {
		j.HMACKeyID = o.HMAC.ID
	}
	return j
}

// NewJSONResult converts a Result.
func NewJSONResult(r oam.Result) JSONResult {
	j := JSONResult{Seq: r.Seq, Kind: r.Kind.String(), Duplicate: r.Duplicate, Late: r.Late, Error: r.Error,
		Sent: stamp(r.Sent)}
	if !r.Sent.IsZero() {
		j.SentClock = r.SentClock.String()
	}
	if r.Kind == oam.KindTimeout {
		return j
	}
	if r.From.IsValid() {
		j.From = r.From.String()
	}
	if r.Kind == oam.KindReply || r.From.IsValid() {
		j.Bytes = r.Bytes
		if r.HopLimit >= 0 {
			h := r.HopLimit
			j.HopLimit = &h
		}
		j.Received = stamp(r.Received)
		j.ReceivedClock = r.ReceivedClock.String()
		typ, code := r.ICMPType, r.ICMPCode
		j.ICMPType, j.ICMPCode = &typ, &code
	}
	if r.Kind == oam.KindReply {
		v := ms(r.RTT)
		j.RTTMS = &v
		if r.SendDelay > 0 {
			d := ms(r.SendDelay)
			j.SendDelayMS = &d
		}
	}
	if r.ActiveSegment >= 0 {
		j.ActiveSegment = &JSONActiveSegment{Index: r.ActiveSegment, SID: r.ActiveSID.String(), SegmentsLeft: r.SegmentsLeft}
	}
	return j
}

// NewJSONSummary converts a Summary.
func NewJSONSummary(s oam.Summary) JSONSummary {
	j := JSONSummary{Transmitted: s.Transmitted, Received: s.Received, Duplicates: s.Duplicates, Errors: s.Errors,
		Late: s.Late, LossPercent: s.Loss(), TimeMS: s.Elapsed.Milliseconds()}
	if s.Received > 0 {
		j.RTT = &JSONRTTSet{Min: ms(s.RTT.Min), Avg: ms(s.RTT.Avg), Max: ms(s.RTT.Max), Mdev: ms(s.RTT.Mdev)}
	}
	return j
}
