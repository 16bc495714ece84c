package output

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
)

// PingPrinter writes a run the way iputils ping does, line for line: a header, one line per reply
// or error, and the statistics. It is not safe for concurrent use (Probe calls emit from one
// goroutine).
type PingPrinter struct {
	W      io.Writer
	Target oam.Target
	// Quiet prints only the header and the statistics (ping -q).
	Quiet bool
	// Timestamps prefixes each line with the receive time as [seconds.micros] (ping -D).
	Timestamps bool
	// Verbose prints under each error the packet it quoted, decoded (-v).
	Verbose bool
}

// Header prints "SRV6-PING fc00:4::1 via fc00:1::e → fc00:2::e: 56 data bytes". Without
// segments it is "PING fc00:4::1: 56 data bytes", the line a plain ping prints.
func (p *PingPrinter) Header(payload int) {
	name := "SRV6-PING"
	if len(p.Target.Segments) == 0 {
		name = "PING"
	}
	fmt.Fprintf(p.W, "%s %s: %d data bytes\n", name, BeforeColon(p.Target.String()), payload)
}

// Result prints one result; timeouts print nothing, as in iputils.
func (p *PingPrinter) Result(r oam.Result) {
	if p.Quiet || r.Kind == oam.KindTimeout {
		return
	}
	var b []byte
	if p.Timestamps {
		t := r.Received
		if t.IsZero() {
			t = time.Now()
		}
		b = fmt.Appendf(b, "[%d.%06d] ", t.Unix(), t.Nanosecond()/1000)
	}
	switch r.Kind {
	case oam.KindReply:
		b = fmt.Appendf(b, "%d bytes from %s: icmp_seq=%d", r.Bytes, r.From, r.Seq)
		if r.HopLimit >= 0 {
			b = fmt.Appendf(b, " hlim=%d", r.HopLimit)
		}
		b = append(b, " time="...)
		b = AppendRTT(b, r.RTT)
		b = append(b, " ms"...)
		if r.Duplicate {
			b = append(b, " (DUP!)"...)
		}
		if r.Late {
			b = append(b, " (late)"...)
		}
	case oam.KindError:
		if r.From.IsValid() {
			b = fmt.Appendf(b, "From %s icmp_seq=%d %s", r.From, r.Seq, r.Error)
		} else {
			b = fmt.Appendf(b, "icmp_seq=%d send failed: %s", r.Seq, r.Error)
		}
		b = AppendPosition(b, &r.At, len(p.Target.Path()))
		if r.ICMPType == probes.ICMPv6ParamProblem && r.ICMPCode == 1 && r.At.Popped && p.Target.Destination == r.At.Dst {
			b = append(b, "; the destination got the probe as bare IPv6-in-IPv6 (the SRH popped, PSP) and does not decapsulate that: use --insert, or end the list at a decapsulating SID with --decap"...)
		}
	}
	b = append(b, '\n')
	if p.Verbose && r.Quote != nil {
		b = fmt.Appendf(b, "  quoted (%d bytes):\n", len(r.Quote))
		for _, l := range QuoteLines(DecodeQuote(r.Quote), "    ") {
			b = append(append(b, l...), '\n')
		}
	}
	_, _ = p.W.Write(b)
}

// Summary prints the statistics block:
//
//	--- fc00:4::1 srv6-ping statistics ---
//	5 packets transmitted, 5 received, 0% packet loss, time 4005ms
//	rtt min/avg/max/mdev = 0.071/0.080/0.091/0.007 ms
func (p *PingPrinter) Summary(s oam.Summary) {
	name := "srv6-ping"
	if len(p.Target.Segments) == 0 {
		name = "ping"
	}
	b := fmt.Appendf(nil, "\n--- %s %s statistics ---\n", p.Target.Destination, name)
	b = fmt.Appendf(b, "%d packets transmitted, %d received", s.Transmitted, s.Received)
	if s.Duplicates > 0 {
		b = fmt.Appendf(b, ", +%d duplicates", s.Duplicates)
	}
	if s.Errors > 0 {
		b = fmt.Appendf(b, ", +%d errors", s.Errors)
	}
	if s.Late > 0 {
		b = fmt.Appendf(b, ", +%d late", s.Late)
	}
	b = append(b, ", "...)
	b = strconv.AppendFloat(b, s.Loss(), 'g', 6, 64)
	b = fmt.Appendf(b, "%% packet loss, time %dms\n", s.Elapsed.Milliseconds())
	if s.Received > 0 {
		b = append(b, "rtt min/avg/max/mdev = "...)
		for i, d := range []time.Duration{s.RTT.Min, s.RTT.Avg, s.RTT.Max, s.RTT.Mdev} {
			if i > 0 {
				b = append(b, '/')
			}
			us := d.Microseconds()
			b = fmt.Appendf(b, "%d.%03d", us/1000, us%1000)
		}
		b = append(b, " ms\n"...)
	}
	_, _ = p.W.Write(b)
}

// AppendRTT formats a round-trip time in milliseconds with the precision iputils uses: three
// decimals below 1 ms, two below 10 ms, one below 100 ms, none above.
func AppendRTT(b []byte, d time.Duration) []byte {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	switch {
	case us >= 100000-50:
		return fmt.Appendf(b, "%d", (us+500)/1000)
	case us >= 10000-5:
		return fmt.Appendf(b, "%d.%01d", (us+50)/1000, ((us+50)%1000)/100)
	case us >= 1000:
		return fmt.Appendf(b, "%d.%02d", (us+5)/1000, ((us+5)%1000)/10)
	}
	return fmt.Appendf(b, "%d.%03d", us/1000, us%1000)
}

// BeforeColon makes text safe to follow with a colon: an IPv6 address that ends it with "::"
// (fcbb:0:400:300:200:d46::) is written in brackets, [fcbb:0:400:300:200:d46::]:, so that the
// colon is not read as part of it.
func BeforeColon(text string) string {
	if !strings.HasSuffix(text, "::") {
		return text
	}
	i := strings.LastIndexAny(text, " (") + 1
	return text[:i] + "[" + text[i:] + "]"
}
