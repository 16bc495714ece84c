package stamp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
)

// Config describes a Session-Sender.
type Config struct {
	// Target is the reflector, e.g. [fc00:0:4::100]:862. The path to it is the routing
	// table's: an SRv6 policy (H.Encaps) toward Target steers the test packets through SRv6,
	// and the reflector sees them after decapsulation.
	Target netip.AddrPort
	// Segments, when set, is an explicit SRv6 path: the SIDs to visit, in order, before
	// Target's address, which becomes the SRH's final segment. The SRH is attached with the
	// sticky IPV6_RTHDR socket option (no CAP_NET_RAW); the final node must accept SRv6
	// (net.ipv6.conf.{all,IFACE}.seg6_enabled=1), and the reflector sees the UDP packet there.
	Segments []netip.Addr
	// Source is the local address (unspecified: chosen by the kernel).
	Source netip.Addr
	// Size pads test packets to this many bytes of UDP payload (0 or less than 44: 44). The
	// reflector answers with a reply of the same size.
	Size int
	// Clock is the state put in the test packets' error estimate (S bit, bound); nil sends
	// "unsynchronised, 16 s".
	Clock func() oam.ClockState
}

// Client sends STAMP test packets and receives the replies. It is not safe for concurrent use.
type Client struct {
	conn  *net.UDPConn
	clock func() oam.ClockState
	out   []byte
	in    []byte
	oob   []byte
}

// Result is one round trip. The four timestamps are CLOCK_TAI nanoseconds:
// T1 sender transmit, T2 reflector receive, T3 reflector transmit, T4 sender receive.
type Result struct {
	Sequence               uint32
	T1, T2, T3, T4         int64
	SenderError            oam.STAMPErrorEstimate // the estimate this client sent
	ReflectorError         oam.STAMPErrorEstimate
	HopLimitAtReflector    uint8 // the test packet's hop limit when it reached the reflector
	HopLimitAtSender       int   // the reply's hop limit here (-1 when unknown)
	ReplyBytes             int   // UDP payload size of the reply
	ReflectorSynchronised  bool
	Reflector              netip.AddrPort
	ReflectorTimestampsPTP bool // false when the reflector sent NTP timestamps (converted to TAI)
}

// RoundTrip is the delay of the path there and back: (T4 − T1) − (T3 − T2).
func (r *Result) RoundTrip() time.Duration { return time.Duration((r.T4 - r.T1) - (r.T3 - r.T2)) }

// Forward is the one-way delay sender → reflector, T2 − T1; Backward reflector → sender, T4 − T3.
// Both need the two clocks synchronised (ErrorBound says how far to trust them).
func (r *Result) Forward() time.Duration  { return time.Duration(r.T2 - r.T1) }
func (r *Result) Backward() time.Duration { return time.Duration(r.T4 - r.T3) }

// Residence is the time the test packet spent in the reflector, T3 − T2.
func (r *Result) Residence() time.Duration { return time.Duration(r.T3 - r.T2) }

// ErrorBound is the sum of both ends' error estimates: the bound on a one-way delay.
func (r *Result) ErrorBound() time.Duration { return r.SenderError.Bound() + r.ReflectorError.Bound() }

// Dial opens a Session-Sender socket toward cfg.Target.
func Dial(cfg Config) (*Client, error) {
	if !cfg.Target.IsValid() || cfg.Target.Port() == 0 {
		return nil, fmt.Errorf("stamp: target %v: want address and port", cfg.Target)
	}
	var laddr *net.UDPAddr
	if cfg.Source.IsValid() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(cfg.Source, 0))
	}
	conn, err := net.DialUDP("udp6", laddr, net.UDPAddrFromAddrPort(cfg.Target))
	if err != nil {
		return nil, fmt.Errorf("stamp: dial %v: %w", cfg.Target, err)
	}
	if err := probes.EnableRXInfo(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("stamp: %w", err)
	}
	if len(cfg.Segments) > 0 {
		if err := setSRH(conn, cfg.Target.Addr(), cfg.Segments); err != nil {
			conn.Close()
			return nil, fmt.Errorf("stamp: %w", err)
		}
	}
	size := max(cfg.Size, oam.STAMPPacketSize)
	c := &Client{conn: conn, clock: cfg.Clock, out: make([]byte, size), in: make([]byte, 2048), oob: make([]byte, probes.OOBSize)}
	if c.clock == nil {
		c.clock = func() oam.ClockState { return oam.ClockState{EstErrorMicros: 16_000_000} }
	}
	return c, nil
}

// LocalAddr is the client's address and port.
func (c *Client) LocalAddr() netip.AddrPort { return c.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Close closes the socket.
func (c *Client) Close() error { return c.conn.Close() }

// ErrTimeout: no reply to the test packet before the deadline.
var ErrTimeout = errors.New("stamp: no reply before the deadline")

// Probe sends test packet seq and waits until deadline for its reply; replies to other
// sequence numbers (late ones) are skipped. A reflector that refuses the sender (allow-list,
// rate limit) sends nothing: Probe returns ErrTimeout.
func (c *Client) Probe(seq uint32, deadline time.Time) (Result, error) {
	ee := c.clock().STAMPErrorEstimate()
	test := oam.STAMPTest{Sequence: seq, ErrorEstimate: ee}
	t1 := probes.TAINow()
	test.Timestamp = oam.PTPTimestamp(t1)
	if _, err := test.MarshalTo(c.out); err != nil {
		return Result{}, err
	}
	if _, err := c.conn.Write(c.out); err != nil {
		return Result{}, fmt.Errorf("stamp: send test packet %d: %w", seq, err)
	}
	if err := c.conn.SetReadDeadline(deadline); err != nil {
		return Result{}, fmt.Errorf("stamp: %w", err)
	}
	var reply oam.STAMPReply
	var rx probes.RXInfo
	for {
		n, oobn, _, from, err := c.conn.ReadMsgUDPAddrPort(c.in, c.oob)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return Result{}, fmt.Errorf("%w (sequence %d)", ErrTimeout, seq)
		}
		if err != nil {
			return Result{}, fmt.Errorf("stamp: receive: %w", err)
		}
		probes.ParseRXInfo(c.oob[:oobn], &rx)
		offset, err := probes.TAIOffset()
		if err != nil {
			return Result{}, fmt.Errorf("stamp: %w", err)
		}
		if reply.UnmarshalBinary(c.in[:n]) != nil || reply.SenderSequence != seq || reply.SenderTimestamp != test.Timestamp {
			continue // not the reply to this packet
		}
		if rx.RealtimeNs == 0 {
			return Result{}, errors.New("stamp: the kernel attached no receive timestamp (SO_TIMESTAMPNS)")
		}
		ptp := reply.ErrorEstimate.PTP()
		tai := func(ts oam.STAMPTimestamp) int64 {
			if ptp {
				return ts.Nanos(true)
			}
			return ts.Nanos(false) + int64(offset) // NTP timestamps are UTC
		}
		return Result{
			Sequence:               seq,
			T1:                     t1,
			T2:                     tai(reply.ReceiveTimestamp),
			T3:                     tai(reply.Timestamp),
			T4:                     rx.TAINs(offset),
			SenderError:            ee,
			ReflectorError:         reply.ErrorEstimate,
			HopLimitAtReflector:    reply.SenderTTL,
			HopLimitAtSender:       rx.HopLimit,
			ReplyBytes:             n,
			ReflectorSynchronised:  reply.ErrorEstimate.Synchronised(),
			Reflector:              from,
			ReflectorTimestampsPTP: ptp,
		}, nil
	}
}
