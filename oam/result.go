package oam

import (
	"net/netip"
	"time"
)

// ResultKind says what became of one probe.
type ResultKind uint8

const (
	// KindReply: the expected answer came back (an Echo Reply for ping).
	KindReply ResultKind = iota + 1
	// KindError: an ICMPv6 error about the probe came back from a node on the way.
	KindError
	// KindTimeout: nothing came back within the timeout.
	KindTimeout
)

func (k ResultKind) String() string {
	switch k {
	case KindReply:
		return "reply"
	case KindError:
		return "error"
	case KindTimeout:
		return "timeout"
	}
	return "unknown"
}

// TimestampSource says where a time in a Result came from, so that a reader knows how much of
// the figure is the host's own scheduling.
type TimestampSource uint8

const (
	// ClockUser: read by the prober in user space (send: just before sendmsg).
	ClockUser TimestampSource = iota + 1
	// ClockKernel: taken by the kernel (SO_TIMESTAMPING software TX timestamp when the packet
	// reached the device, SO_TIMESTAMPNS when a reply was received).
	ClockKernel
)

func (s TimestampSource) String() string {
	switch s {
	case ClockUser:
		return "user"
	case ClockKernel:
		return "kernel"
	}
	return "unknown"
}

// Result is what one probe produced: a reply, an error from a node on the way, or a timeout.
// A duplicate reply produces a second Result with Duplicate set.
type Result struct {
	Seq  int
	Kind ResultKind
	// From is the source of the reply or error; invalid for a timeout.
	From netip.Addr
	// Bytes is the size of the ICMPv6 message received (header included), as ping prints it.
	Bytes int
	// HopLimit of the received packet; -1 when unknown.
	HopLimit int
	// Sent and Received are wall-clock (CLOCK_REALTIME) times; Received is zero for a timeout.
	Sent, Received           time.Time
	SentClock, ReceivedClock TimestampSource
	RTT                      time.Duration
	// SendDelay is how long the host took from the user-space clock read before sendmsg to the
	// kernel's TX timestamp (0 without one): the part of an iputils-style RTT that is this
	// host's own send path.
	SendDelay time.Duration
	Duplicate bool
	// Late is set for a reply that came after the probe had been declared lost.
	Late bool
	// ICMPType and ICMPCode of the message received (0 for a timeout).
	ICMPType, ICMPCode uint8
	// Error describes an ICMPv6 error the way iputils prints it ("Destination unreachable: No
	// route"); empty for replies and timeouts.
	Error string
	// At is where along the path the quoted probe was when the error was raised (oam.Locate):
	// the active segment (At.Index, -1 when the quote does not say), the C-SID of a container,
	// the quoted destination and Segments Left, whether an SRH was popped on the way. Zero but
	// for At.Index = -1 for replies and timeouts.
	At Position
	// Quote is the packet an error quoted, from its outer IPv6 header (as much as the error
	// held), when the run asked to keep quotes; nil otherwise.
	Quote []byte
}

// NoPosition is the At of a result without a quote.
var NoPosition = Position{Index: -1, CSID: -1, SegmentsLeft: -1}

// Summary is the statistics line of a run, as ping prints it at the end.
type Summary struct {
	Transmitted int
	// Received counts probes answered in time (duplicates and late replies not included).
	Received   int
	Duplicates int
	// Errors counts probes answered by an ICMPv6 error instead of a reply (or that failed to send).
	Errors int
	// Late counts replies that came after their probe had been declared lost.
	Late int
	// RTT statistics over the Received probes; zero when none.
	RTT StatsSummary
	// Start is when the first probe was sent, Elapsed the time from then to the end of the run.
	Start   time.Time
	Elapsed time.Duration

	rtt Stats
}

// Add accounts one Result. Timeouts change nothing here: a probe transmitted and never answered
// is what "packet loss" counts.
func (s *Summary) Add(r Result) {
	switch {
	case r.Kind == KindReply && r.Duplicate:
		s.Duplicates++
	case r.Kind == KindReply && r.Late:
		s.Late++
	case r.Kind == KindReply:
		s.Received++
		s.rtt.Add(r.RTT)
		s.RTT = s.rtt.Summary()
	case r.Kind == KindError:
		s.Errors++
	}
}

// Loss is the packet loss in percent, as ping computes it: transmitted minus received.
func (s *Summary) Loss() float64 {
	if s.Transmitted == 0 {
		return 0
	}
	return float64(s.Transmitted-s.Received) * 100 / float64(s.Transmitted)
}
