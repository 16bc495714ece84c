package stamp

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
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
	// IOAM, when set, is the empty IOAM Pre-allocated Trace (ioam.NewTrace) every test packet
	// carries in a Hop-by-Hop header (the sticky IPV6_HOPOPTS option: CAP_NET_RAW), for every
	// IOAM-enabled hop to fill. A reflector that reflects it (srv6-agent's with
	// reflect_ioam) returns it in its reply's Hop-by-Hop header, where the hops on the way
	// back go on filling it: Result.IOAM is then the whole trace, there and back.
	IOAM *ioam.Trace
	// SSID is the Session-Sender Identifier every test packet carries (RFC 8972; 0: none); a
	// reply must carry it back to match.
	SSID uint16
	// PTP sends the timestamps in PTPv2 format (Z=1, CLOCK_TAI) instead of NTP's (Z=0, UTC),
	// RFC 8762's default. Replies are read in whichever format the reflector chose.
	PTP bool
	// TLVs are the RFC 8972 / RFC 9503 TLVs every test packet carries, after the base packet;
	// room left up to Size goes to an Extra Padding TLV. Result.TLVs is what the reply's say.
	TLVs oam.STAMPTLVRequest
	// AuthKey, when set, runs the session in authenticated mode (RFC 8762 §4.4): 112-octet
	// packets with an HMAC under this key, replies whose HMAC does not verify ignored
	// (Client.IntegrityFailures counts them). Not with TLVs.
	AuthKey []byte
}

// Client sends STAMP test packets and receives the replies. It is not safe for concurrent use.
type Client struct {
	ssid uint16
	ptp  bool
	// key seals the test packets' HMAC TLV (at hmacOff in the TLV area, -1: none) and checks
	// the replies'; dmOff is the offset in out of the Direct Measurement TLV's S_TxC (0:
	// none), count the test packets sent.
	key     []byte
	hmacOff int
	dmOff   int
	count   uint32
	// auth is the authenticated mode's key (nil: unauthenticated); integrity counts replies
	// whose HMAC did not verify.
	auth      []byte
	integrity atomic.Int64
	// taiOffset is CLOCK_TAI less CLOCK_REALTIME in nanoseconds as Dial, then each Read, found
	// it (Run reads on a goroutine of its own while it sends).
	taiOffset atomic.Int64
	conn      *net.UDPConn
	clock     func() oam.ClockState
	out       []byte
	in        []byte
	oob       []byte
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
	// IOAM is the IOAM trace the reply came with (Config.IOAM, reflected), nil when none came;
	// IOAMErr says why one did not read.
	IOAM    *ioam.Record
	IOAMErr error
	// ReplyTClass is the traffic class the reply arrived with (DSCP << 2 | ECN; -1 unknown):
	// with a Class of Service TLV, the DSCP the reflector was asked for.
	ReplyTClass int
	// ReflectorSequence is the reply's own sequence number: the test packet's from a
	// stateless reflector, the session's count of replies (from 0) from a stateful one.
	ReflectorSequence uint32
	// TLVs is what the reply's TLVs say (Config.TLVs); PrevT3 is the Follow-Up Telemetry
	// TLV's transmit time of the reflector's previous reply, CLOCK_TAI nanoseconds (0: none).
	TLVs   oam.STAMPReplyTLVs
	PrevT3 int64
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
	if err := probes.EnableTClass(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("stamp: %w", err)
	}
	if len(cfg.Segments) > 0 {
		if err := probes.SetSRH(conn, cfg.Target.Addr(), cfg.Segments); err != nil {
			conn.Close()
			return nil, fmt.Errorf("stamp: %w", err)
		}
	}
	oob := probes.OOBSize
	if cfg.IOAM != nil {
		if err := setIOAM(conn, cfg.IOAM); err != nil {
			conn.Close()
			return nil, fmt.Errorf("stamp: %w", err)
		}
		oob = probes.OOBSizeHopByHop
	}
	if cfg.AuthKey != nil && !cfg.TLVs.Empty() {
		conn.Close()
		return nil, errors.New("stamp: TLVs in authenticated mode are not supported (srv6oam sends and reflects them in unauthenticated mode, with an HMAC TLV for their integrity)")
	}
	c := &Client{ssid: cfg.SSID, ptp: cfg.PTP, conn: conn, clock: cfg.Clock, in: make([]byte, 2048), oob: make([]byte, oob),
		key: cfg.TLVs.HMACKey, hmacOff: -1, auth: cfg.AuthKey}
	if c.auth != nil {
		c.out = make([]byte, max(cfg.Size, oam.STAMPAuthPacketSize)) // no TLVs in this mode
	} else {
		if c.out, err = testPacket(&cfg.TLVs, cfg.Size); err != nil {
			conn.Close()
			return nil, fmt.Errorf("stamp: %w", err)
		}
		c.hmacOff = oam.FindSTAMPHMAC(c.out)
	}
	oam.WalkSTAMPTLVs(c.out[oam.STAMPPacketSize:], func(off int, t oam.STAMPTLV) bool {
		if t.Type == oam.STAMPTLVDirectMeasurement {
			c.dmOff = oam.STAMPPacketSize + off + oam.STAMPTLVHeaderLen
		}
		return true
	})
	if c.clock == nil {
		c.clock = func() oam.ClockState { return oam.ClockState{EstErrorMicros: 16_000_000} }
	}
	off, err := probes.TAIOffset()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("stamp: %w", err)
	}
	c.taiOffset.Store(int64(off))
	return c, nil
}

// testPacket is the test packet's buffer: 44 octets of base packet (written per packet), the
// TLVs req asks for, and up to size (0: no more than needed) an Extra Padding TLV of
// pseudo-random octets (RFC 8972 §4.1 advises against zeros, which links may compress), or
// zeros where fewer than 4 octets are left.
func testPacket(req *oam.STAMPTLVRequest, size int) ([]byte, error) {
	b, err := req.AppendTLVs(make([]byte, oam.STAMPPacketSize), 0)
	if err != nil {
		return nil, err
	}
	switch pad := size - len(b); {
	case size > 0 && pad < 0:
		return nil, fmt.Errorf("size %d: the TLVs asked for need %d bytes of UDP payload", size, len(b))
	case pad >= oam.STAMPTLVHeaderLen:
		v := make([]byte, pad-oam.STAMPTLVHeaderLen)
		rand.Read(v) //nolint:errcheck // crypto/rand.Read never fails (Go ≥ 1.24)
		b = oam.AppendSTAMPTLV(b, 0, oam.STAMPTLVExtraPadding, v)
	case pad > 0:
		b = append(b, make([]byte, pad)...)
	}
	return b, nil
}

// IntegrityFailures is the number of replies whose HMAC did not verify (authenticated mode).
func (c *Client) IntegrityFailures() int { return int(c.integrity.Load()) }

// Size is the UDP payload of the client's test packets.
func (c *Client) Size() int { return len(c.out) }

// LocalAddr is the client's address and port.
func (c *Client) LocalAddr() netip.AddrPort { return c.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Close closes the socket.
func (c *Client) Close() error { return c.conn.Close() }

// ErrTimeout: no reply to the test packet before the deadline.
var ErrTimeout = errors.New("stamp: no reply before the deadline")

// Sent is a test packet on its way: what its reply is matched and measured against.
type Sent struct {
	Sequence uint32
	// T1 is the send time (CLOCK_TAI nanoseconds), Timestamp the same as the packet carries
	// it; Error is the error estimate the packet carried.
	T1        int64
	Timestamp oam.STAMPTimestamp
	Error     oam.STAMPErrorEstimate
	SSID      uint16
}

// Send sends test packet seq.
func (c *Client) Send(seq uint32) (Sent, error) {
	ee := c.clock().STAMPErrorEstimateIn(c.ptp)
	t1 := probes.TAINow()
	// An NTP timestamp is UTC: the TAI offset Read last took (it reads it for every reply).
	test := oam.STAMPTest{Sequence: seq, ErrorEstimate: ee, Timestamp: oam.STAMPTimestampAt(t1, c.ptp, time.Duration(c.taiOffset.Load())), SSID: c.ssid}
	var err error
	if c.auth != nil {
		_, err = test.MarshalAuthTo(c.out, c.auth)
	} else {
		_, err = test.MarshalTo(c.out)
	}
	if err != nil {
		return Sent{}, err
	}
	if c.dmOff > 0 {
		binary.BigEndian.PutUint32(c.out[c.dmOff:], c.count+1) // S_TxC: this one included
	}
	if c.hmacOff >= 0 {
		oam.SealSTAMPHMAC(c.key, c.out, c.hmacOff) // it covers the sequence number
	}
	if _, err := c.conn.Write(c.out); err != nil {
		return Sent{}, fmt.Errorf("stamp: send test packet %d: %w", seq, err)
	}
	c.count++
	return Sent{Sequence: seq, T1: t1, Timestamp: test.Timestamp, Error: ee, SSID: c.ssid}, nil
}

// Reply is one datagram the Client read: a STAMP reply and when and from where it came.
type Reply struct {
	oam.STAMPReply
	From netip.AddrPort
	// Bytes is the UDP payload size; RX the kernel's receive information (timestamp, hop
	// limit); TAIOffset the offset of CLOCK_TAI from CLOCK_REALTIME when it was read.
	Bytes     int
	RX        probes.RXInfo
	TAIOffset time.Duration
	// TLVs is what the reply's TLVs say, decoded (and its HMAC checked) as it was read.
	TLVs oam.STAMPReplyTLVs
}

// ErrNotReply: the datagram read was not a STAMP reply.
var ErrNotReply = errors.New("stamp: not a STAMP reply")

// Read reads one datagram until deadline (zero: none) into r. A datagram that is not a reply is
// ErrNotReply; an ICMPv6 error the kernel reported on the socket is its syscall.Errno (wrapped).
func (c *Client) Read(deadline time.Time, r *Reply) error {
	if err := c.conn.SetReadDeadline(deadline); err != nil {
		return fmt.Errorf("stamp: %w", err)
	}
	n, oobn, _, from, err := c.conn.ReadMsgUDPAddrPort(c.in, c.oob)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ErrTimeout
	}
	if err != nil {
		return fmt.Errorf("stamp: receive: %w", err)
	}
	r.RX = probes.RXInfo{}
	probes.ParseRXInfo(c.oob[:oobn], &r.RX)
	if r.TAIOffset, err = probes.TAIOffset(); err != nil {
		return fmt.Errorf("stamp: %w", err)
	}
	c.taiOffset.Store(int64(r.TAIOffset))
	if c.auth != nil {
		err = r.UnmarshalAuth(c.in[:n], c.auth)
		if errors.Is(err, oam.ErrSTAMPIntegrity) {
			c.integrity.Add(1)
		}
	} else {
		err = r.UnmarshalBinary(c.in[:n])
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotReply, err)
	}
	r.From, r.Bytes = from, n
	r.TLVs = oam.ParseSTAMPReplyTLVs(c.in[:n], c.key)
	return nil
}

// Matches reports whether r answers s.
func (r *Reply) Matches(s *Sent) bool {
	return r.SenderSequence == s.Sequence && r.SenderTimestamp == s.Timestamp && r.SSID == s.SSID
}

// Result is the round trip of s answered by r (r.Matches(s)).
func (r *Reply) Result(s *Sent) (Result, error) {
	if r.RX.RealtimeNs == 0 {
		return Result{}, errors.New("stamp: the kernel attached no receive timestamp (SO_TIMESTAMPNS)")
	}
	ptp := r.ErrorEstimate.PTP()
	// The trace is decoded now: RX.HopByHop aliases the client's buffer, which the next Read
	// overwrites.
	var rec *ioam.Record
	var recErr error
	if r.RX.HopByHop != nil {
		rec, recErr = probes.QuotedIOAM(r.RX.HopByHop)
	}
	tai := func(ts oam.STAMPTimestamp) int64 {
		if ptp {
			return ts.Nanos(true)
		}
		return ts.Nanos(false) + int64(r.TAIOffset) // NTP timestamps are UTC
	}
	var prevT3 int64
	if r.TLVs.FollowUpOK {
		prevT3 = tai(r.TLVs.FollowUpTx)
	}
	return Result{
		Sequence:               s.Sequence,
		T1:                     s.T1,
		T2:                     tai(r.ReceiveTimestamp),
		T3:                     tai(r.Timestamp),
		T4:                     r.RX.TAINs(r.TAIOffset),
		SenderError:            s.Error,
		ReflectorError:         r.ErrorEstimate,
		HopLimitAtReflector:    r.SenderTTL,
		HopLimitAtSender:       r.RX.HopLimit,
		ReplyBytes:             r.Bytes,
		ReflectorSynchronised:  r.ErrorEstimate.Synchronised(),
		Reflector:              r.From,
		ReflectorTimestampsPTP: ptp,
		IOAM:                   rec,
		IOAMErr:                recErr,
		PrevT3:                 prevT3,
		ReflectorSequence:      r.Sequence,
		ReplyTClass:            r.RX.TClass,
		TLVs:                   r.TLVs,
	}, nil
}

// setIOAM makes every test packet carry tr in a Hop-by-Hop header and asks for the Hop-by-Hop
// header of every reply.
func setIOAM(conn *net.UDPConn, tr *ioam.Trace) error {
	if len(tr.Data) == 0 {
		return errors.New("IOAM trace: no room pre-allocated")
	}
	hbh, err := ioam.AppendHopByHop(nil, 0, tr)
	if err != nil {
		return fmt.Errorf("IOAM trace: %w", err)
	}
	if err := probes.SetHopByHop(conn, hbh); err != nil {
		return fmt.Errorf("IOAM trace: %w (Linux asks for CAP_NET_RAW)", err)
	}
	return probes.EnableHopByHop(conn)
}

// Probe sends test packet seq and waits until deadline for its reply; replies to other
// sequence numbers (late ones) are skipped. A reflector that refuses the sender (allow-list,
// rate limit) sends nothing: Probe returns ErrTimeout. (Sender runs many test packets at once
// on a Loop; Probe is one, stop and wait.)
func (c *Client) Probe(seq uint32, deadline time.Time) (Result, error) {
	sent, err := c.Send(seq)
	if err != nil {
		return Result{}, err
	}
	var r Reply
	for {
		err := c.Read(deadline, &r)
		switch {
		case errors.Is(err, ErrTimeout):
			return Result{}, fmt.Errorf("%w (sequence %d)", ErrTimeout, seq)
		case errors.Is(err, ErrNotReply):
			continue
		case err != nil:
			return Result{}, err
		case r.Matches(&sent):
			return r.Result(&sent)
		}
	}
}
