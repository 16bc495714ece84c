package agent

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/srv6oam/srv6oam/bpf"
	"github.com/srv6oam/srv6oam/probes"
)

// newRegistry builds the agent's own registry (no global state): its counters, the End.OAM
// per-CPU counters read at scrape time, and the clock state.
func newRegistry(stats *Stats, prog *bpf.EndOAM, sidsBound func() int, refl *Reflector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	counter := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "srv6_agent", Name: name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	reg.MustRegister(
		counter("events_total", "Probe events read from the End.OAM ring buffer.", &stats.Events),
		counter("event_decode_errors_total", "Ring buffer records that did not decode as End.OAM events.", &stats.DecodeErrors),
		counter("lost_samples_total", "Probe events End.OAM could not write because its ring buffer was full (read every 10 ms).", &stats.LostSamples),
		counter("events_without_collector_total", "Probes asking for a report without a collector address or port.", &stats.NoCollector),
		counter("reports_refused_allowlist_total", "Reports not sent because the collector is not on the allow-list.", &stats.RefusedAllowList),
		counter("reports_rate_limited_total", "Reports dropped by their collector address's token bucket.", &stats.RateLimited),
		counter("reports_sent_total", "Report records sent to collectors.", &stats.ReportsSent),
		counter("report_datagrams_sent_total", "UDP datagrams sent to collectors (a datagram batches records).", &stats.DatagramsSent),
		counter("report_send_errors_total", "Report datagrams the socket refused.", &stats.SendErrors),
		counter("report_records_dropped_total", "Report records the encoder refused (a record that does not validate), not sent.", &stats.RecordsDropped),
		counter("nexthop_requests_total", "Reported probes that asked for this node's next hops toward the next segment (Probe TLV flag N).", &stats.NextHopRequests),
		counter("nexthop_lookups_total", "FIB lookups (netlink RTM_GETROUTE, FIB match) for next-hop requests.", &stats.NextHopLookups),
		counter("nexthop_lookup_errors_total", "Next-hop FIB lookups that failed for another reason than no route.", &stats.NextHopLookupErrors),
		counter("nexthop_cache_hits_total", "Next-hop requests answered from the 1 s cache.", &stats.NextHopCacheHits),
		counter("nexthop_limited_total", "Next-hop requests not looked up because the lookup budget (100/s, burst 20) was spent.", &stats.NextHopLimited),
		counter("nexthop_no_destination_total", "Next-hop requests whose probe captured less than its IPv6 header (no next segment to look up).", &stats.NextHopNoDestination),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "srv6_agent", Name: "sids_bound", Help: "SIDs whose route runs this agent's End.OAM now (route notifications keep it true)."},
			func() float64 { return float64(sidsBound()) }),
		counter("reports_rate_limited_agent_total", "Reports dropped by the agent-wide budget (report_rate_total).", &stats.RateLimitedAgent),
		counter("reports_untrusted_flags_total", "Reports sent without the capture or next hops their probe asked for: the collector is not trusted for them.", &stats.UntrustedFlags),
		counter("reports_refused_amplification_total", "Reports not sent because they would have been larger than the probe that caused them.", &stats.RefusedAmplification),
		counter("collector_buckets_evicted_total", "Per-collector token buckets evicted (least recently used) before they had refilled.", &stats.BucketsEvicted),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "srv6_agent", Name: "nexthop_cache_entries", Help: "Next-hop answers cached (at most 1024, 1 s each)."},
			func() float64 { return float64(stats.NextHopCacheEntries.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "srv6_agent", Name: "collectors_tracked", Help: "Collector addresses with a token bucket (at most 4096)."},
			func() float64 { return float64(stats.CollectorsTracked.Load()) }),
		&clockCollector{},
	)
	if prog != nil {
		reg.MustRegister(&bpfCollector{prog: prog})
	}
	if refl != nil {
		rs := refl.Stats()
		reg.MustRegister(
			counter("stamp_requests_total", "Datagrams received by the STAMP reflector.", &rs.Requests),
			counter("stamp_replies_total", "STAMP replies sent.", &rs.Replies),
			counter("stamp_malformed_total", "Datagrams the reflector could not use as STAMP test packets.", &rs.Malformed),
			counter("stamp_refused_allowlist_total", "STAMP test packets from senders off the allow-list, not answered.", &rs.RefusedAllowList),
			counter("stamp_rate_limited_total", "STAMP test packets over their sender's token bucket, not answered.", &rs.RateLimited),
			counter("stamp_send_errors_total", "STAMP replies the socket refused.", &rs.SendErrors),
			counter("stamp_ioam_reflected_total", "STAMP replies that carried their test packet's IOAM trace back (reflect_ioam).", &rs.IOAMReflected),
			counter("stamp_tlv_unrecognized_total", "STAMP TLVs returned flagged U: unknown, or a request the reflector could not honour (RFC 8972, RFC 9503).", &rs.TLVUnrecognized),
			counter("stamp_tlv_malformed_total", "STAMP test packets whose TLVs were malformed (returned flagged M).", &rs.TLVMalformed),
			counter("stamp_hmac_failures_total", "STAMP test packets whose HMAC TLV did not verify (TLVs returned flagged I).", &rs.HMACFailures),
			counter("stamp_no_reply_requested_total", "STAMP test packets whose Return Path TLV asked for no reply.", &rs.NoReplyRequested),
			counter("stamp_return_path_replies_total", "STAMP replies sent through the segment list or to the address a Return Path TLV gave.", &rs.ReturnPathReplies),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "srv6_agent", Name: "stamp_senders_tracked", Help: "STAMP senders with a token bucket (at most 4096)."},
				func() float64 { return float64(rs.SendersTracked.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "srv6_agent", Name: "stamp_sessions", Help: "STAMP sessions a stateful reflector keeps (at most 4096)."},
				func() float64 { return float64(rs.Sessions.Load()) }),
		)
	}
	return reg
}

var (
	descSynced = prometheus.NewDesc("srv6_agent_clock_synchronised", "1 when adjtimex reports the clock synchronised.", nil, nil)
	descEst    = prometheus.NewDesc("srv6_agent_clock_estimated_error_seconds", "adjtimex estimated error.", nil, nil)
	descMax    = prometheus.NewDesc("srv6_agent_clock_maximum_error_seconds", "adjtimex maximum error.", nil, nil)
)

type clockCollector struct{}

func (*clockCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSynced
	ch <- descEst
	ch <- descMax
}

func (*clockCollector) Collect(ch chan<- prometheus.Metric) {
	c := probes.LocalClock()
	synced := 0.0
	if c.Synchronised {
		synced = 1
	}
	ch <- prometheus.MustNewConstMetric(descSynced, prometheus.GaugeValue, synced)
	ch <- prometheus.MustNewConstMetric(descEst, prometheus.GaugeValue, float64(c.EstErrorMicros)/1e6)
	ch <- prometheus.MustNewConstMetric(descMax, prometheus.GaugeValue, float64(c.MaxErrorMicros)/1e6)
}

var bpfDescs = [...]*prometheus.Desc{
	prometheus.NewDesc("srv6_endoam_packets_total", "Packets through End.OAM SIDs (all CPUs).", nil, nil),
	prometheus.NewDesc("srv6_endoam_probes_total", "Well-formed probes End.OAM timestamped.", nil, nil),
	prometheus.NewDesc("srv6_endoam_malformed_probes_total", "Probe TLVs End.OAM could not use; forwarded untouched.", nil, nil),
	prometheus.NewDesc("srv6_endoam_events_lost_total", "Probe events End.OAM could not write because its ring buffer was full.", nil, nil),
	prometheus.NewDesc("srv6_endoam_slot_write_failures_total", "Timestamp slot writes the kernel refused.", nil, nil),
	prometheus.NewDesc("srv6_endoam_ambiguous_routing_headers_total", "Packets with a stale-looking routing header in front of another: the one the kernel processed is uncertain, so End.OAM left them untouched.", nil, nil),
}

var descBPFUp = prometheus.NewDesc("srv6_endoam_counters_up", "1 when the End.OAM counters could be read.", nil, nil)

type bpfCollector struct{ prog *bpf.EndOAM }

func (b *bpfCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range bpfDescs {
		ch <- d
	}
	ch <- descBPFUp
}

func (b *bpfCollector) Collect(ch chan<- prometheus.Metric) {
	c, err := b.prog.Counters()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descBPFUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descBPFUp, prometheus.GaugeValue, 1)
	for i, v := range [...]uint64{c.Packets, c.Probes, c.Malformed, c.EventsLost, c.StoreFailed, c.Ambiguous} {
		ch <- prometheus.MustNewConstMetric(bpfDescs[i], prometheus.CounterValue, float64(v))
	}
}
