package agent

import (
	"errors"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/oam"
)

// Next-hop lookups for probes that set N (srh.ProbeNextHops): the node's FIB route toward
// the next segment, read over netlink with RTM_F_FIB_MATCH, which returns the matched route with
// every multipath next hop (no custom kernel helper, unlike the original End.BPF work). A probe
// flood must not turn into a netlink flood: lookups happen only for probes that already passed
// the allow-list and their collector's rate limit, answers are cached per (next segment,
// ingress interface, source) for nextHopCacheNs, the cache is bounded, and lookups that miss the cache
// spend tokens of one bucket for the whole agent; without a token the record says "limited".
const (
	nextHopCacheNs      = 1_000_000_000
	nextHopCacheEntries = 1024
	nextHopLookupRate   = 100 // lookups per second, sustained
	nextHopLookupBurst  = 20
	// Interface names of next hops are cached per ifindex for ifnameCacheNs (a renamed link
	// shows its new name after at most that), at most ifnameCacheEntries of them.
	ifnameCacheNs      = 1_000_000_000
	ifnameCacheEntries = 256
)

// routeGetter is the part of *netlink.Handle the lookups use (tests fake it).
type routeGetter interface {
	RouteGetWithOptions(dst net.IP, opts *netlink.RouteGetOptions) ([]netlink.Route, error)
	LinkByIndex(index int) (netlink.Link, error)
}

type nextHopKey struct {
	dst, src [16]byte
	iif      uint32
}

type ifnameEntry struct {
	atNs int64
	name string
}

type nextHopEntry struct {
	atNs   int64
	result oam.NextHops
}

// nextHopResolver answers next-hop questions for the pipeline's goroutine (not safe for
// concurrent use).
type nextHopResolver struct {
	get    routeGetter
	stats  *Stats
	bucket bucket
	cache  map[nextHopKey]*nextHopEntry
	// names caches interface names by ifindex; nowNs is the time of the current resolve.
	names map[int]ifnameEntry
	nowNs int64
	// fibMatchWorks is set once a FIB-match lookup succeeded: this kernel has RTM_F_FIB_MATCH,
	// so a later EINVAL is a blackhole route's answer, not a kernel that refuses the flag.
	fibMatchWorks bool
	// limited, noDest are the answers that need no lookup; reused.
	scratch oam.NextHops
}

func newNextHopResolver(get routeGetter, stats *Stats) *nextHopResolver {
	return &nextHopResolver{get: get, stats: stats, bucket: bucket{tokens: nextHopLookupBurst},
		cache: make(map[nextHopKey]*nextHopEntry), names: make(map[int]ifnameEntry)}
}

// resolve returns the next hops of a probe whose capture is capture and that arrived on iif, at
// monotonic time nowNs. The result is valid until the next call.
func (r *nextHopResolver) resolve(capture []byte, iif uint32, nowNs int64) *oam.NextHops {
	// The capture starts at the IPv6 header as the node forwards the probe: End.BPF runs after
	// the kernel set the destination to the next segment (bytes 24..40); the source is bytes
	// 8..24.
	if len(capture) < 40 || capture[0]>>4 != 6 {
		r.stats.NextHopNoDestination.Add(1)
		r.scratch = oam.NextHops{Destination: netip.IPv6Unspecified(), Status: oam.NextHopsNoDestination}
		return &r.scratch
	}
	r.nowNs = nowNs
	key := nextHopKey{dst: [16]byte(capture[24:40]), src: [16]byte(capture[8:24]), iif: iif}
	if e := r.cache[key]; e != nil && nowNs-e.atNs < nextHopCacheNs {
		r.stats.NextHopCacheHits.Add(1)
		return &e.result
	}
	dst, src := netip.AddrFrom16(key.dst), netip.AddrFrom16(key.src)
	if !r.bucket.take(nowNs, nextHopLookupRate/1e9, nextHopLookupBurst) {
		r.stats.NextHopLimited.Add(1)
		r.scratch = oam.NextHops{Destination: dst, Status: oam.NextHopsLimited}
		return &r.scratch
	}
	e := r.cache[key]
	if e == nil {
		if len(r.cache) >= nextHopCacheEntries {
			for k, old := range r.cache {
				if nowNs-old.atNs >= nextHopCacheNs {
					delete(r.cache, k)
				}
			}
			r.stats.NextHopCacheEntries.Store(int64(len(r.cache)))
		}
		if len(r.cache) >= nextHopCacheEntries {
			// Full of fresh answers: answer this one uncached.
			r.scratch = oam.NextHops{}
			r.lookup(dst, src, iif, &r.scratch)
			return &r.scratch
		}
		e = &nextHopEntry{}
		r.cache[key] = e
		r.stats.NextHopCacheEntries.Store(int64(len(r.cache)))
	}
	e.atNs = nowNs
	r.lookup(dst, src, iif, &e.result)
	return &e.result
}

// lookup asks the kernel for the route to dst from src as a packet arriving on iif would take
// it (the lookup seg6local does after End.BPF returns BPF_OK: input route, fib rules, with the
// destination, ingress interface and source; not the packet's mark or flow label), and fills out.
func (r *nextHopResolver) lookup(dst, src netip.Addr, iif uint32, out *oam.NextHops) {
	r.stats.NextHopLookups.Add(1)
	hops := out.Hops[:0]
	*out = oam.NextHops{Destination: dst, Hops: hops}
	ip := net.IP(dst.AsSlice())
	opts := &netlink.RouteGetOptions{IifIndex: int(iif), FIBMatch: true}
	if !src.IsUnspecified() {
		opts.SrcAddr = net.IP(src.AsSlice())
	}
	routes, err := r.get.RouteGetWithOptions(ip, opts)
	if err == nil {
		r.fibMatchWorks = true
	}
	if err != nil && iif != 0 && !isNoRoute(err) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EOPNOTSUPP) {
		// An input lookup can fail where an output one does not (an ingress interface gone
		// since the probe passed, ENODEV); the output lookup is the next best answer, marked
		// as such.
		opts.IifIndex = 0
		routes, err = r.get.RouteGetWithOptions(ip, opts)
		out.OutputLookup = true
	}
	if errors.Is(err, unix.EINVAL) && r.fibMatchWorks {
		// This kernel has RTM_F_FIB_MATCH: EINVAL is an IPv6 blackhole route's answer.
		err = unix.ENETUNREACH
	}
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
		// A kernel without RTM_F_FIB_MATCH (before 4.13): the one path it selects.
		opts.FIBMatch = false
		routes, err = r.get.RouteGetWithOptions(ip, opts)
		out.SelectedOnly = err == nil
		if errors.Is(err, unix.EINVAL) {
			err = unix.ENETUNREACH // both lookups refused: an IPv6 blackhole route answers EINVAL
		}
	}
	switch {
	case isNoRoute(err):
		out.Status, out.SelectedOnly = oam.NextHopsNoRoute, false
		return
	case err != nil || len(routes) == 0:
		r.stats.NextHopLookupErrors.Add(1)
		out.Status, out.SelectedOnly = oam.NextHopsError, false
		return
	}
	rt := &routes[0]
	switch rt.Type {
	case unix.RTN_UNICAST:
		if rt.Encap != nil && rt.Encap.Type() == nl.LWTUNNEL_ENCAP_SEG6_LOCAL {
			// A seg6local route: the next segment is another SID of this node (its End
			// function runs here before anything is forwarded).
			out.Status, out.SelectedOnly = oam.NextHopsLocal, false
			return
		}
	case unix.RTN_LOCAL, unix.RTN_ANYCAST, unix.RTN_MULTICAST, unix.RTN_BROADCAST:
		out.Status, out.SelectedOnly = oam.NextHopsLocal, false
		return
	default: // unreachable, prohibit, blackhole, throw
		out.Status, out.SelectedOnly = oam.NextHopsNoRoute, false
		return
	}
	out.Prefix = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	if rt.Dst != nil {
		if a, ok := netip.AddrFromSlice(rt.Dst.IP); ok {
			bits, _ := rt.Dst.Mask.Size()
			out.Prefix = netip.PrefixFrom(a, bits).Masked()
		}
	}
	out.Table = uint32(rt.Table)
	add := func(link int, gw net.IP, weight int, flags int) {
		if len(out.Hops) == oam.MaxNextHops {
			out.Truncated = true
			return
		}
		h := oam.NextHop{Gateway: netip.IPv6Unspecified(), Ifindex: uint32(link), Weight: uint16(min(max(weight, 1), 256)),
			Dead: flags&unix.RTNH_F_DEAD != 0, LinkDown: flags&unix.RTNH_F_LINKDOWN != 0, OnLink: flags&unix.RTNH_F_ONLINK != 0}
		if a, ok := netip.AddrFromSlice(gw); ok && a.Is6() {
			h.Gateway = a.WithZone("")
		}
		if h.Ifindex == 0 {
			return
		}
		h.Ifname = r.ifname(link)
		out.Hops = append(out.Hops, h)
	}
	if len(rt.MultiPath) > 0 {
		for _, nh := range rt.MultiPath {
			add(nh.LinkIndex, nh.Gw, nh.Hops+1, nh.Flags)
		}
	} else {
		add(rt.LinkIndex, rt.Gw, 1, rt.Flags)
	}
	if len(out.Hops) == 0 {
		// A unicast route without an interface (a nexthop object the kernel did not expand):
		// nothing to report as next hops.
		r.stats.NextHopLookupErrors.Add(1)
		*out = oam.NextHops{Destination: dst, Status: oam.NextHopsError, OutputLookup: out.OutputLookup, Hops: out.Hops[:0]}
		return
	}
	out.Status = oam.NextHopsOK
}

// ifname names an interface of the agent's namespace; "?" (a valid wire name) when it cannot.
// Names are cached per ifindex for ifnameCacheNs, so a lookup costs at most one LinkByIndex per
// next-hop interface and second.
func (r *nextHopResolver) ifname(index int) string {
	if e, ok := r.names[index]; ok && r.nowNs-e.atNs < ifnameCacheNs {
		return e.name
	}
	name := "?"
	if l, err := r.get.LinkByIndex(index); err == nil && l.Attrs() != nil {
		if n := l.Attrs().Name; n != "" && len(n) <= 15 {
			name = n
		}
	}
	if _, ok := r.names[index]; !ok && len(r.names) >= ifnameCacheEntries {
		clear(r.names)
	}
	r.names[index] = ifnameEntry{atNs: r.nowNs, name: name}
	return name
}

// isNoRoute: the kernel's answers for a destination without a forwarding route.
func isNoRoute(err error) bool {
	return errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) ||
		errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
}
