package output

import (
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/ping"
)

// The JSON forms of an echo run (srv6-ping without --timestamps or --stamp), inside the
// Envelope; docs/json.md documents them (schema: docs/json/srv6-ping.schema.json). Field names
// are snake_case; times are RFC 3339 with nanoseconds, durations are milliseconds as numbers.

// PingOptions echoes the options that shape the figures.
type PingOptions struct {
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

// JSONActiveSegment is the segment the probe an ICMPv6 error quoted was heading for (oam.Locate).
type JSONActiveSegment struct {
	Index int    `json:"index"`
	SID   string `json:"sid"`
	// SegmentsLeft as quoted; -1 when the quote had no SRH (a reduced encapsulation of one
	// segment, a container, a popped SRH).
	SegmentsLeft int `json:"segments_left"`
	// CSID is the C-SID of a container being processed.
	CSID *JSONCSID `json:"csid,omitempty"`
	// SIDStructure read the container ("32/16"); Inferred: none was given and this one
	// explained the quoted destination.
	SIDStructure string `json:"sid_structure,omitempty"`
	Inferred     bool   `json:"sid_structure_inferred,omitempty"`
}

// JSONCSID is one C-SID of a container.
type JSONCSID struct {
	Index   int    `json:"index"`
	Value   string `json:"value"`   // hex, as written: "0300"
	Address string `json:"address"` // the C-SID on its own: block, C-SID, zeros
}

// NewJSONActiveSegment converts a located quote; nil when it was not found.
func NewJSONActiveSegment(at *oam.Position) *JSONActiveSegment {
	if !at.Known() {
		return nil
	}
	j := &JSONActiveSegment{Index: at.Index, SID: at.SID.String(), SegmentsLeft: at.SegmentsLeft}
	if at.CSID >= 0 {
		s := at.Structure
		j.CSID = &JSONCSID{Index: at.CSID, Value: s.FormatCSID(at.CSIDValue), Address: s.CSIDAddr(s.Block(at.SID), at.CSIDValue).String()}
		j.SIDStructure, j.Inferred = s.String(), at.Inferred
	}
	return j
}

// PingResult is one Result; --json-lines prints it with Type "result".
type PingResult struct {
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
	// QuotedDst is the destination address of the probe an error quoted; SRHPopped says the
	// probe left with an SRH that the quote no longer has (PSP on the way).
	QuotedDst string `json:"quoted_destination,omitempty"`
	SRHPopped bool   `json:"srh_popped,omitempty"`
	// Decapsulated: the error is about the probe's inner packet: the last segment (the active
	// one) decapsulated it.
	Decapsulated bool `json:"decapsulated,omitempty"`
	// Quote is the packet the error quoted, decoded (-v).
	Quote *JSONQuote `json:"quote,omitempty"`
}

// PingSummary is the statistics block; --json-lines prints it last with Type "summary".
type PingSummary struct {
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

func ms(d time.Duration) float64 { return oam.Millis(d) }

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// NewPingOptions describes the options (after defaults) of a run.
func NewPingOptions(o ping.Options) PingOptions {
	j := PingOptions{
		Count: o.Count, IntervalMS: ms(o.Interval), TimeoutMS: ms(o.Timeout), PayloadSize: o.PayloadSize,
		HopLimit: o.HopLimit, FlowLabel: o.FlowLabel, OAM: o.OAM, Identifier: o.Identifier,
	}
	if o.HMAC != nil {
		j.HMACKeyID = o.HMAC.ID
	}
	return j
}

// NewPingResult converts a Result.
func NewPingResult(r oam.Result) PingResult {
	j := PingResult{Seq: r.Seq, Kind: r.Kind.String(), Duplicate: r.Duplicate, Late: r.Late, Error: r.Error,
		Sent: rfc3339(r.Sent)}
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
		j.Received = rfc3339(r.Received)
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
	j.ActiveSegment = NewJSONActiveSegment(&r.At)
	if r.At.Dst.IsValid() {
		j.QuotedDst, j.SRHPopped, j.Decapsulated = r.At.Dst.String(), r.At.Popped, r.At.Decapsulated
	}
	if r.Quote != nil {
		j.Quote = DecodeQuote(r.Quote)
	}
	return j
}

// NewPingSummary converts a Summary.
func NewPingSummary(s oam.Summary) PingSummary {
	j := PingSummary{Transmitted: s.Transmitted, Received: s.Received, Duplicates: s.Duplicates, Errors: s.Errors,
		Late: s.Late, LossPercent: s.Loss(), TimeMS: s.Elapsed.Milliseconds()}
	if s.Received > 0 {
		j.RTT = &JSONRTTSet{Min: ms(s.RTT.Min), Avg: ms(s.RTT.Avg), Max: ms(s.RTT.Max), Mdev: ms(s.RTT.Mdev)}
	}
	return j
}
