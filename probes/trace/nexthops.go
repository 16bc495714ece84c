package trace

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/delay"
)

// Agent-assisted next hops (srv6-trace --agent-nexthops): probes carrying the Probe TLV flags
// R, C and N walk the whole segment list; every SID bound to End.OAM by srv6-agent reports the
// probe with its node's FIB next hops toward the next segment (oam.NextHops), which the agent
// reads over netlink. A trace then prints them under each SID node next to what its own probes
// (and ECMP discovery) found.

const (
	// nextHopProbes are sent 10 ms apart; the first report per SID is kept, the others cover loss.
	nextHopProbes   = 3
	nextHopInterval = 10 * time.Millisecond
	// nextHopWait is how long reports are awaited after the last probe: agents send within
	// 10 ms (their batching), so a SID without a report by then has no agent that answers.
	nextHopWait = 500 * time.Millisecond
	// nextHopCapture is the capture the agent needs: the IPv6 header, whose destination is the
	// next segment once End.OAM has run.
	nextHopCapture = 40
)

// NodeNextHops is what the agent on one SID node of the path reported.
type NodeNextHops struct {
	// Index of the SID in the path, the SID, and the next segment its node forwards toward.
	Index int
	SID   netip.Addr
	Next  netip.Addr
	// Reported is false when no agent report came for this SID (no srv6-agent End.OAM SID
	// there, this host off its collectors allow-list, or every probe lost before it).
	Reported bool
	// NotAwaited: no report came, but the run ended (interrupted, or no probe could be sent)
	// before this SID had its chance to answer; "no agent there" cannot be concluded.
	NotAwaited bool
	NodeID     uint32
	// Unsupported: the agent reported the probe without next hops: this host is not among its
	// trusted collectors (only they may ask for next hops), or an srv6-agent from before the N
	// flag; NextHops is then empty.
	Unsupported bool
	NextHops    oam.NextHops
}

// AgentNextHops asks the agents along target.Path() for their next hops: it sends a few probes
// with the Probe TLV flags R, C and N through the whole path (an SRH carried by the probe itself,
// final segment the destination) and collects the agents' reports on a UDP socket of its own.
// The result has one entry per SID that has a next segment (every path element but the last).
// It uses opts.Source, Interface, FlowLabel and Tap. NewNextHopProbe and NextHopProbe.Run do
// the same in two steps (sockets opened in the first, in the caller's network namespace).
func AgentNextHops(ctx context.Context, target oam.Target, opts Options) ([]NodeNextHops, error) {
	p, err := NewNextHopProbe(ctx, target, opts)
	if err != nil {
		return nil, err
	}
	return p.Run(ctx)
}

// NextHopProbe is a prepared AgentNextHops: probe built, sockets open.
type NextHopProbe struct {
	path    oam.SegmentList
	session uint32
	builder *delay.ProbeBuilder
	udp     *net.UDPConn
	conn    *probes.Conn
}

// NewNextHopProbe checks the path, picks the source, builds the probe and opens the sockets.
func NewNextHopProbe(ctx context.Context, target oam.Target, opts Options) (*NextHopProbe, error) {
	path := target.Path()
	if len(path) < 2 {
		return nil, errors.New("agent next hops need a segment list: a SID followed by another segment")
	}
	if len(path) > srh.MaxSlots {
		return nil, fmt.Errorf("agent next hops: %d segments, at most %d fit in the probe's Timestamp Slots TLV", len(path), srh.MaxSlots)
	}
	src := opts.Source
	if !src.IsValid() {
		var err error
		if src, err = probes.SourceFor(ctx, target.FirstHop(), opts.Interface); err != nil {
			return nil, fmt.Errorf("first segment: %w", err)
		}
	}
	udp, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)))
	if err != nil {
		return nil, fmt.Errorf("agent next hops: collector: listen on [%s]: %w", src, err)
	}
	p := &NextHopProbe{path: path, session: rand.Uint32() | 1, udp: udp}
	port := udp.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	p.builder, err = delay.NewProbeBuilder(delay.ProbeConfig{
		Path: path, Source: src, Registry: srh.DefaultRegistry(),
		Probe: srh.Probe{Flags: srh.ProbeReport | srh.ProbeCapture | srh.ProbeNextHops, Session: p.session,
			ReportTo: src, ReportPort: port, CaptureLen: nextHopCapture},
		ID: uint16(rand.N(0xffff)) + 1, PayloadSize: 8, HopLimit: 64, FlowLabel: opts.FlowLabel,
	})
	if err != nil {
		udp.Close()
		return nil, fmt.Errorf("agent next hops: %w", err)
	}
	// Only sends: the echo replies (when the destination answers) are of no interest here.
	if p.conn, err = probes.Dial(probes.Config{Interface: opts.Interface, Tap: opts.Tap, ICMPTypes: []uint8{}}); err != nil {
		udp.Close()
		return nil, err
	}
	return p, nil
}

// Close releases the sockets of a NextHopProbe that will not Run.
func (p *NextHopProbe) Close() error { return errors.Join(p.udp.Close(), p.conn.Close()) }

// Run sends the probes, waits for the reports (until every SID answered, or nextHopWait after
// the last probe) and closes the sockets. On an error (ctx ended, a send failed) it still returns
// what came, unreported SIDs marked NotAwaited when the wait was cut short.
func (p *NextHopProbe) Run(ctx context.Context) ([]NodeNextHops, error) {
	defer p.Close()
	path := p.path
	out := make([]NodeNextHops, len(path)-1)
	for i := range out {
		out[i] = NodeNextHops{Index: i, SID: path[i], Next: path[i+1]}
	}
	got := make(chan oam.Report, 16)
	readCtx, stop := context.WithCancel(ctx)
	defer stop()
	go readReports(readCtx, p.udp, got)

	var sendErr error
	sent := 0
	for seq := uint32(1); seq <= nextHopProbes; seq++ {
		pkt, err := p.builder.Build(seq, uint64(time.Now().UnixNano()))
		if err == nil {
			_, err = p.conn.Send(pkt, p.builder.FirstHop())
		}
		if err != nil && sendErr == nil {
			sendErr = fmt.Errorf("agent next hops: send: %w", err)
		}
		if err == nil {
			sent++
		}
		if seq < nextHopProbes {
			select {
			case <-time.After(nextHopInterval):
			case <-ctx.Done():
				return notAwaited(out), fmt.Errorf("agent next hops: wait interrupted: %w", ctx.Err())
			}
		}
	}
	if sent == 0 {
		return notAwaited(out), sendErr
	}
	deadline := time.NewTimer(nextHopWait)
	defer deadline.Stop()
	for missing := len(out); missing > 0; {
		select {
		case r := <-got:
			missing -= absorb(out, path, p.session, &r)
		case <-deadline.C:
			return out, sendErr
		case <-ctx.Done():
			return notAwaited(out), fmt.Errorf("agent next hops: wait interrupted: %w", ctx.Err())
		}
	}
	return out, sendErr
}

// notAwaited marks the SIDs without a report as not awaited in full.
func notAwaited(out []NodeNextHops) []NodeNextHops {
	for i := range out {
		out[i].NotAwaited = !out[i].Reported
	}
	return out
}

// absorb takes the records of r that belong to this run, and returns how many SIDs got their
// first report from it.
func absorb(out []NodeNextHops, path oam.SegmentList, session uint32, r *oam.Report) int {
	n := 0
	for _, rec := range r.Records {
		if rec.Session != session {
			continue
		}
		// End.OAM reports Segments Left after the kernel's decrement: it processed Segment
		// List[SL+1], which is path[len(path)-2-SL] in visiting order.
		i := len(path) - 2 - int(rec.SegmentsLeft)
		if i < 0 || i >= len(out) || path[i] != rec.SID || out[i].Reported {
			continue
		}
		out[i].Reported, out[i].NodeID = true, r.NodeID
		if rec.NextHops != nil {
			out[i].NextHops = *rec.NextHops
		} else {
			out[i].Unsupported = true
		}
		n++
	}
	return n
}

// readReports hands the reports on udp to got until ctx ends (which closes udp) or udp is
// closed; what does not decode is dropped.
func readReports(ctx context.Context, udp *net.UDPConn, got chan<- oam.Report) {
	stop := context.AfterFunc(ctx, func() { udp.Close() })
	defer stop()
	_ = probes.ReadReports(udp, func(rep *oam.Report) {
		r := *rep
		r.Records = append([]oam.ReportRecord(nil), rep.Records...)
		for i := range r.Records {
			// Capture aliases the reader's buffer, which the next read overwrites; nothing
			// here uses it.
			r.Records[i].Capture = nil
		}
		select {
		case got <- r:
		case <-ctx.Done():
		}
	}, nil)
}

// MDANextHops is how many distinct next routers the trace saw after the node of path[index]:
// the responders one hop beyond every hop where that SID was processed, over all branches.
// -1 when the trace never saw that SID processed.
func MDANextHops(rep *Report, index int) int {
	branches := rep.Branches
	if len(branches) == 0 {
		branches = []Branch{{Hops: rep.Hops}}
	}
	seen := false
	var next []netip.Addr
	for _, b := range branches {
		for j := range b.Hops {
			h := &b.Hops[j]
			if !h.SID || h.Segment != index || index >= len(rep.Path) || h.SIDAddr != rep.Path[index] {
				continue
			}
			seen = true
			if j+1 < len(b.Hops) {
				for _, a := range b.Hops[j+1].Responders() {
					if !contains(next, a) {
						next = append(next, a)
					}
				}
			}
		}
	}
	if !seen {
		return -1
	}
	return len(next)
}
