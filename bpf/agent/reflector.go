package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/probes"
)

// Defaults of the STAMP reflector.
const (
	DefaultReflectorListen = "[::]:862"
	DefaultReflectorRate   = 100
)

// maxReflectorSenders bounds the per-sender token buckets; the least recently used is evicted to
// make room for a new sender (rateTable), so a full table never silences one. A reply is never
// longer than its test packet: the reflector does not amplify.
const maxReflectorSenders = 4096

// maxReplySize caps a reply (and so the request size the reflector answers in kind).
const maxReplySize = 1232

// ReflectorConfig configures the STAMP Session-Reflector (RFC 8762, unauthenticated, stateless).
type ReflectorConfig struct {
	// Listen is the UDP address test packets arrive on (default [::]:862, STAMP's port).
	Listen string `yaml:"listen"`
	// Senders is the allow-list of Session-Senders (prefixes or addresses); empty: the agent's
	// collectors allow-list. Test packets from other addresses are counted and not answered.
	Senders []string `yaml:"senders"`
	// Rate is the sustained number of replies per second to any one sender; Burst the bucket
	// size (default: Rate).
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
	// ReflectIOAM returns the IOAM Pre-allocated Trace a test packet arrived with in the
	// reply's Hop-by-Hop header, where the hops on the way back go on filling it: the sender
	// gets the whole trace, there and back (srv6-ping --stamp --ioam). The reply's Hop-by-Hop
	// header is never longer than the test packet's. Linux asks for CAP_NET_RAW to send one.
	ReflectIOAM bool `yaml:"reflect_ioam"`
	// Timestamps is the format of the reply's timestamps: "ptp" (default: PTPv2 truncated,
	// CLOCK_TAI, Z=1) or "ntp" (NTP, UTC, Z=0, RFC 8762's default). Test packets are read in
	// either format: the reflector only copies their timestamp.
	Timestamps string `yaml:"timestamps"`
}

func (c *ReflectorConfig) validate() error {
	var errs []error
	if c.Listen != "" {
		if _, err := netip.ParseAddrPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("reflector.listen %q: %w", c.Listen, err))
		}
	}
	if _, err := parsePrefixes("reflector.senders", c.Senders); err != nil {
		errs = append(errs, err)
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("reflector.rate: %v: negative", c.Rate))
	}
	if c.Burst < 0 {
		errs = append(errs, fmt.Errorf("reflector.burst: %d: negative", c.Burst))
	}
	if c.Timestamps != "" && c.Timestamps != "ptp" && c.Timestamps != "ntp" {
		errs = append(errs, fmt.Errorf("reflector.timestamps: %q: want ptp or ntp", c.Timestamps))
	}
	return errors.Join(errs...)
}

func (c ReflectorConfig) withDefaults() ReflectorConfig {
	if c.Listen == "" {
		c.Listen = DefaultReflectorListen
	}
	if c.Rate == 0 {
		c.Rate = DefaultReflectorRate
	}
	if c.Burst == 0 {
		c.Burst = max(1, int(c.Rate))
	}
	return c
}

// ReflectorStats are the reflector's counters.
type ReflectorStats struct {
	Requests         atomic.Uint64 // datagrams received
	Replies          atomic.Uint64 // replies sent
	Malformed        atomic.Uint64 // datagrams that are not STAMP test packets
	RefusedAllowList atomic.Uint64 // test packets from senders off the allow-list
	RateLimited      atomic.Uint64 // test packets over a sender's token bucket
	SendErrors       atomic.Uint64 // replies the socket refused
	IOAMReflected    atomic.Uint64 // replies that carried the test packet's IOAM trace back
	// SendersTracked is the number of senders with a token bucket now (at most 4096).
	SendersTracked atomic.Int64
}

// Reflector answers STAMP test packets with kernel receive timestamps on CLOCK_TAI.
type Reflector struct {
	conn      *net.UDPConn
	allow     []netip.Prefix
	rate      float64 // tokens per second
	burst     float64
	stats     ReflectorStats
	readClock func() oam.ClockState
	ioam      bool // reflect IOAM traces
	ptp       bool // timestamps in PTP format (else NTP)
}

// NewReflector opens the reflector's socket. allow is the senders allow-list (an empty list
// refuses everyone).
func NewReflector(cfg ReflectorConfig, allow []netip.Prefix) (*Reflector, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ap, _ := netip.ParseAddrPort(cfg.Listen)
	conn, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, fmt.Errorf("reflector: listen %s: %w (ports below 1024 need CAP_NET_BIND_SERVICE)", cfg.Listen, err)
	}
	if err := probes.EnableRXInfo(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("reflector: %w", err)
	}
	if cfg.ReflectIOAM {
		if err := enableIOAM(conn); err != nil {
			conn.Close()
			return nil, fmt.Errorf("reflector.reflect_ioam: %w", err)
		}
	}
	return &Reflector{conn: conn, allow: allow, rate: cfg.Rate, burst: float64(cfg.Burst), readClock: probes.LocalClock,
		ioam: cfg.ReflectIOAM, ptp: cfg.Timestamps != "ntp"}, nil
}

// enableIOAM asks for the Hop-by-Hop header of every test packet and finds out now, not on the
// first reply, whether this process may send one: setting and clearing the sticky option asks
// for the capability a per-reply one does.
func enableIOAM(conn *net.UDPConn) error {
	if err := probes.EnableHopByHop(conn); err != nil {
		return err
	}
	pad := []byte{0, 0, 1, 4, 0, 0, 0, 0} // a Hop-by-Hop header of padding only
	if err := probes.SetHopByHop(conn, pad); err != nil {
		return fmt.Errorf("%w: sending a Hop-by-Hop header needs CAP_NET_RAW", err)
	}
	return probes.SetHopByHop(conn, nil)
}

// ioamHopByHop returns, in buf, a Hop-by-Hop header that carries the IOAM trace of hbh (a test
// packet's): no other option of it, and never longer than it. nil without a trace.
func ioamHopByHop(buf, hbh []byte) []byte {
	tr, ok, err := ioam.FindTrace(hbh)
	if err != nil || !ok {
		return nil
	}
	out, err := ioam.AppendHopByHop(buf[:0], 0, &tr)
	if err != nil || len(out) > len(hbh) {
		return nil
	}
	return out
}

// Addr is the address the reflector listens on.
func (r *Reflector) Addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Stats are the reflector's counters.
func (r *Reflector) Stats() *ReflectorStats { return &r.stats }

// Close closes the socket; Serve returns.
func (r *Reflector) Close() error { return r.conn.Close() }

func (r *Reflector) allowed(a netip.Addr) bool {
	for _, p := range r.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Serve answers test packets until ctx ends or the socket is closed. Stateless reflector
// (RFC 8762 §4.3): the reply's sequence number is the test packet's. The reply is exactly as
// long as the test packet (at least 44 bytes, at most 1232), never longer, and leaves from the
// address the test packet was sent to.
func (r *Reflector) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { r.conn.Close() })
	defer stop()
	in := make([]byte, maxReplySize+1)
	out := make([]byte, maxReplySize)
	oob := make([]byte, probes.OOBSizeHopByHop)
	outOOB := make([]byte, 0, probes.OOBSizeHopByHop)
	hbh := make([]byte, 0, 2048)
	senders := newRateTable(r.rate, r.burst, maxReflectorSenders)
	var test oam.STAMPTest
	var reply oam.STAMPReply
	var rx probes.RXInfo
	var clock oam.ClockState
	var clockReadNs int64 = -clockRefreshNs
	for {
		n, oobn, _, from, err := r.conn.ReadMsgUDPAddrPort(in, oob)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("reflector: receive: %w", err)
		}
		r.stats.Requests.Add(1)
		probes.ParseRXInfo(oob[:oobn], &rx)
		src := from.Addr().Unmap()
		if !r.allowed(src) {
			r.stats.RefusedAllowList.Add(1)
			continue
		}
		if n > maxReplySize || test.UnmarshalBinary(in[:n]) != nil || rx.RealtimeNs == 0 {
			r.stats.Malformed.Add(1)
			continue
		}
		nowNs := probes.TAINow()
		ok := senders.take(src, nowNs)
		r.stats.SendersTracked.Store(int64(senders.len()))
		if !ok {
			r.stats.RateLimited.Add(1)
			continue
		}
		if nowNs-clockReadNs >= clockRefreshNs {
			clock = r.readClock()
			clockReadNs = nowNs
		}
		offset, err := probes.TAIOffset()
		if err != nil {
			return fmt.Errorf("reflector: %w", err)
		}
		hop := uint8(0)
		if rx.HopLimit >= 0 {
			hop = uint8(rx.HopLimit)
		}
		reply = oam.STAMPReply{
			Sequence:            test.Sequence,
			ErrorEstimate:       clock.STAMPErrorEstimateIn(r.ptp),
			ReceiveTimestamp:    oam.STAMPTimestampAt(rx.TAINs(offset), r.ptp, offset),
			SenderSequence:      test.Sequence,
			SenderTimestamp:     test.Timestamp,
			SenderErrorEstimate: test.ErrorEstimate,
			SenderTTL:           hop,
			SSID:                test.SSID, // RFC 8972: copied back, the sender matches on it
		}
		clear(out[oam.STAMPPacketSize:n])
		outOOB = outOOB[:0]
		if rx.Dst.IsValid() {
			outOOB = probes.AppendPktinfo(outOOB, rx.Dst, 0)
		}
		reflected := false
		if r.ioam && rx.HopByHop != nil {
			if h := ioamHopByHop(hbh, rx.HopByHop); h != nil {
				outOOB, reflected = probes.AppendHopOpts(outOOB, h), true
			}
		}
		// The transmit timestamp is the last thing written before the send system call.
		reply.Timestamp = oam.STAMPTimestampAt(probes.TAINow(), r.ptp, offset)
		reply.MarshalTo(out) //nolint:errcheck // out is maxReplySize ≥ 44 bytes
		if _, _, err := r.conn.WriteMsgUDPAddrPort(out[:n], outOOB, from); err != nil {
			r.stats.SendErrors.Add(1)
			continue
		}
		r.stats.Replies.Add(1)
		if reflected {
			r.stats.IOAMReflected.Add(1)
		}
	}
}
