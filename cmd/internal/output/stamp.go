package output

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"syscall"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/stamp"
)

// FormatStampOutcome is one probe as a line:
//
//	seq=3 rtt=0.041 ms  fwd 0.020  back 0.015  reflector 0.006 ms (one-way, ±0.002)
func FormatStampOutcome(p stamp.Outcome, target oam.Target, o stamp.Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "seq=%d", p.Seq)
	switch {
	case p.Err != nil:
		fmt.Fprintf(&b, " error: %v", p.Err)
		if errors.Is(p.Err, syscall.ECONNREFUSED) {
			fmt.Fprintf(&b, " (port unreachable: is srv6-agent's reflector listening on port %d of %s?)", o.Port, target.Destination)
		}
	case p.Reply == nil:
		fmt.Fprintf(&b, " lost (no reply within %v)", o.Timeout)
	default:
		r := p.Reply
		fmt.Fprintf(&b, " rtt=%.3f ms", ms(r.RoundTrip()))
		switch p.OneWayState() {
		case oam.DelayMeasured:
			fmt.Fprintf(&b, "  fwd %.3f  back %.3f  reflector %.3f ms", ms(r.Forward()), ms(r.Backward()), ms(r.Residence()))
			if o.SharedClock {
				b.WriteString(" (one-way, shared clock)")
			} else {
				fmt.Fprintf(&b, " (one-way, ±%.3f)", ms(p.Forward.Bound))
			}
		case oam.DelayUnsynchronised:
			fmt.Fprintf(&b, "  fwd unsync  back unsync  reflector %.3f ms (unsync = %s: no one-way delay printed)",
				ms(r.Residence()), unsyncWho(r))
		default:
			fmt.Fprintf(&b, "  fwd neg!  back neg!  reflector %.3f ms (neg! = the two clocks disagree: no one-way delay printed)", ms(r.Residence()))
		}
		if r.ReplyBytes != o.Size {
			fmt.Fprintf(&b, "  [reply %d bytes, test packet %d]", r.ReplyBytes, o.Size)
		}
	}
	return b.String()
}

func unsyncWho(r *stamp.Result) string {
	switch {
	case !r.SenderError.Synchronised() && !r.ReflectorSynchronised:
		return "neither clock is synchronised"
	case !r.SenderError.Synchronised():
		return "this host's clock is not synchronised"
	}
	return "the reflector's clock is not synchronised"
}

// FormatStampSummary writes the statistics block.
func FormatStampSummary(w io.Writer, s *stamp.Summary, o stamp.Options, reflector netip.AddrPort) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n--- %v STAMP statistics ---\n", reflector)
	fmt.Fprintf(&b, "%d probes transmitted, %d received", s.Transmitted, s.Received)
	if s.Errors > 0 {
		fmt.Fprintf(&b, ", +%d errors", s.Errors)
	}
	fmt.Fprintf(&b, ", %.1f%% loss, time %dms\n", s.LossPercent(), s.Elapsed.Milliseconds())
	line := func(name string, st oam.StatsSummary, note string) {
		fmt.Fprintf(&b, "%s min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms%s\n", name, ms(st.Min), ms(st.Avg), ms(st.Max), ms(st.Mdev), note)
	}
	if s.RTT.Count > 0 {
		line("rtt", s.RTT, "")
	}
	if s.Forward.Count > 0 {
		note := fmt.Sprintf(" (one-way, ±%.3f)", ms(s.MaxBound))
		if o.SharedClock {
			note = " (one-way, shared clock)"
		}
		line("fwd", s.Forward, note)
		line("back", s.Backward, note)
	}
	if s.Resid.Count > 0 {
		line("reflector", s.Resid, " (residence)")
	}
	if s.Unsynchronised > 0 {
		fmt.Fprintf(&b, "%d of %d replies without one-way delays: a clock is not synchronised (adjtimex); run chrony or PTP on both ends, or, if both are on this host (a lab of namespaces), use --shared-clock\n", s.Unsynchronised, s.Received)
	}
	if s.Negative > 0 {
		fmt.Fprintf(&b, "%d of %d replies without one-way delays: a negative one-way delay (the two clocks disagree by more than the delay)\n", s.Negative, s.Received)
	}
	if s.IntegrityFailures > 0 {
		fmt.Fprintf(&b, "%d replies whose HMAC did not verify (authenticated mode: another key, or changed on the way), counted as lost\n", s.IntegrityFailures)
	}
	if s.Directional {
		fmt.Fprintf(&b, "loss per direction (Direct Measurement): forward %d, backward %d\n", s.ForwardLost, s.BackwardLost)
	}
	if s.Asymmetric > 0 {
		fmt.Fprintf(&b, "%d of %d replies not as long as the test packets (%d bytes): the reflector pads or truncates its replies; the backward delay is that of another size\n", s.Asymmetric, s.Received, o.Size)
	}
	_, _ = io.WriteString(w, b.String())
}
