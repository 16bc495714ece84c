package output

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/srv6oam/srv6oam/probes/trace"
)

// Names labels addresses with node names and SIDs with their behaviour, and resolves the names
// of an --expect list. Node names come from a lab topology (AddNode) and, unless NoDNS, from
// the system resolver (/etc/hosts, then DNS) with a short timeout.
type Names struct {
	// NoDNS turns reverse and forward lookups through the system resolver off (srv6-trace -n).
	NoDNS bool
	// Timeout bounds each lookup through the system resolver; default 500ms.
	Timeout time.Duration
	// Resolver is the system resolver; nil means net.DefaultResolver.
	Resolver *net.Resolver

	mu        sync.Mutex
	byAddr    map[netip.Addr]string
	byName    map[string][]netip.Addr
	behaviors map[netip.Addr]string
	reverse   map[netip.Addr]string
	ioam      map[uint64]string
}

// AddIOAMNode records that IOAM node id belongs to node name.
func (n *Names) AddIOAMNode(id uint64, name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ioam == nil {
		n.ioam = map[uint64]string{}
	}
	n.ioam[id] = name
}

// IOAMNode returns the name of the node with IOAM node id id, "" when unknown.
func (n *Names) IOAMNode(id uint64) string {
	if n == nil {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ioam[id]
}

// AddNode records that addrs belong to node name.
func (n *Names) AddNode(name string, addrs ...netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byAddr == nil {
		n.byAddr, n.byName = map[netip.Addr]string{}, map[string][]netip.Addr{}
	}
	for _, a := range addrs {
		n.byAddr[a] = name
		n.byName[name] = append(n.byName[name], a)
	}
}

// AddSID records the behaviour ("End", "End.X", ...) a SID is bound to, and the node it is on.
func (n *Names) AddSID(sid netip.Addr, behavior, node string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.behaviors == nil {
		n.behaviors = map[netip.Addr]string{}
	}
	n.behaviors[sid] = behavior
	if node != "" {
		if n.byAddr == nil {
			n.byAddr, n.byName = map[netip.Addr]string{}, map[string][]netip.Addr{}
		}
		if _, ok := n.byAddr[sid]; !ok {
			n.byAddr[sid] = node
			n.byName[node] = append(n.byName[node], sid)
		}
	}
}

// Behavior returns the behaviour of a SID, "" when unknown.
func (n *Names) Behavior(sid netip.Addr) string {
	if n == nil {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.behaviors[sid]
}

// Name returns the name of an address: its node's name, else (without NoDNS) what reverse DNS
// says, else "". Reverse answers are cached.
func (n *Names) Name(ctx context.Context, a netip.Addr) string {
	if n == nil || !a.IsValid() {
		return ""
	}
	n.mu.Lock()
	if name, ok := n.byAddr[a]; ok {
		n.mu.Unlock()
		return name
	}
	if name, ok := n.reverse[a]; ok {
		n.mu.Unlock()
		return name
	}
	n.mu.Unlock()
	if n.NoDNS {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout())
	defer cancel()
	names, err := n.resolver().LookupAddr(ctx, a.String())
	name := ""
	if err == nil && len(names) > 0 {
		name = strings.TrimSuffix(names[0], ".")
	}
	n.mu.Lock()
	if n.reverse == nil {
		n.reverse = map[netip.Addr]string{}
	}
	n.reverse[a] = name
	n.mu.Unlock()
	return name
}

// Resolve returns every address a HOP of --expect stands for: the address itself, a node's
// addresses, or (without NoDNS) the IPv6 addresses the system resolver gives for the name.
func (n *Names) Resolve(ctx context.Context, hop string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(hop); err == nil {
		return []netip.Addr{a.WithZone("")}, nil
	}
	if n != nil {
		n.mu.Lock()
		addrs := append([]netip.Addr(nil), n.byName[hop]...)
		n.mu.Unlock()
		if len(addrs) > 0 {
			return addrs, nil
		}
		if n.NoDNS {
			return nil, &net.DNSError{Err: "not a node of the lab topology, and -n turned name lookups off", Name: hop, IsNotFound: true}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout())
	defer cancel()
	ips, err := n.resolver().LookupNetIP(ctx, "ip6", hop)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.Unmap().WithZone(""))
	}
	return out, nil
}

// PrefetchNames looks up the names of every responder of a report at once, so that printing
// does not wait for one reverse lookup after the other.
func (n *Names) PrefetchNames(ctx context.Context, rep *trace.Report) {
	if n == nil || n.NoDNS {
		return
	}
	var wg sync.WaitGroup
	seen := map[netip.Addr]bool{}
	visit := func(hops []trace.Hop) {
		for _, h := range hops {
			for _, a := range h.Responders() {
				if !seen[a] {
					seen[a] = true
					wg.Add(1)
					go func() { defer wg.Done(); n.Name(ctx, a) }()
				}
			}
		}
	}
	visit(rep.Hops)
	for _, b := range rep.Branches {
		visit(b.Hops)
	}
	wg.Wait()
}

func (n *Names) timeout() time.Duration {
	if n == nil || n.Timeout <= 0 {
		return 500 * time.Millisecond
	}
	return n.Timeout
}

func (n *Names) resolver() *net.Resolver {
	if n == nil || n.Resolver == nil {
		return net.DefaultResolver
	}
	return n.Resolver
}

// PrefetchHosts looks up the name of every host of a watch's state, so that drawing it waits
// for no resolver.
func (n *Names) PrefetchHosts(ctx context.Context, s *trace.WatchState) {
	for i := range s.Paths {
		for j := range s.Paths[i].Hops {
			for _, a := range s.Paths[i].Hops[j].Hosts {
				n.Name(ctx, a)
			}
		}
	}
}
