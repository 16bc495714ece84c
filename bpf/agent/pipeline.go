package agent

import (
	"net/netip"
	"sync/atomic"

	"github.com/srv6oam/srv6oam/bpf"
	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/srh"
)

// Bounds of the state a probe can make the agent keep (docs/security.md). Every table keyed by
// what a packet says is bounded and evicts: none fills for good.
const (
	// maxCollectors bounds the per-collector-address token buckets; the least recently used
	// is evicted to make room (rateTable).
	maxCollectors = 4096
	// maxBatches bounds the reports being batched at once (one per collector address and
	// port); a new one beyond it sends every batch first. Batches live for at most
	// maxBatchAgeNs: the table empties at every flush.
	maxBatches = 1024
	// reportOverhead is what a report datagram adds on the wire to its records: the IPv6 and
	// UDP headers and the report header.
	reportOverhead = 40 + 8 + oam.ReportHeaderSize
)

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
	RateLimited      atomic.Uint64 // reports dropped by their collector address's token bucket
	RateLimitedAgent atomic.Uint64 // reports dropped by the agent-wide budget
	// UntrustedFlags counts reports to a collector not trusted for captures and next hops
	// whose probe asked for them (flags C or N): sent without.
	UntrustedFlags atomic.Uint64
	// RefusedAmplification counts reports not sent because they would have been larger than
	// the probe that caused them (an untrusted collector's).
	RefusedAmplification atomic.Uint64
	// CollectorsTracked is the number of collector addresses with a token bucket now (at most
	// maxCollectors); BucketsEvicted counts buckets evicted before they had refilled.
	CollectorsTracked atomic.Int64
	BucketsEvicted    atomic.Uint64
	ReportsSent       atomic.Uint64 // report records sent
	DatagramsSent     atomic.Uint64 // UDP datagrams sent
	SendErrors        atomic.Uint64 // datagrams the socket refused
	RecordsDropped    atomic.Uint64 // records the report builder refused (did not encode); a bug if ever counted
	// Next hops for probes that set N (nexthops.go).
	NextHopRequests      atomic.Uint64 // report records of probes asking for next hops
	NextHopLookups       atomic.Uint64 // FIB lookups over netlink
	NextHopLookupErrors  atomic.Uint64 // lookups that failed (not "no route")
	NextHopCacheHits     atomic.Uint64 // answered from the cache
	NextHopLimited       atomic.Uint64 // not looked up: the lookup budget was spent
	NextHopNoDestination atomic.Uint64 // the probe's capture did not hold its IPv6 header
	NextHopCacheEntries  atomic.Int64  // answers in the next-hop cache now (at most 1024)
}

// sender sends one datagram; *net.UDPConn is one.
type sender interface {
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// bucket is a token bucket: one per collector address and one for the agent (rateTable), one
// per STAMP sender.
type bucket struct {
	tokens float64
	lastNs int64
}

type destination struct {
	addr    netip.AddrPort
	builder oam.ReportBuilder
}

// pipelineConfig is what the pipeline needs of the agent's configuration.
type pipelineConfig struct {
	NodeID uint32
	// Allow is the collectors allow-list; Trusted the collectors that may also receive
	// captures and next hops (flags C and N).
	Allow, Trusted []netip.Prefix
	// Rate (records per second) and Burst of each collector address's bucket; TotalRate and
	// TotalBurst of the whole agent's.
	Rate, Burst           float64
	TotalRate, TotalBurst float64
}

// pipeline turns End.OAM events into batched reports. It is owned by one goroutine.
type pipeline struct {
	cfg        pipelineConfig
	collectors *rateTable
	total      bucket
	totalRate  float64 // tokens per nanosecond
	send       sender
	stats      *Stats
	readClock  func() oam.ClockState

	clock       oam.ClockState
	clockReadNs int64
	// dests are the batches being filled, by collector address and port; emptied at every
	// flush, their destinations kept in free for reuse.
	dests    map[netip.AddrPort]*destination
	queue    []*destination // dests in the order they were started
	free     []*destination
	oldestNs int64 // when the oldest queued batch was started
	event    bpf.Event
	record   oam.ReportRecord
	// nextHops answers probes that set N; nil: they get no next hops.
	nextHops *nextHopResolver
}

func newPipeline(cfg pipelineConfig, send sender, stats *Stats, readClock func() oam.ClockState) *pipeline {
	return &pipeline{
		cfg:         cfg,
		collectors:  newRateTable(cfg.Rate, cfg.Burst, maxCollectors),
		total:       bucket{tokens: cfg.TotalBurst},
		totalRate:   cfg.TotalRate / 1e9,
		send:        send,
		stats:       stats,
		readClock:   readClock,
		clockReadNs: -clockRefreshNs,
		dests:       make(map[netip.AddrPort]*destination, maxBatches),
	}
}

func contains(list []netip.Prefix, a netip.Addr) bool {
	for _, pr := range list {
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
	if !contains(p.cfg.Allow, to) {
		p.stats.RefusedAllowList.Add(1)
		return
	}
	key := netip.AddrPortFrom(to, ev.ReportPort)
	d := p.dests[key]
	trusted := contains(p.cfg.Trusted, to)
	if !trusted {
		// No amplification, by construction: what this report adds on the wire (its record,
		// and the datagram's headers when it starts one) is never more than the probe that
		// caused it. A probe End.OAM stamps is at least as large as a one-record report, so
		// this refuses only packets shorter than any real probe.
		cost := oam.ReportRecordSize
		if d == nil || !d.builder.Fits(0) {
			cost += reportOverhead
		}
		if cost > int(ev.PacketLen) {
			p.stats.RefusedAmplification.Add(1)
			return
		}
	}
	// The budget is per collector address, whatever the port (a prober rotating ports gets
	// no more), and one for the whole agent.
	n, evicted := p.collectors.len(), p.collectors.evicted
	ok := p.collectors.take(to, nowNs)
	if p.collectors.len() != n || p.collectors.evicted != evicted {
		p.stats.CollectorsTracked.Store(int64(p.collectors.len()))
		p.stats.BucketsEvicted.Store(p.collectors.evicted)
	}
	if !ok {
		p.stats.RateLimited.Add(1)
		return
	}
	if !p.total.take(nowNs, p.totalRate, p.cfg.TotalBurst) {
		p.stats.RateLimitedAgent.Add(1)
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
	}
	switch {
	case trusted:
		rec.Capture = ev.Capture
		if len(rec.Capture) > 255 {
			rec.Capture = rec.Capture[:255]
		}
		if ev.ProbeFlags&srh.ProbeNextHops != 0 && p.nextHops != nil {
			p.stats.NextHopRequests.Add(1)
			rec.NextHops = p.nextHops.resolve(ev.Capture, ev.IngressIfindex, nowNs)
		}
	case ev.ProbeFlags&(srh.ProbeCapture|srh.ProbeNextHops) != 0:
		p.stats.UntrustedFlags.Add(1)
	}
	if d != nil && !d.builder.FitsRecord(rec) {
		p.sendBatch(d) // full: send it now, keep the destination queued
		d.builder.Reset(p.cfg.NodeID, p.clock)
	}
	if d == nil {
		if len(p.dests) >= maxBatches {
			p.flushAll()
		}
		if nowNs-p.clockReadNs >= clockRefreshNs {
			p.clock = p.readClock()
			p.clockReadNs = nowNs
		}
		if n := len(p.free); n > 0 {
			d, p.free = p.free[n-1], p.free[:n-1]
		} else {
			d = &destination{}
		}
		d.addr = key
		d.builder.Reset(p.cfg.NodeID, p.clock)
		p.dests[key] = d
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

// flushAll sends every pending batch and forgets their destinations.
func (p *pipeline) flushAll() {
	for _, d := range p.queue {
		p.sendBatch(d)
		delete(p.dests, d.addr)
		p.free = append(p.free, d)
	}
	clear(p.queue)
	p.queue = p.queue[:0]
}
