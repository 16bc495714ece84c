package agent

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
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
	// Mode is "stateless" (default: a reply's sequence number is its test packet's) or
	// "stateful" (RFC 8762 §4.3: per session, the reflector numbers its replies and counts
	// what it received and sent, which the Direct Measurement TLV returns: loss per
	// direction). A session is the sender's address and port, this address and the SSID.
	Mode string `yaml:"mode"`
	// HMACKeyFile holds the key (its bytes as they are, at least 16) that verifies the HMAC
	// TLV of test packets and seals that of replies (RFC 8972 §4.8). Without it an HMAC TLV
	// comes back flagged U (not recognised).
	HMACKeyFile string `yaml:"hmac_key_file"`
	// DSCP is the list of DSCP values a Class of Service TLV may ask for the reply (empty:
	// any); another comes back with RP set and the reply keeps the test packet's DSCP.
	DSCP []int `yaml:"dscp"`
	// AuthKeyFile, when set, makes the reflector authenticated (RFC 8762 §4.4): it answers
	// only 112-octet test packets whose HMAC verifies under the key in the file (the file's
	// bytes, at least 16), with authenticated replies; TLVs are not processed in this mode.
	AuthKeyFile string `yaml:"auth_key_file"`
	// ReturnSIDs are the SIDs (prefixes or addresses) a Return Path TLV's segment list may
	// name (empty: none). The reply goes to the first of them, and carries an SRH the test
	// packet did not: only the operator's own SIDs.
	ReturnSIDs []string `yaml:"return_sids"`
	// SyncSource is what the Timestamp Information TLV says the clock follows: "ntp", "ptp",
	// "gnss", "ssu" or "free-running"; default: "ntp" while the kernel says the clock is
	// synchronised, "free-running" otherwise (adjtimex cannot tell NTP from PTP).
	SyncSource string `yaml:"sync_source"`
}

var syncSources = map[string]uint8{"ntp": oam.STAMPSyncNTP, "ptp": oam.STAMPSyncPTP, "gnss": oam.STAMPSyncGNSS,
	"ssu": oam.STAMPSyncSSU, "free-running": oam.STAMPSyncFreeRun}

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
	if _, err := parsePrefixes("reflector.return_sids", c.ReturnSIDs); err != nil {
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
	if c.Mode != "" && c.Mode != "stateless" && c.Mode != "stateful" {
		errs = append(errs, fmt.Errorf("reflector.mode: %q: want stateless or stateful", c.Mode))
	}
	for i, d := range c.DSCP {
		if d < 0 || d > 63 {
			errs = append(errs, fmt.Errorf("reflector.dscp[%d]: %d: a DSCP is 0-63", i, d))
		}
	}
	if _, ok := syncSources[c.SyncSource]; c.SyncSource != "" && !ok {
		errs = append(errs, fmt.Errorf("reflector.sync_source: %q: want ntp, ptp, gnss, ssu or free-running", c.SyncSource))
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
	// TLV processing (RFC 8972, RFC 9503): TLVs returned with U, test packets whose TLVs
	// were malformed (M) or failed the HMAC (I), test packets that asked for no reply, and
	// replies sent through a segment list or to a return address a Return Path TLV gave.
	TLVUnrecognized   atomic.Uint64
	TLVMalformed      atomic.Uint64
	HMACFailures      atomic.Uint64
	NoReplyRequested  atomic.Uint64
	ReturnPathReplies atomic.Uint64
	// Sessions is the number of sessions a stateful reflector keeps now (at most 4096).
	Sessions atomic.Int64
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
	stateful  bool
	hmacKey   []byte
	dscp      []int
	sync      string
	locals    localAddrs
	authKey   []byte // authenticated mode
	// returnSIDs are the SIDs a Return Path's segment list may name.
	returnSIDs []netip.Prefix
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
	if err := probes.EnableTClass(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("reflector: %w", err)
	}
	returnSIDs, _ := parsePrefixes("reflector.return_sids", cfg.ReturnSIDs)
	r := &Reflector{returnSIDs: returnSIDs, conn: conn, allow: allow, rate: cfg.Rate, burst: float64(cfg.Burst), readClock: probes.LocalClock,
		ioam: cfg.ReflectIOAM, ptp: cfg.Timestamps != "ntp", stateful: cfg.Mode == "stateful", dscp: cfg.DSCP, sync: cfg.SyncSource}
	for _, k := range []struct {
		field, file string
		dst         *[]byte
	}{{"hmac_key_file", cfg.HMACKeyFile, &r.hmacKey}, {"auth_key_file", cfg.AuthKeyFile, &r.authKey}} {
		if k.file == "" {
			continue
		}
		key, err := probes.ReadSTAMPKey(k.file)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("reflector.%s: %w", k.field, err)
		}
		*k.dst = key
	}
	return r, nil
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
	var rx probes.RXInfo
	senders := newRateTable(r.rate, r.burst, maxReflectorSenders)
	sessions := newSessionTable(maxReflectorSenders)
	port := r.Addr().Port()
	env := oam.STAMPReflectEnv{MethodIn: oam.STAMPMethodSWLocal, MethodOut: oam.STAMPMethodSWLocal, AllowReturn: r.allowed,
		AllowSegment: func(a netip.Addr) bool {
			return slices.ContainsFunc(r.returnSIDs, func(p netip.Prefix) bool { return p.Contains(a) })
		},
		// The address the test packet was sent to first: no lookup in the common case.
		IsLocal: func(a netip.Addr) bool { return a == rx.Dst || r.locals.has(a) }}
	if len(r.dscp) > 0 {
		env.AllowDSCP = func(d uint8) bool { return slices.Contains(r.dscp, int(d)) }
	}
	if r.hmacKey != nil {
		env.HMACKey = r.hmacKey
	}
	var test oam.STAMPTest
	var reply oam.STAMPReply
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
		if r.authKey != nil {
			// RFC 8762 §4.4: a test packet whose HMAC does not verify is discarded.
			if err := test.UnmarshalAuth(in[:min(n, maxReplySize)], r.authKey); errors.Is(err, oam.ErrSTAMPIntegrity) {
				r.stats.HMACFailures.Add(1)
				continue
			} else if err != nil || n > maxReplySize || rx.RealtimeNs == 0 {
				r.stats.Malformed.Add(1)
				continue
			}
		} else if n > maxReplySize || test.UnmarshalBinary(in[:n]) != nil || rx.RealtimeNs == 0 {
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
		var sess *oam.STAMPSession
		seq := test.Sequence
		if r.stateful {
			sess = sessions.get(sessionKey{from, rx.Dst, test.SSID})
			r.stats.Sessions.Store(int64(sessions.len()))
			sess.Received++
			seq = sess.Next
		}
		reply = oam.STAMPReply{
			Sequence:            seq,
			ErrorEstimate:       clock.STAMPErrorEstimateIn(r.ptp),
			ReceiveTimestamp:    oam.STAMPTimestampAt(rx.TAINs(offset), r.ptp, offset),
			SenderSequence:      test.Sequence,
			SenderTimestamp:     test.Timestamp,
			SenderErrorEstimate: test.ErrorEstimate,
			SenderTTL:           hop,
			SSID:                test.SSID, // RFC 8972: copied back, the sender matches on it
		}
		// The reply carries the test packet's TLVs back, answered (RFC 8972): those this
		// reflector does not know flagged U, the rest copied as they came.
		copy(out[oam.STAMPPacketSize:n], in[oam.STAMPPacketSize:n])
		reply.MarshalTo(out) //nolint:errcheck // out is maxReplySize ≥ 44 bytes; T3 is written again below
		env.Src, env.Dst, env.TClass, env.Session = from, netip.AddrPortFrom(rx.Dst, port), rx.TClass, sess
		env.SyncSource = r.syncSource(clock)
		act := oam.STAMPReflectAction{DSCP: -1, HMACOff: -1}
		if r.authKey == nil { // TLVs are read in unauthenticated mode only
			act = oam.ReflectSTAMPTLVs(in[:n], out[:n], &env)
		}
		r.countTLVs(&act)
		if act.NoReply {
			r.stats.NoReplyRequested.Add(1)
			continue
		}
		src, to, ifindex := rx.Dst, from, 0
		if act.Source.IsValid() {
			src = act.Source
		}
		if act.SameLink {
			ifindex = rx.Ifindex
		}
		if act.ReturnAddr.IsValid() {
			to = netip.AddrPortFrom(act.ReturnAddr, from.Port())
		}
		outOOB = outOOB[:0]
		if src.IsValid() {
			outOOB = probes.AppendPktinfo(outOOB, src, ifindex)
		}
		if act.DSCP >= 0 {
			outOOB = probes.AppendTClass(outOOB, act.DSCP<<2)
		}
		reflected := false
		// A per-datagram Hop-by-Hop header makes the kernel ignore the socket's sticky options,
		// the reply's segment list included: no IOAM reflection through a Return Path.
		if r.ioam && rx.HopByHop != nil && act.ReturnSegments == nil {
			if h := ioamHopByHop(hbh, rx.HopByHop); h != nil {
				outOOB, reflected = probes.AppendHopOpts(outOOB, h), true
			}
		}
		if act.ReturnSegments != nil {
			// The per-datagram IPV6_RTHDR control message takes no type 4: the sticky option,
			// set for this reply and removed after it.
			rthdr, err := probes.SRHBytes(to.Addr(), segmentsOf(act.ReturnSegments))
			if err != nil || probes.SetRoutingHeader(r.conn, rthdr) != nil {
				r.stats.SendErrors.Add(1)
				continue
			}
		}
		// The transmit timestamp is the last thing written before the send system call (the
		// reply's HMAC does not cover it).
		reply.Timestamp = oam.STAMPTimestampAt(probes.TAINow(), r.ptp, offset)
		if r.authKey != nil {
			reply.MarshalAuthTo(out, r.authKey) //nolint:errcheck // out is maxReplySize ≥ 112 bytes
		} else {
			reply.MarshalTo(out) //nolint:errcheck // out is maxReplySize ≥ 44 bytes
		}
		if act.HMACOff >= 0 {
			oam.SealSTAMPHMAC(r.hmacKey, out[:n], act.HMACOff)
		}
		_, _, err = r.conn.WriteMsgUDPAddrPort(out[:n], outOOB, to)
		if act.ReturnSegments != nil {
			if cerr := probes.SetRoutingHeader(r.conn, nil); cerr != nil {
				return fmt.Errorf("reflector: remove a reply's segment list: %w", cerr)
			}
			if err == nil {
				r.stats.ReturnPathReplies.Add(1)
			}
		} else if err == nil && act.ReturnAddr.IsValid() {
			r.stats.ReturnPathReplies.Add(1)
		}
		if err != nil {
			r.stats.SendErrors.Add(1)
			continue
		}
		r.stats.Replies.Add(1)
		if sess != nil {
			sess.Sent++
			sess.PrevSeq, sess.PrevTx, sess.HavePrev = sess.Next, reply.Timestamp, true
			sess.Next++
		}
		if reflected {
			r.stats.IOAMReflected.Add(1)
		}
	}
}

// syncSource is what the Timestamp Information TLV says the clock follows.
func (r *Reflector) syncSource(c oam.ClockState) uint8 {
	if s, ok := syncSources[r.sync]; ok {
		return s
	}
	if c.Synchronised {
		return oam.STAMPSyncNTP
	}
	return oam.STAMPSyncFreeRun
}

func (r *Reflector) countTLVs(act *oam.STAMPReflectAction) {
	if act.Unrecognized > 0 {
		r.stats.TLVUnrecognized.Add(uint64(act.Unrecognized))
	}
	if act.Malformed {
		r.stats.TLVMalformed.Add(1)
	}
	if act.IntegrityFailed {
		r.stats.HMACFailures.Add(1)
	}
}

// segmentsOf reads a Return Path's SRv6 Segment List (16-octet SIDs, the first to visit
// first).
func segmentsOf(b []byte) []netip.Addr {
	segs := make([]netip.Addr, 0, len(b)/16)
	for i := 0; i+16 <= len(b); i += 16 {
		segs = append(segs, netip.AddrFrom16([16]byte(b[i:])))
	}
	return segs
}

// sessionKey is a STAMP session as a stateful reflector tells them apart (RFC 8972 §3): the
// sender's address and port, the address the test packet was sent to, the SSID.
type sessionKey struct {
	from netip.AddrPort
	dst  netip.Addr
	ssid uint16
}

// sessionTable keeps at most max sessions; a new one evicts the least recently used.
type sessionTable struct {
	max     int
	entries map[sessionKey]*list.Element
	order   *list.List // of *sessionEntry, most recently used first
}

type sessionEntry struct {
	key sessionKey
	s   oam.STAMPSession
}

func newSessionTable(max int) *sessionTable {
	return &sessionTable{max: max, entries: map[sessionKey]*list.Element{}, order: list.New()}
}

func (t *sessionTable) get(k sessionKey) *oam.STAMPSession {
	if e, ok := t.entries[k]; ok {
		t.order.MoveToFront(e)
		return &e.Value.(*sessionEntry).s
	}
	if t.order.Len() >= t.max {
		old := t.order.Back()
		delete(t.entries, old.Value.(*sessionEntry).key)
		t.order.Remove(old)
	}
	e := t.order.PushFront(&sessionEntry{key: k})
	t.entries[k] = e
	return &e.Value.(*sessionEntry).s
}

func (t *sessionTable) len() int { return t.order.Len() }

// localAddrs answers "is this address one of this node's?" from the interfaces' addresses,
// read again at most once a second (a Destination Node Address TLV asks it per test packet).
type localAddrs struct {
	readNs int64
	addrs  []netip.Addr
}

func (l *localAddrs) has(a netip.Addr) bool {
	if now := probes.TAINow(); now-l.readNs > 1e9 {
		l.readNs = now
		l.addrs = l.addrs[:0]
		if as, err := net.InterfaceAddrs(); err == nil {
			for _, ia := range as {
				if p, err := netip.ParsePrefix(ia.String()); err == nil {
					l.addrs = append(l.addrs, p.Addr().Unmap())
				}
			}
		}
	}
	return slices.Contains(l.addrs, a)
}
