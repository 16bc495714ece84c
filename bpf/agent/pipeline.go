package agent

import (
	"net/netip"
	"sync/atomic"

	"github.com/srv6oam/srv6oam/bpf"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/srh"
)

// maxDestinations bounds the per-collector state; reports to further collectors are dropped (and
// counted as rate limited) until the agent restarts. The allow-list normally keeps it far lower.
const maxDestinations = 4096

// maxBatchAgeNs bounds how long a record waits in a batch while other collectors keep the ring
// buffer busy.
const maxBatchAgeNs = 10_000_000

// clockRefreshNs is how often the clock state in reports is re-read.
const clockRefreshNs = 1_000_000_000

// Stats are the agent's own counters, safe to read while the agent runs.
type Stats struct {
	Events           atomic.Uint64 // ring buffer records decoded
	DecodeErrors     atomic.Uint64 // ring buffer records that did not decode
	LostSamples      atomic.Uint64 // events End.OAM could not write (ring full), copied from its counters every flush
	NoCollector      atomic.Uint64 // probes asking for a report without a collector address
	RefusedAllowList atomic.Uint64 // reports to collectors off the allow-list, not sent
	RateLimited      atomic.Uint64 // reports dropped by a collector's token bucket
	ReportsSent      atomic.Uint64 // report records sent
	DatagramsSent    atomic.Uint64 // UDP datagrams sent
	SendErrors       atomic.Uint64 // datagrams the socket refused
	RecordsDropped   atomic.Uint64 // records the report builder refused (did not encode); a bug if ever counted
	// Next hops for probes that set N (nexthops.go).
	NextHopRequests      atomic.Uint64 // report records of probes asking for next hops
	NextHopLookups       atomic.Uint64 // FIB lookups over netlink
	NextHopLookupErrors  atomic.Uint64 // lookups that failed (not "no route")
	NextHopCacheHits     atomic.Uint64 // answered from the cache
	NextHopLimited       atomic.Uint64 // not looked up: the lookup budget was spent
	NextHopNoDestination atomic.Uint64 // the probe's capture did not hold its IPv6 header
}

// sender sends one datagram; *net.UDPConn is one.
type sender interface {
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// bucket is a token bucket; the pipeline has one per collector, the reflector one per sender.
type bucket struct {
	tokens float64
	lastNs int64
}

type destination struct {
	addr netip.AddrPort
	bucket
	builder oam.ReportBuilder
	queued  bool
}

// pipeline turns End.OAM events into batched reports. It is owned by one goroutine.
type pipeline struct {
	nodeID    uint32
	allow     []netip.Prefix
	rate      float64 // tokens per nanosecond
	burst     float64
	send      sender
	stats     *Stats
	readClock func() oam.ClockState

	clock       oam.ClockState
	clockReadNs int64
	dests       map[netip.AddrPort]*destination
	queue       []*destination // destinations with a non-empty batch
	oldestNs    int64          // when the oldest queued batch was started
	event       bpf.Event
	record      oam.ReportRecord
	// nextHops answers probes that set N; nil: they get no next hops.
	nextHops *nextHopResolver
}

func newPipeline(nodeID uint32, allow []netip.Prefix, ratePerSecond float64, burst int, send sender, stats *Stats, readClock func() oam.ClockState) *pipeline {
	return &pipeline{
		nodeID:      nodeID,
		allow:       allow,
		rate:        ratePerSecond / 1e9,
		burst:       float64(burst),
		send:        send,
		stats:       stats,
		readClock:   readClock,
		clockReadNs: -clockRefreshNs,
		dests:       make(map[netip.AddrPort]*destination),
	}
}

func (p *pipeline) allowed(a netip.Addr) bool {
	for _, pr := range p.allow {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// take consumes one token of the bucket at time nowNs.
func (d *bucket) take(nowNs int64, rate, burst float64) bool {
	d.tokens += float64(nowNs-d.lastNs) * rate
	d.lastNs = nowNs
	if d.tokens > burst {
		d.tokens = burst
	}
	if d.tokens < 1 {
		return false
	}
	d.tokens--
	return true
}

// handle processes one raw End.OAM event at monotonic time nowNs.
func (p *pipeline) handle(sample []byte, nowNs int64) {
	ev := &p.event
	if err := bpf.DecodeEvent(sample, ev); err != nil {
		p.stats.DecodeErrors.Add(1)
		return
	}
	p.stats.Events.Add(1)
	if ev.ProbeFlags&srh.ProbeReport == 0 || ev.ReportTo.IsUnspecified() || ev.ReportPort == 0 {
		p.stats.NoCollector.Add(1)
		return
	}
	to := ev.ReportTo.Unmap()
	if !p.allowed(to) {
		p.stats.RefusedAllowList.Add(1)
		return
	}
	key := netip.AddrPortFrom(to, ev.ReportPort)
	d := p.dests[key]
	if d == nil {
		if len(p.dests) >= maxDestinations {
			p.stats.RateLimited.Add(1)
			return
		}
		d = &destination{addr: key, bucket: bucket{tokens: p.burst, lastNs: nowNs}}
		p.dests[key] = d
	}
	if !d.take(nowNs, p.rate, p.burst) {
		p.stats.RateLimited.Add(1)
		return
	}
	rec := &p.record
	*rec = oam.ReportRecord{
		SID:            ev.SID,
		Session:        ev.Session,
		Sequence:       ev.Sequence,
		TimestampNs:    ev.TimestampNs,
		SenderTxNs:     ev.SenderTxNs,
		IngressIfindex: ev.IngressIfindex,
		SegmentsLeft:   ev.SegmentsLeft,
		SlotWritten:    ev.SlotWritten,
		Capture:        ev.Capture,
	}
	if len(rec.Capture) > 255 {
		rec.Capture = rec.Capture[:255]
	}
	if ev.ProbeFlags&srh.ProbeNextHops != 0 && p.nextHops != nil {
		p.stats.NextHopRequests.Add(1)
		rec.NextHops = p.nextHops.resolve(rec.Capture, ev.IngressIfindex, nowNs)
	}
	if d.queued && !d.builder.FitsRecord(rec) {
		p.sendBatch(d) // full: send it now, keep the destination queued
		d.builder.Reset(p.nodeID, p.clock)
	}
	if !d.queued {
		if nowNs-p.clockReadNs >= clockRefreshNs {
			p.clock = p.readClock()
			p.clockReadNs = nowNs
		}
		d.builder.Reset(p.nodeID, p.clock)
		d.queued = true
		if len(p.queue) == 0 {
			p.oldestNs = nowNs
		}
		p.queue = append(p.queue, d)
	}
	if !d.builder.Add(rec) {
		p.stats.RecordsDropped.Add(1)
	}
	if nowNs-p.oldestNs > maxBatchAgeNs {
		p.flushAll()
	}
}

func (p *pipeline) sendBatch(d *destination) {
	if d.builder.Count() == 0 {
		return
	}
	if _, err := p.send.WriteToUDPAddrPort(d.builder.Bytes(), d.addr); err != nil {
		p.stats.SendErrors.Add(1)
	} else {
		p.stats.DatagramsSent.Add(1)
		p.stats.ReportsSent.Add(uint64(d.builder.Count()))
	}
}

// flushAll sends every pending batch.
func (p *pipeline) flushAll() {
	for _, d := range p.queue {
		p.sendBatch(d)
		d.queued = false
	}
	clear(p.queue)
	p.queue = p.queue[:0]
}
