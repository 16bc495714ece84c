package output

import (
	"net/netip"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/stamp"
)

// JSON forms of --stamp (docs/json.md, docs/json/srv6-ping-stamp.schema.json).
type StampStats struct {
	Count  int     `json:"count"`
	MinMS  float64 `json:"min_ms"`
	AvgMS  float64 `json:"avg_ms"`
	MaxMS  float64 `json:"max_ms"`
	MdevMS float64 `json:"mdev_ms"`
}

func newStampStats(s oam.StatsSummary) *StampStats {
	if s.Count == 0 {
		return nil
	}
	return &StampStats{Count: int(s.Count), MinMS: ms(s.Min), AvgMS: ms(s.Avg), MaxMS: ms(s.Max), MdevMS: ms(s.Mdev)}
}

type StampResult struct {
	Type                  string      `json:"type,omitempty"`
	Seq                   uint32      `json:"seq"`
	Status                string      `json:"status"` // reply, lost, error
	Error                 string      `json:"error,omitempty"`
	RTTMS                 *float64    `json:"rtt_ms,omitempty"`
	ResidenceMS           *float64    `json:"residence_ms,omitempty"`
	OneWay                string      `json:"one_way,omitempty"`
	ForwardMS             *float64    `json:"forward_ms,omitempty"`
	BackwardMS            *float64    `json:"backward_ms,omitempty"`
	BoundMS               *float64    `json:"bound_ms,omitempty"`
	RawForwardMS          *float64    `json:"raw_forward_ms,omitempty"`
	RawBackwardMS         *float64    `json:"raw_backward_ms,omitempty"`
	SenderSynchronised    *bool       `json:"sender_synchronised,omitempty"`
	ReflectorSynchronised *bool       `json:"reflector_synchronised,omitempty"`
	HopLimitAtReflector   *int        `json:"hop_limit_at_reflector,omitempty"`
	HopLimit              *int        `json:"hop_limit,omitempty"`
	ReplyBytes            *int        `json:"reply_bytes,omitempty"`
	TAINs                 *StampTimes `json:"tai_ns,omitempty"`
	// IOAM (--ioam) is the trace the reply came back with: the test packet's, reflected, and
	// filled on the way back; IOAMError says why there is none.
	IOAM      *JSONIOAM `json:"ioam,omitempty"`
	IOAMError string    `json:"ioam_error,omitempty"`
	// TLVs (--stamp-tlv and the other TLV flags) is what the reply's TLVs said.
	TLVs *StampTLVs `json:"tlvs,omitempty"`
}

// StampTimes are the four STAMP timestamps, CLOCK_TAI nanoseconds.
type StampTimes struct {
	T1 int64 `json:"t1"` // sender transmit
	T2 int64 `json:"t2"` // reflector receive
	T3 int64 `json:"t3"` // reflector transmit
	T4 int64 `json:"t4"` // sender receive
}

func ptr[T any](v T) *T { return &v }

func NewStampResult(p stamp.Outcome, shared bool) StampResult {
	j := StampResult{Seq: p.Seq}
	switch {
	case p.Err != nil:
		j.Status, j.Error = "error", p.Err.Error()
		return j
	case p.Reply == nil:
		j.Status = "lost"
		return j
	}
	r := p.Reply
	j.Status = "reply"
	j.RTTMS, j.ResidenceMS = ptr(ms(r.RoundTrip())), ptr(ms(r.Residence()))
	j.OneWay = p.OneWayState().String()
	if p.OneWayState() == oam.DelayMeasured {
		j.ForwardMS, j.BackwardMS = ptr(ms(r.Forward())), ptr(ms(r.Backward()))
		j.BoundMS = ptr(ms(p.Forward.Bound))
	} else {
		j.RawForwardMS, j.RawBackwardMS = ptr(ms(r.Forward())), ptr(ms(r.Backward()))
	}
	j.SenderSynchronised, j.ReflectorSynchronised = ptr(r.SenderError.Synchronised()), ptr(r.ReflectorSynchronised)
	j.HopLimitAtReflector = ptr(int(r.HopLimitAtReflector))
	if r.HopLimitAtSender >= 0 {
		j.HopLimit = ptr(r.HopLimitAtSender)
	}
	j.ReplyBytes = ptr(r.ReplyBytes)
	j.TAINs = &StampTimes{r.T1, r.T2, r.T3, r.T4}
	return j
}

type StampSummary struct {
	Type           string      `json:"type,omitempty"`
	Transmitted    int         `json:"transmitted"`
	Received       int         `json:"received"`
	Errors         int         `json:"errors"`
	LossPercent    float64     `json:"loss_percent"`
	ElapsedMS      float64     `json:"elapsed_ms"`
	SharedClock    bool        `json:"shared_clock"`
	RTT            *StampStats `json:"rtt,omitempty"`
	Forward        *StampStats `json:"forward,omitempty"`
	Backward       *StampStats `json:"backward,omitempty"`
	Residence      *StampStats `json:"residence,omitempty"`
	MaxBoundMS     *float64    `json:"max_bound_ms,omitempty"`
	Unsynchronised int         `json:"unsynchronised"`
	Negative       int         `json:"negative"`
	// Asymmetric counts replies not as long as the test packets.
	Asymmetric int `json:"asymmetric"`
	// Directional is the loss per direction a stateful reflector's Direct Measurement counts
	// gave (--stamp-tlv direct), as of the last reply that carried them.
	Directional *StampDirectional `json:"loss_per_direction,omitempty"`
	// IntegrityFailures counts replies whose HMAC did not verify (--stamp-auth-key-file).
	IntegrityFailures int `json:"integrity_failures,omitempty"`
}

// StampDirectional is the loss per direction.
type StampDirectional struct {
	Forward  int `json:"forward"`
	Backward int `json:"backward"`
}

func NewStampSummary(s *stamp.Summary, shared bool) StampSummary {
	j := StampSummary{Transmitted: s.Transmitted, Received: s.Received, Errors: s.Errors, Asymmetric: s.Asymmetric,
		LossPercent: s.LossPercent(), ElapsedMS: ms(s.Elapsed), SharedClock: shared,
		RTT: newStampStats(s.RTT), Forward: newStampStats(s.Forward),
		Backward: newStampStats(s.Backward), Residence: newStampStats(s.Resid),
		Unsynchronised: s.Unsynchronised, Negative: s.Negative}
	j.IntegrityFailures = s.IntegrityFailures
	if s.Directional {
		j.Directional = &StampDirectional{Forward: s.ForwardLost, Backward: s.BackwardLost}
	}
	if s.Forward.Count > 0 {
		j.MaxBoundMS = ptr(0.0)
		if !shared {
			j.MaxBoundMS = ptr(ms(s.MaxBound))
		}
	}
	return j
}

// StampRun is what an envelope of mode "stamp" says about the run besides its target.
type StampRun struct {
	Reflector string `json:"reflector"`
}

// StampOptions echoes the options of a STAMP run.
type StampOptions struct {
	Count       int     `json:"count"`
	IntervalMS  float64 `json:"interval_ms"`
	TimeoutMS   float64 `json:"timeout_ms"`
	Size        int     `json:"size"`
	SharedClock bool    `json:"shared_clock"`
	// IOAM is the trace every test packet carried (--ioam).
	IOAM *JSONIOAMOptions `json:"ioam,omitempty"`
	// TLVs are the TLVs every test packet carried, by name.
	TLVs []string `json:"tlvs,omitempty"`
}

// NewStampDocument assembles the envelope of a finished STAMP run.
// With --ioam, io shows the traces (nil without).
func NewStampDocument(target oam.Target, o stamp.Options, src, reflector netip.AddrPort, results []StampResult, s *stamp.Summary, io *IOAMView) Envelope {
	if results == nil {
		results = []StampResult{}
	}
	opts := StampOptions{Count: o.Count, IntervalMS: ms(o.Interval), TimeoutMS: ms(o.Timeout), Size: o.Size, SharedClock: o.SharedClock,
		TLVs: stampTLVNames(&o.TLVs)}
	if io != nil {
		v := io.Options()
		opts.IOAM = &v
	}
	return Envelope{SchemaVersion: SchemaVersion, Command: "srv6-ping", Mode: "stamp",
		Target:  NewTarget(target, "insert", src.Addr()),
		Options: opts,
		STAMP:   &StampRun{Reflector: reflector.String()}, Results: results, Summary: NewStampSummary(s, o.SharedClock)}
}
