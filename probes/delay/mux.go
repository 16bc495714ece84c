package delay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
)

// MuxOptions configure a Mux. The zero value is usable.
type MuxOptions struct {
	// Interface binds the probe sockets to an interface.
	Interface string
	// CollectorAddress is the address the collector socket binds to; the zero value binds
	// every address (each prober announces its own source address with the port).
	CollectorAddress netip.Addr
	// CollectorPort is the UDP port of the collector socket; 0 picks a free one.
	CollectorPort uint16
	// Registry overrides the OAM TLV codes of every attached prober; the zero value means
	// srh.DefaultRegistry().
	Registry srh.Registry
	// Tap sees every probe sent.
	Tap probes.Tap
	// NoTxTimestamps takes the send times from the user clock.
	NoTxTimestamps bool

	// Sockets, when set, are used instead of opening the kernel's: the seam for tests on a
	// scripted network (probes/probetest). The Mux owns and closes them.
	Sockets *Sockets
}

// Sockets are what a Mux sends and receives on: probes go out on Send, come back on Return
// (with their routing header, Received.RoutingHeader), and the agents' reports arrive on
// Reports, a UDP socket bound to ReportPort.
type Sockets struct {
	Send, Return probes.PacketConn
	Reports      io.ReadCloser
	ReportPort   uint16
}

// Mux owns one set of sockets shared by many Probers (NewShared): the raw socket probes are
// sent on, the socket returning probes are read from and the collector's UDP socket. It
// routes each returning probe and each report record to its Prober by the session of the
// Probe TLV (a returning probe whose routing header did not come along, by its echo
// identifier). Create it with NewMux and Close it after every attached Prober's Run returned.
type Mux struct {
	opts    MuxOptions
	conn    probes.PacketConn
	back    probes.PacketConn
	reports io.ReadCloser
	port    uint16

	// sendMu serialises the send socket (probes.Conn is not safe for concurrent use) and
	// guards keys.
	sendMu sync.Mutex
	keys   map[uint32]txKey

	mu       sync.Mutex // guards sessions and idents
	sessions map[uint32]*route
	idents   map[uint16]*route

	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
	cerr   error
	// rxErr is the error that stopped the receiver of returning probes (nil while it runs);
	// failed is closed when it is set. Both change under mu, so a prober either attaches
	// before the failure (and sees failed closed) or is refused.
	rxErr  atomic.Pointer[error]
	failed chan struct{}

	reportsN, badReports, records, unmatched, dropped atomic.Uint64
	firstBad                                          atomic.Pointer[string]
}

// MuxStats count what a Mux received and could not deliver.
type MuxStats struct {
	// Reports counts report datagrams, BadReports those that did not decode, Records the
	// records routed to an attached prober (Dropped counts those it had no room for).
	Reports, BadReports, Records uint64
	// Unmatched counts returning probes and records of no attached prober's session.
	Unmatched uint64
	// Dropped counts events a prober was too slow to take (its Loop's queue was full), or
	// that came before it started.
	Dropped uint64
	// BadReportError says why the first bad report did not decode.
	BadReportError string
}

type txKey struct {
	r   *route
	seq uint32
}

// route is one attached prober's place in the Mux: its session, identifier and source, and
// the Handle on the Loop its events go to (nil until the prober starts).
type route struct {
	session uint32
	ident   uint16
	source  netip.Addr
	handle  *probes.Handle[Event] // guarded by Mux.mu
	dropped atomic.Uint64         // events dropped because the prober's Loop was full
}

// deliver hands ev to r's prober without waiting: the Mux's readers never block on one
// prober. An event the prober's Loop has no room for, or that comes before the prober
// started, is dropped and counted.
func (m *Mux) deliver(r *route, ev *Event) {
	m.mu.Lock()
	h := r.handle
	m.mu.Unlock()
	if h == nil || !h.Offer(ev) {
		m.drop(r)
	}
}

// drop counts an event r was too slow to take.
func (m *Mux) drop(r *route) {
	m.dropped.Add(1)
	r.dropped.Add(1)
}

// Event is what the Mux hands a Prober on its Loop: a returning probe, an agent's report
// record or a kernel TX timestamp.
type Event struct {
	kind eventKind
	rx   rxEvent
	rec  recordEvent
	tx   txEvent
}

type eventKind uint8

const (
	eventReturn eventKind = iota + 1
	eventRecord
	eventTx
)

type recordEvent struct {
	node  uint32
	clock oam.ClockState
	rec   oam.ReportRecord
}

type txEvent struct {
	seq uint32
	at  time.Time
}

// NewMux opens the shared sockets and starts the goroutines that read them; they run until
// Close.
func NewMux(opts MuxOptions) (*Mux, error) {
	if opts.Registry.ProbeType == 0 && opts.Registry.SlotsType == 0 {
		opts.Registry = srh.DefaultRegistry()
	}
	m := &Mux{opts: opts, keys: map[uint32]txKey{}, sessions: map[uint32]*route{}, idents: map[uint16]*route{},
		failed: make(chan struct{})}
	if so := opts.Sockets; so != nil {
		m.conn, m.back, m.reports, m.port = so.Send, so.Return, so.Reports, so.ReportPort
	} else if err := m.open(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.wg.Add(2)
	go func() { defer m.wg.Done(); m.receiveProbes(ctx) }()
	go func() { defer m.wg.Done(); m.receiveReports(ctx) }()
	return m, nil
}

// open opens the kernel's sockets: the collector's UDP socket, the raw send socket and the
// socket of returning probes.
func (m *Mux) open() error {
	opts := m.opts
	bind := netip.AddrPortFrom(opts.CollectorAddress, opts.CollectorPort)
	if !opts.CollectorAddress.IsValid() {
		bind = netip.AddrPortFrom(netip.IPv6Unspecified(), opts.CollectorPort)
	}
	udp, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(bind))
	if err != nil {
		return fmt.Errorf("collector: listen on %s: %w", bind, err)
	}
	m.reports = udp
	m.port = udp.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	if m.conn, err = probes.Dial(probes.Config{Interface: opts.Interface, TxTimestamps: !opts.NoTxTimestamps,
		Tap: opts.Tap, ICMPTypes: []uint8{}}); err != nil {
		udp.Close()
		return err
	}
	// Returning probes: a receive-only raw ICMPv6 socket that lets Echo Requests through, with
	// the routing header each came with (IPV6_RECVRTHDR): its slots hold every End.OAM's
	// timestamp in-band. (A raw ICMPv6 socket strips the IPv6 header and its extension
	// headers; the routing header comes back only as this control message, and so does the
	// Hop-by-Hop header an IOAM trace travels in: IPV6_RECVHOPOPTS.)
	if m.back, err = probes.Listen(probes.Config{Interface: opts.Interface, ICMPTypes: []uint8{probes.ICMPv6EchoRequest},
		RoutingHeader: true, HopByHop: true}); err != nil {
		udp.Close()
		m.conn.Close()
		return err
	}
	return nil
}

// CollectorPort is the shared collector's UDP port.
func (m *Mux) CollectorPort() uint16 { return m.port }

// Stats returns the Mux's counters.
func (m *Mux) Stats() MuxStats {
	st := MuxStats{Reports: m.reportsN.Load(), BadReports: m.badReports.Load(), Records: m.records.Load(),
		Unmatched: m.unmatched.Load(), Dropped: m.dropped.Load()}
	if e := m.firstBad.Load(); e != nil {
		st.BadReportError = *e
	}
	return st
}

// Err is the error that stopped the Mux receiving returning probes, nil while it works. A
// Mux with an error attaches no more probers; its owner closes it and opens another.
func (m *Mux) Err() error {
	if e := m.rxErr.Load(); e != nil {
		return *e
	}
	return nil
}

// Attached is how many probers are attached.
func (m *Mux) Attached() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

// Close stops the receivers and closes the sockets.
func (m *Mux) Close() error {
	m.closed.Do(func() {
		m.cancel()
		m.cerr = errors.Join(m.conn.Close(), m.back.Close(), m.reports.Close())
		m.wg.Wait()
	})
	return m.cerr
}

// attach registers a prober's session (and echo identifier). A session already attached is
// an error unless pick says it may draw another one; an identifier already taken is redrawn
// the same way, or shared (the session, carried by every probe that keeps its routing
// header, still tells the probers apart).
func (m *Mux) attach(session uint32, ident uint16, source netip.Addr, pickSession, pickIdent bool) (*route, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.Err(); err != nil {
		return nil, fmt.Errorf("shared sockets: %w", err)
	}
	for tries := 0; m.sessions[session] != nil; tries++ {
		if !pickSession || tries > 100 {
			return nil, fmt.Errorf("session %d: already used by another prober of the shared sockets", session)
		}
		session = rand.Uint32() | 1
	}
	for tries := 0; pickIdent && m.idents[ident] != nil && tries < 100; tries++ {
		ident = uint16(rand.N(0xffff)) + 1
	}
	r := &route{session: session, ident: ident, source: source}
	m.sessions[session] = r
	if m.idents[ident] == nil {
		m.idents[ident] = r
	}
	return r, nil
}

func (m *Mux) detach(r *route) {
	m.mu.Lock()
	if m.sessions[r.session] == r {
		delete(m.sessions, r.session)
	}
	if m.idents[r.ident] == r {
		delete(m.idents, r.ident)
	}
	m.mu.Unlock()
	m.sendMu.Lock()
	for k, v := range m.keys {
		if v.r == r {
			delete(m.keys, k)
		}
	}
	m.sendMu.Unlock()
}

// send sends one probe of r's and notes its TX timestamp key.
func (m *Mux) send(r *route, seq uint32, pkt []byte, firstHop netip.Addr) (probes.SendInfo, error) {
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	info, err := m.conn.Send(pkt, firstHop)
	if err == nil && !m.opts.NoTxTimestamps {
		if len(m.keys) > 4096 { // timestamps the kernel never gave
			clear(m.keys)
		}
		m.keys[info.Key] = txKey{r: r, seq: seq}
	}
	return info, err
}

// pollTx takes the TX timestamps waiting on the send socket: own's go to fn at once (its
// prober calls this from its Loop, before it observes a returning probe), the others' to
// their probers as events.
func (m *Mux) pollTx(own *route, fn func(seq uint32, at time.Time)) {
	if m.opts.NoTxTimestamps {
		return
	}
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	_ = m.conn.ReadTxTimestamps(func(key uint32, t time.Time) {
		k, ok := m.keys[key]
		if !ok {
			return
		}
		delete(m.keys, key)
		if k.r == own {
			fn(k.seq, t)
			return
		}
		m.deliver(k.r, &Event{kind: eventTx, tx: txEvent{seq: k.seq, at: t}})
	})
}

// receiveProbes reads the returning probes and routes them until the socket closes.
func (m *Mux) receiveProbes(ctx context.Context) {
	var (
		rx  probes.Received
		msg probes.ICMPv6Message
	)
	for {
		if err := m.back.Receive(time.Time{}, &rx); err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			m.fail(fmt.Errorf("receive returning probes: %w", err))
			return
		}
		if probes.ParseICMPv6(rx.ICMPv6, &msg) != nil || msg.Type != probes.ICMPv6EchoRequest {
			continue
		}
		ev := rxEvent{seq16: msg.Seq, at: rx.Time}
		if rx.RoutingHeader != nil {
			if probe, slots, err := parseReturn(m.opts.Registry, rx.RoutingHeader); err == nil {
				ev.probe, ev.hasProbe = probe, true
				ev.slots = append([]byte(nil), slots...)
			}
		}
		if rx.HopByHop != nil {
			ev.hbh = append([]byte(nil), rx.HopByHop...)
		}
		m.mu.Lock()
		r := m.idents[msg.ID]
		if ev.hasProbe {
			r = m.sessions[ev.probe.Session]
		}
		m.mu.Unlock()
		if r == nil || r.source != rx.From || r.ident != msg.ID {
			m.unmatched.Add(1)
			continue
		}
		m.deliver(r, &Event{kind: eventReturn, rx: ev})
	}
}

// receiveReports reads agents' report datagrams and routes each record by its session until
// the socket closes.
func (m *Mux) receiveReports(ctx context.Context) {
	_ = probes.ReadReports(m.reports, func(rep *oam.Report) {
		m.reportsN.Add(1)
		for i := range rep.Records {
			rec := rep.Records[i]
			m.mu.Lock()
			r := m.sessions[rec.Session]
			m.mu.Unlock()
			if r == nil {
				m.unmatched.Add(1)
				continue
			}
			rec.Capture = append([]byte(nil), rec.Capture...)
			m.records.Add(1)
			m.deliver(r, &Event{kind: eventRecord, rec: recordEvent{node: rep.NodeID, clock: rep.Clock, rec: rec}})
		}
	}, func(err error) {
		m.reportsN.Add(1)
		m.bad(err)
	})
}

// fail records that the socket of returning probes failed with err: every attached prober's
// Run returns err (no probe can come back any more) and the Mux attaches no more.
func (m *Mux) fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rxErr.Load() == nil {
		m.rxErr.Store(&err)
		close(m.failed)
	}
}

// bad counts a report datagram that did not decode and keeps the first reason.
func (m *Mux) bad(err error) {
	m.badReports.Add(1)
	msg := err.Error()
	m.firstBad.CompareAndSwap(nil, &msg)
}
