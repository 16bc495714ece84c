package testnet

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// writeSysctls writes name=value pairs under /proc/sys/net in the calling
// thread's namespace (/proc/sys/net shows the namespace of the opener).
func writeSysctls(kv ...string) error {
	for i := 0; i+1 < len(kv); i += 2 {
		p := filepath.Join("/proc/sys/net", kv[i])
		if err := os.WriteFile(p, []byte(kv[i+1]), 0o644); err != nil {
			return fmt.Errorf("sysctl net/%s=%s: %w", kv[i], kv[i+1], err)
		}
	}
	return nil
}

// FlowLabelHashPolicy is the value of net.ipv6.fib_multipath_hash_policy
// set in every node: policy 0 hashes source, destination, flow label and
// next header (net/ipv6/route.c ip6_multipath_l3_keys), so flows that differ
// only in their flow label take different ECMP paths.
const FlowLabelHashPolicy = 0

// MultipathHashSeed is net.ipv4.fib_multipath_hash_seed (Linux 6.11+, used for IPv6 too) of
// every node: with it, which ECMP path a flow label takes is the same in every run of a lab,
// so that a test of ECMP discovery, whose stopping rule misses a branch in a few percent of
// random hash seeds by design (MDA at 95 %), gives the same answer every time. Kernels without
// the sysctl keep their random seed.
const MultipathHashSeed = 0x5eed

func (b *builder) nodeBase(ln *labNode) error {
	seg6 := "1"
	if ln.node.Plain {
		seg6 = "0"
	}
	hmac := "0"
	if ln.node.RequireHMAC {
		hmac = "1"
	}
	icmp := []string{"ipv6/icmp/ratelimit", strconv.Itoa(b.lab.topo.ICMPRateLimit(ln.node))}
	if b.lab.topo.ICMPRateLimit(ln.node) == 0 {
		budget := strconv.Itoa(NoICMPLimitBudget)
		icmp = append(icmp, "ipv4/icmp_msgs_per_sec", budget, "ipv4/icmp_msgs_burst", budget)
	}
	err := execIn(ln.ns, func() error {
		if err := writeSysctls(icmp...); err != nil {
			return err
		}
		if err := writeSysctls("ipv4/fib_multipath_hash_seed", strconv.Itoa(MultipathHashSeed)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return writeSysctls(
			"ipv6/conf/all/forwarding", "1",
			"ipv6/conf/default/forwarding", "1",
			"ipv6/conf/all/seg6_enabled", seg6,
			"ipv6/conf/default/seg6_enabled", seg6,
			"ipv6/conf/lo/seg6_enabled", seg6,
			"ipv6/conf/all/accept_dad", "0",
			"ipv6/conf/default/accept_dad", "0",
			"ipv6/conf/all/seg6_require_hmac", hmac,
			"ipv6/conf/default/seg6_require_hmac", hmac,
			"ipv6/fib_multipath_hash_policy", strconv.Itoa(FlowLabelHashPolicy),
		)
	})
	if err != nil {
		return err
	}
	lo, err := ln.h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := ln.h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	ln.anyIf = lo.Attrs().Index
	for _, p := range ln.node.Loopbacks {
		if err := ln.h.AddrAdd(lo, &netlink.Addr{IPNet: ipNet(p), Flags: unix.IFA_F_NODAD}); err != nil {
			return fmt.Errorf("add loopback %s: %w", p, err)
		}
	}
	return nil
}

func (b *builder) link(i int, lk *Link) error {
	l := b.lab
	na, nb := l.nodes[lk.A], l.nodes[lk.B]
	mtu := lk.MTU
	if mtu == 0 {
		mtu = 1500
	}
	ifa := &Interface{Name: "to-" + lk.B, Addr: lk.AAddr, Peer: lk.B, PeerAddr: lk.BAddr.Addr(), Link: lk}
	ifb := &Interface{Name: "to-" + lk.A, Addr: lk.BAddr, Peer: lk.A, PeerAddr: lk.AAddr.Addr(), Link: lk}
	if lk.Delay == 0 {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: ifa.Name, MTU: mtu}, PeerName: ifb.Name,
			PeerNamespace: netlink.NsFd(nb.ns), PeerMTU: uint32(mtu)}
		if err := na.h.LinkAdd(veth); err != nil {
			return fmt.Errorf("create veth %s/%s: %w", ifa.Name, ifb.Name, err)
		}
	} else {
		if err := b.delayLink(i, lk, na, nb, ifa, ifb, mtu); err != nil {
			return err
		}
	}
	if err := b.configureEnd(na, ifa); err != nil {
		return err
	}
	if err := b.configureEnd(nb, ifb); err != nil {
		return err
	}
	// Static neighbours: the lab knows both ends, and neighbour discovery
	// right after a link comes up loses its first solicitation now and
	// then (the kernel joins the solicited-node group from a workqueue
	// after link up), which costs the first packets a 1 s retransmit.
	if err := staticNeighbour(na, ifa, ifb.HardwareAddr); err != nil {
		return err
	}
	return staticNeighbour(nb, ifb, ifa.HardwareAddr)
}

func staticNeighbour(ln *labNode, ifc *Interface, peerMAC net.HardwareAddr) error {
	n := &netlink.Neigh{LinkIndex: ifc.Index, Family: unix.AF_INET6, State: netlink.NUD_PERMANENT,
		IP: ip(ifc.PeerAddr), HardwareAddr: peerMAC}
	if err := ln.h.NeighAdd(n); err != nil {
		return fmt.Errorf("node %s: static neighbour %s on %s: %w", ln.node.Name, ifc.PeerAddr, ifc.Name, err)
	}
	return nil
}

func (b *builder) configureEnd(ln *labNode, ifc *Interface) error {
	link, err := ln.h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("node %s: find %s: %w", ln.node.Name, ifc.Name, err)
	}
	ifc.Index = link.Attrs().Index
	ifc.HardwareAddr = link.Attrs().HardwareAddr
	seg6 := "1"
	if ln.node.Plain {
		seg6 = "0"
	}
	hmac := "0"
	if ln.node.RequireHMAC {
		hmac = "1"
	}
	conf := "ipv6/conf/" + ifc.Name + "/"
	if err := execIn(ln.ns, func() error {
		return writeSysctls(conf+"seg6_enabled", seg6, conf+"accept_dad", "0", conf+"seg6_require_hmac", hmac)
	}); err != nil {
		return fmt.Errorf("node %s: %w", ln.node.Name, err)
	}
	if err := ln.h.AddrAdd(link, &netlink.Addr{IPNet: ipNet(ifc.Addr), Flags: unix.IFA_F_NODAD}); err != nil {
		return fmt.Errorf("node %s: add %s to %s: %w", ln.node.Name, ifc.Addr, ifc.Name, err)
	}
	if err := ln.h.LinkSetUp(link); err != nil {
		return fmt.Errorf("node %s: set %s up: %w", ln.node.Name, ifc.Name, err)
	}
	ln.ifaces[ifc.Peer] = ifc
	if len(ln.ifaces) == 1 || ifc.Index < ln.anyIf {
		ln.anyIf = ifc.Index
	}
	return nil
}

// distances returns hop counts from every node to every node (-1:
// unreachable).
func (l *Lab) distances() map[string]map[string]int {
	adj := map[string][]string{}
	for _, lk := range l.topo.Links {
		adj[lk.A] = append(adj[lk.A], lk.B)
		adj[lk.B] = append(adj[lk.B], lk.A)
	}
	out := map[string]map[string]int{}
	for _, src := range l.order {
		d := map[string]int{src: 0}
		queue := []string{src}
		for len(queue) > 0 {
			cur := queue[0]
			queue = queue[1:]
			for _, nb := range adj[cur] {
				if _, seen := d[nb]; !seen {
					d[nb] = d[cur] + 1
					queue = append(queue, nb)
				}
			}
		}
		out[src] = d
	}
	return out
}

// routeTarget is a prefix that lives at one node (loopback, locator) or on
// one link (reachable at either end).
type routeTarget struct {
	prefix netip.Prefix
	at     []string
}

func (l *Lab) routeTargets(self string) []routeTarget {
	var out []routeTarget
	for _, name := range l.order {
		if name == self {
			continue
		}
		n := l.nodes[name].node
		for _, lo := range n.Loopbacks {
			out = append(out, routeTarget{lo.Masked(), []string{name}})
		}
		if n.Locator.IsValid() {
			out = append(out, routeTarget{n.Locator, []string{name}})
		}
	}
	for _, lk := range l.topo.Links {
		if lk.A == self || lk.B == self {
			continue
		}
		out = append(out, routeTarget{lk.AAddr.Masked(), []string{lk.A, lk.B}})
	}
	return out
}

func (b *builder) routes(ln *labNode) error {
	l := b.lab
	if b.dist == nil {
		b.dist = l.distances()
	}
	self := ln.node.Name
	policy := map[netip.Prefix]bool{}
	for _, p := range ln.node.Policies {
		if p.Table == 0 || p.Table == MainTable {
			policy[p.To] = true // a table's policy leaves main's route alone
		}
	}
	src := ln.node.Loopbacks[0].Addr()
	distTo := func(from string, at []string) int {
		best := -1
		for _, a := range at {
			if d, ok := b.dist[from][a]; ok && (best < 0 || d < best) {
				best = d
			}
		}
		return best
	}
	for _, tg := range l.routeTargets(self) {
		if policy[tg.prefix] {
			continue // the headend policy owns this prefix
		}
		d := distTo(self, tg.at)
		if d <= 0 {
			continue // unreachable (disconnected topology) or local
		}
		var hops []*Interface
		for _, ifc := range ln.ifaces {
			if distTo(ifc.Peer, tg.at) == d-1 {
				hops = append(hops, ifc)
			}
		}
		sort.Slice(hops, func(i, j int) bool { return hops[i].Name < hops[j].Name })
		r := &netlink.Route{Dst: ipNet(tg.prefix), Src: ip(src), Protocol: netlink.RouteProtocol(unix.RTPROT_STATIC)}
		if len(hops) == 1 {
			r.LinkIndex, r.Gw = hops[0].Index, ip(hops[0].PeerAddr)
		} else {
			for _, h := range hops {
				r.MultiPath = append(r.MultiPath, &netlink.NexthopInfo{LinkIndex: h.Index, Gw: ip(h.PeerAddr)})
			}
		}
		if err := ln.h.RouteAdd(r); err != nil {
			return fmt.Errorf("add route %s via %d next hop(s): %w", tg.prefix, len(hops), err)
		}
	}
	return nil
}

func (b *builder) srv6(ln *labNode) error {
	n := ln.node
	if n.Plain {
		return nil
	}
	for _, sid := range n.SIDs {
		if err := ln.addSID(sid, b.o.programs); err != nil {
			return err
		}
	}
	if err := execIn(ln.ns, func() error {
		if err := setTunnelSource(n.Loopbacks[0].Addr()); err != nil {
			return err
		}
		for _, k := range n.HMACKeys {
			if err := setHMACKey(k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	for _, p := range n.Policies {
		r := &netlink.Route{
			Dst: ipNet(p.To), LinkIndex: ln.anyIf, Src: ip(n.Loopbacks[0].Addr()),
			Encap:    &srhEncap{mode: p.Mode, segments: p.Segments, hmacKeyID: p.HMACKeyID},
			Protocol: netlink.RouteProtocol(unix.RTPROT_STATIC),
			Table:    p.Table,
		}
		if err := ln.h.RouteAdd(r); err != nil {
			return fmt.Errorf("policy to %s (%s %v): %w", p.To, p.Mode, p.Segments, err)
		}
	}
	return b.tables(ln)
}

// Rule priorities of a node's tables: the lab's locators first (main
// table), then the tables' iif rules, all before the main table's rule
// (32766). The kernel's VRF rule sits at 1000; these play its part.
const (
	locatorRulePriority = 999
	tableRulePriority   = 1000
)

// tables builds the node's VRF stand-ins (Table): per table, routes to
// the neighbours' loopbacks and an unreachable default, an iif rule per
// neighbour, and once for the node, rules that keep the lab's locators in
// the main table for packets those iif rules would send elsewhere.
func (b *builder) tables(ln *labNode) error {
	n := ln.node
	if len(n.Tables) == 0 {
		return nil
	}
	for _, other := range b.lab.order {
		loc := b.lab.nodes[other].node.Locator
		if !loc.IsValid() {
			continue
		}
		r := netlink.NewRule()
		r.Family, r.Dst, r.Table, r.Priority = unix.AF_INET6, ipNet(loc), unix.RT_TABLE_MAIN, locatorRulePriority
		if err := ln.h.RuleAdd(r); err != nil {
			return fmt.Errorf("rule to locator %s of %s: %w", loc, other, err)
		}
	}
	for _, tb := range n.Tables {
		for _, nb := range tb.Neighbours {
			ifc := ln.ifaces[nb]
			for _, lo := range b.lab.nodes[nb].node.Loopbacks {
				r := &netlink.Route{Dst: ipNet(lo.Masked()), LinkIndex: ifc.Index, Gw: ip(ifc.PeerAddr), Table: tb.ID,
					Src: ip(n.Loopbacks[0].Addr()), Protocol: netlink.RouteProtocol(unix.RTPROT_STATIC)}
				if err := ln.h.RouteAdd(r); err != nil {
					return fmt.Errorf("table %d: route to %s via %s: %w", tb.ID, lo, nb, err)
				}
			}
			rule := netlink.NewRule()
			rule.Family, rule.IifName, rule.Table, rule.Priority = unix.AF_INET6, ifc.Name, tb.ID, tableRulePriority
			if err := ln.h.RuleAdd(rule); err != nil {
				return fmt.Errorf("table %d: rule iif %s: %w", tb.ID, ifc.Name, err)
			}
		}
		unreach := &netlink.Route{Dst: ipNet(netip.MustParsePrefix("::/0")), Table: tb.ID, Type: unix.RTN_UNREACHABLE,
			Protocol: netlink.RouteProtocol(unix.RTPROT_STATIC)}
		if err := ln.h.RouteAdd(unreach); err != nil {
			return fmt.Errorf("table %d: unreachable default: %w", tb.ID, err)
		}
	}
	return nil
}

// seg6localEncap turns a SID into the kernel's seg6local attributes, its
// flavors included.
func (ln *labNode) seg6localEncap(sid SID, programs map[string]int) (netlink.Encap, int, error) {
	e, dev, err := ln.seg6localBase(sid, programs)
	if err != nil || len(sid.Flavors) == 0 {
		return e, dev, err
	}
	f := &seg6localFlavors{SEG6LocalEncap: e, lblen: uint8(sid.LBLen), nflen: uint8(sid.NFLen)}
	for _, name := range sid.Flavors {
		f.ops |= flavorOps[name]
	}
	return f, dev, nil
}

func (ln *labNode) seg6localBase(sid SID, programs map[string]int) (*netlink.SEG6LocalEncap, int, error) {
	e := &netlink.SEG6LocalEncap{}
	e.Flags[nl.SEG6_LOCAL_ACTION] = true
	dev := ln.anyIf
	switch sid.Behavior {
	case End:
		e.Action = nl.SEG6_LOCAL_ACTION_END
	case EndX, EndDX6:
		ifc, ok := ln.ifaces[sid.Via]
		if !ok {
			return nil, 0, fmt.Errorf("via %s: not a neighbour", sid.Via)
		}
		e.Action = nl.SEG6_LOCAL_ACTION_END_X
		if sid.Behavior == EndDX6 {
			e.Action = nl.SEG6_LOCAL_ACTION_END_DX6
		}
		e.Flags[nl.SEG6_LOCAL_NH6] = true
		e.In6Addr = ip(ifc.PeerAddr)
		dev = ifc.Index
	case EndDT6:
		e.Action = nl.SEG6_LOCAL_ACTION_END_DT6
		e.Flags[nl.SEG6_LOCAL_TABLE] = true
		e.Table = sid.Table
		if e.Table == 0 {
			e.Table = MainTable
		}
	case EndBPF:
		fd, ok := programs[sid.Program]
		if !ok || fd <= 0 {
			return nil, 0, fmt.Errorf("End.BPF program %q not supplied", sid.Program)
		}
		e.Action = nl.SEG6_LOCAL_ACTION_END_BPF
		e.Flags[nl.SEG6_LOCAL_BPF] = true
		if err := e.SetProg(fd, sid.Program); err != nil {
			return nil, 0, err
		}
	default:
		return nil, 0, fmt.Errorf("unknown behaviour %q", sid.Behavior)
	}
	return e, dev, nil
}

func (ln *labNode) addSID(sid SID, programs map[string]int) error {
	e, dev, err := ln.seg6localEncap(sid, programs)
	if err != nil {
		return fmt.Errorf("sid %s (%s): %w", sid.Addr, sid.Behavior, err)
	}
	bits := sid.Bits
	if bits == 0 {
		bits = 128
	}
	r := &netlink.Route{Dst: ipNet(netip.PrefixFrom(sid.Addr, bits)), LinkIndex: dev, Encap: e,
		Protocol: netlink.RouteProtocol(unix.RTPROT_STATIC)}
	if err := ln.h.RouteAdd(r); err != nil {
		switch {
		case errors.Is(err, unix.EEXIST):
			return fmt.Errorf("sid %s (%s): already bound: %w", sid.Addr, sid.Behavior, err)
		case len(sid.Flavors) > 0 && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)):
			return fmt.Errorf("sid %s (%s flavors %v): %w: this kernel refuses the flavors (Linux implements psp and next-csid, since 6.1 and 6.3)",
				sid.Addr, sid.Behavior, sid.Flavors, err)
		}
		return fmt.Errorf("sid %s (%s): %w", sid.Addr, sid.Behavior, err)
	}
	return nil
}

// AddSID binds a SID in node at run time. For End.BPF, fd is the program
// (the kernel takes its own reference); it is ignored otherwise. The SID
// may lie outside the node's locator (the caller's choice); it is removed
// with the lab, or earlier with DelSID.
func (l *Lab) AddSID(node string, sid SID, fd int) error {
	n, err := l.node(node)
	if err != nil {
		return err
	}
	var progs map[string]int
	if sid.Behavior == EndBPF {
		if sid.Program == "" {
			sid.Program = "end_bpf"
		}
		progs = map[string]int{sid.Program: fd}
	}
	if err := n.addSID(sid, progs); err != nil {
		return fmt.Errorf("node %s: %w", node, err)
	}
	return nil
}

// DelSID removes a SID bound in node (by AddSID or the topology).
func (l *Lab) DelSID(node string, sid netip.Addr) error {
	n, err := l.node(node)
	if err != nil {
		return err
	}
	r := &netlink.Route{Dst: ipNet(netip.PrefixFrom(sid, 128))}
	if err := n.h.RouteDel(r); err != nil {
		return fmt.Errorf("node %s: delete sid %s: %w", node, sid, err)
	}
	return nil
}
