package output

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/pathtrace"
)

// IOAMPing is what srv6-ping --ioam prints, as text or JSON: probes along the segment list and
// back to this host, each carrying an IOAM trace every IOAM-enabled hop fills.
type IOAMPing struct {
	IOAMView
	W       io.Writer
	Target  oam.Target
	Source  netip.Addr
	Timeout time.Duration
	Quiet   bool

	results []JSONIOAMPingResult
	rtt     oam.Stats
}

// Delays judges the delays between r's entries by the one-way rule.
func (p *IOAMPing) Delays(r *pathtrace.Result) []oam.OneWay {
	return r.IOAMDelays(p.Prober, p.Clock, p.Shared, p.TAIOffset)
}

// Header is the first line.
func (p *IOAMPing) Header() {
	via := ""
	if len(p.Target.Segments) > 0 {
		via = " via " + p.Target.Segments.String()
	}
	fmt.Fprintf(p.W, "SRV6-PING --ioam %s%s and back to %s: namespace %d, trace type %s, %d entries\n",
		p.Target.Destination, via, p.Source, p.Trace.Namespace, strings.Join(p.Trace.Type.Names(), ","), len(p.Trace.Data)/(4*int(p.Trace.NodeLen)))
}

// Result prints one probe and keeps it for the summary.
func (p *IOAMPing) Result(r *pathtrace.Result) {
	p.results = append(p.results, p.jsonResult(r))
	if !r.Lost {
		p.rtt.Add(r.RTT)
	}
	if p.Quiet {
		return
	}
	switch {
	case r.Lost:
		fmt.Fprintf(p.W, "seq=%d lost (not back within %s)\n", r.Seq, fmtDur(p.Timeout))
		return
	case r.Err != nil:
		fmt.Fprintf(p.W, "seq=%d back in %s, unreadable: %v\n", r.Seq, fmtMS(r.RTT), r.Err)
		return
	}
	var b strings.Builder
	p.writeEntries(&b, "", fmt.Sprintf("seq=%d back in %s, ", r.Seq, fmtMS(r.RTT)), "IOAM entries", r.IOAM, p.Delays(r))
	io.WriteString(p.W, b.String()) //nolint:errcheck // as the Fprintf above
}

// Summary prints the statistics.
func (p *IOAMPing) Summary(sum pathtrace.Summary) {
	fmt.Fprintf(p.W, "--- %s --ioam statistics ---\n", p.Target.Destination)
	loss := 0.0
	if sum.Sent > 0 {
		loss = 100 * float64(sum.Sent-sum.Received) / float64(sum.Sent)
	}
	fmt.Fprintf(p.W, "%d probes transmitted, %d back, %.0f%% packet loss\n", sum.Sent, sum.Received, loss)
	if s := p.rtt.Summary(); s.Count > 0 {
		fmt.Fprintf(p.W, "rtt min/avg/max/mdev = %s/%s/%s/%s ms\n", oam.FormatMillis(s.Min), oam.FormatMillis(s.Avg), oam.FormatMillis(s.Max), oam.FormatMillis(s.Mdev))
	}
	for _, r := range p.results {
		if r.IOAM == nil {
			continue
		}
		for _, e := range r.IOAM.Entries {
			if e.DelayState == oam.DelayClockUnknown.String() {
				fmt.Fprintln(p.W, "ioam: +clock? = the hops' clocks are of unknown quality: say how well they are synchronised with --ioam-clock-error, or --shared-clock in a lab of namespaces")
				return
			}
		}
	}
}

// JSONIOAMPingOptions are the options of srv6-ping --ioam --json.
type JSONIOAMPingOptions struct {
	Count       int      `json:"count"`
	IntervalMS  float64  `json:"interval_ms"`
	TimeoutMS   float64  `json:"timeout_ms"`
	Namespace   uint16   `json:"namespace"`
	TraceType   []string `json:"trace_type"`
	Nodes       int      `json:"nodes"`
	SharedClock bool     `json:"shared_clock"`
	// ClockErrorMS is --ioam-clock-error, absent when not given.
	ClockErrorMS *float64 `json:"clock_error_ms,omitempty"`
}

// JSONIOAMPingResult is one probe.
type JSONIOAMPingResult struct {
	Seq   uint16    `json:"seq"`
	Lost  bool      `json:"lost"`
	Error string    `json:"error,omitempty"`
	Sent  string    `json:"sent"`
	RTTMS *float64  `json:"rtt_ms,omitempty"`
	IOAM  *JSONIOAM `json:"ioam,omitempty"`
}

// JSONIOAMPingSummary counts the probes.
type JSONIOAMPingSummary struct {
	Transmitted int     `json:"transmitted"`
	Received    int     `json:"received"`
	LossPercent float64 `json:"loss_percent"`
}

func (p *IOAMPing) jsonResult(r *pathtrace.Result) JSONIOAMPingResult {
	j := JSONIOAMPingResult{Seq: r.Seq, Lost: r.Lost, Sent: r.Sent.UTC().Format(time.RFC3339Nano)}
	if r.Err != nil {
		j.Error = r.Err.Error()
	}
	if !r.Lost {
		v := ms(r.RTT)
		j.RTTMS = &v
	}
	if r.IOAM != nil {
		j.IOAM = newJSONIOAM(r.IOAM, 0, p.Delays(r), p.Names)
	}
	return j
}

// Document is the envelope of srv6-ping --ioam --json (mode "ioam").
func (p *IOAMPing) Document(opts JSONIOAMPingOptions, sum pathtrace.Summary) Envelope {
	results := p.results
	if results == nil {
		results = []JSONIOAMPingResult{}
	}
	s := JSONIOAMPingSummary{Transmitted: sum.Sent, Received: sum.Received}
	if sum.Sent > 0 {
		s.LossPercent = 100 * float64(sum.Sent-sum.Received) / float64(sum.Sent)
	}
	return Envelope{SchemaVersion: SchemaVersion, Command: "srv6-ping", Mode: "ioam",
		Target: NewTarget(p.Target, "insert", p.Source), Options: opts, Results: results, Summary: s}
}
