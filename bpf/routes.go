package bpf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// RouteProtocol marks the seg6local routes srv6oam installs (rtm_protocol), so that a restarted
// agent can find and replace or remove its own stale routes without touching anyone else's. Name
// it in /etc/iproute2/rt_protos.d/ for `ip route` to print "proto srv6oam".
const RouteProtocol netlink.RouteProtocol = 0xbe

// SID is a segment identifier to bind to end_oam.
type SID struct {
	// Prefix is the SID, usually a /128.
	Prefix netip.Prefix
	// Table is the routing table for the route; 0 means main.
	Table int
	// Device is the interface the route points at (seg6local routes need one; any up interface
	// of the node works, the End function chooses the next hop).
	Device string
}

func (s SID) String() string {
	table := s.Table
	if table == 0 {
		table = unix.RT_TABLE_MAIN
	}
	return fmt.Sprintf("%s dev %s table %d", s.Prefix, s.Device, table)
}

// Validate checks the SID's fields.
func (s SID) Validate() error {
	if !s.Prefix.IsValid() {
		return errors.New("sid: prefix: not set")
	}
	if !s.Prefix.Addr().Is6() || s.Prefix.Addr().Is4In6() {
		return fmt.Errorf("sid: prefix %s: not an IPv6 prefix", s.Prefix)
	}
	if s.Prefix != s.Prefix.Masked() {
		return fmt.Errorf("sid: prefix %s: host bits set (want %s)", s.Prefix, s.Prefix.Masked())
	}
	if s.Device == "" {
		return fmt.Errorf("sid %s: device: not set", s.Prefix)
	}
	if s.Table < 0 {
		return fmt.Errorf("sid %s: table %d: negative", s.Prefix, s.Table)
	}
	return nil
}

func handleOrDefault(h *netlink.Handle) *netlink.Handle {
	if h == nil {
		return &netlink.Handle{} // the current network namespace
	}
	return h
}

func (s SID) route(h *netlink.Handle) (*netlink.Route, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	link, err := h.LinkByName(s.Device)
	if err != nil {
		return nil, fmt.Errorf("sid %s: device %q: %w", s.Prefix, s.Device, err)
	}
	table := s.Table
	if table == 0 {
		table = unix.RT_TABLE_MAIN
	}
	addr := s.Prefix.Addr().As16()
	return &netlink.Route{
		Dst:       &net.IPNet{IP: net.IP(addr[:]), Mask: net.CIDRMask(s.Prefix.Bits(), 128)},
		LinkIndex: link.Attrs().Index,
		Table:     table,
		Protocol:  RouteProtocol,
		Family:    unix.AF_INET6,
	}, nil
}

// ErrRouteInUse: a route srv6oam did not install already exists for the SID.
var ErrRouteInUse = errors.New("a route for this SID exists and was not installed by srv6oam; remove it or choose another SID")

// BindSID installs (or replaces) the seg6local End.BPF route of sid with end_oam, in the network
// namespace of h (nil: the current one). It replaces a route srv6oam installed earlier whose
// program nobody holds any more (a stale one from a crashed run), but refuses to replace anyone
// else's: ErrRouteInUse for a route srv6oam did not install, an *OwnedError (ErrSIDOwned) for
// one whose program a live process holds (another srv6-agent).
func (e *EndOAM) BindSID(h *netlink.Handle, sid SID) error { return e.bindSID(h, sid, false) }

// TakeOverSID is BindSID that also replaces a live agent's route for sid (srv6-agent
// --take-over). That agent sees its route replaced and lets the SID go.
func (e *EndOAM) TakeOverSID(h *netlink.Handle, sid SID) error { return e.bindSID(h, sid, true) }

func (e *EndOAM) bindSID(h *netlink.Handle, sid SID, takeOver bool) error {
	h = handleOrDefault(h)
	route, err := sid.route(h)
	if err != nil {
		return fmt.Errorf("bind SID: %w", err)
	}
	existing, err := sidRoutes(h, route)
	if err != nil {
		return fmt.Errorf("bind SID %s: %w", sid, err)
	}
	for i := range existing {
		r := &existing[i]
		if r.Protocol != RouteProtocol {
			return fmt.Errorf("bind SID %s: %w (existing route: protocol %d)", sid, ErrRouteInUse, r.Protocol)
		}
		if takeOver {
			continue
		}
		if err := e.liveOwner(r, sid); err != nil {
			return fmt.Errorf("bind SID: %w", err)
		}
	}
	encap := &netlink.SEG6LocalEncap{Action: nl.SEG6_LOCAL_ACTION_END_BPF}
	encap.Flags[nl.SEG6_LOCAL_BPF] = true // SetProg alone does not make Encode emit the program
	if err := encap.SetProg(e.objs.EndOam.FD(), ProgramName); err != nil {
		return fmt.Errorf("bind SID %s: %w", sid, err)
	}
	route.Encap = encap
	if err := h.RouteReplace(route); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EAFNOSUPPORT) {
			return fmt.Errorf("bind SID %s: %w: seg6local routes are not supported (needs CONFIG_IPV6_SEG6_LWTUNNEL=y)", sid, err)
		}
		return fmt.Errorf("bind SID %s: %w", sid, classify(err))
	}
	return nil
}

// CheckSID says whether sid's route in h's namespace belongs to someone else: ErrRouteInUse for
// a route srv6oam did not install, an *OwnedError for one whose program another live process
// holds; nil when there is no route, a stale one, or e's own.
func (e *EndOAM) CheckSID(h *netlink.Handle, sid SID) error {
	h = handleOrDefault(h)
	route, err := sid.route(h)
	if err != nil {
		return err
	}
	existing, err := sidRoutes(h, route)
	if err != nil {
		return fmt.Errorf("SID %s: %w", sid, err)
	}
	for i := range existing {
		r := &existing[i]
		if r.Protocol != RouteProtocol {
			return fmt.Errorf("SID %s: %w (existing route: protocol %d)", sid, ErrRouteInUse, r.Protocol)
		}
		if err := e.liveOwner(r, sid); err != nil {
			return err
		}
	}
	return nil
}

// sidRoutes lists the routes for route's destination in its table.
func sidRoutes(h *netlink.Handle, route *netlink.Route) ([]netlink.Route, error) {
	rs, err := h.RouteListFiltered(unix.AF_INET6, &netlink.Route{Dst: route.Dst, Table: route.Table},
		netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	return rs, nil
}

// Owns reports whether the route of sid in h's namespace runs e's program: whether this
// End.OAM still owns the SID.
func (e *EndOAM) Owns(h *netlink.Handle, sid SID) (bool, error) {
	h = handleOrDefault(h)
	route, err := sid.route(h)
	if err != nil {
		return false, err
	}
	mine, err := e.ID()
	if err != nil {
		return false, err
	}
	existing, err := sidRoutes(h, route)
	if err != nil {
		return false, fmt.Errorf("SID %s: %w", sid, err)
	}
	for i := range existing {
		if id, ok := RouteProgramID(&existing[i]); ok && id == mine && existing[i].Protocol == RouteProtocol {
			return true, nil
		}
	}
	return false, nil
}

// UnbindSID removes the route of sid if it runs e's program, and reports whether it did: a
// route another agent took over, or anyone else's, stays.
func (e *EndOAM) UnbindSID(h *netlink.Handle, sid SID) (bool, error) {
	owns, err := e.Owns(h, sid)
	if err != nil || !owns {
		return false, err
	}
	return true, UnbindSID(h, sid)
}

// UnbindSID removes the route of sid if srv6oam installed it, whichever program it runs; a
// missing route is not an error. An agent unbinds its own SIDs with EndOAM.UnbindSID.
func UnbindSID(h *netlink.Handle, sid SID) error {
	h = handleOrDefault(h)
	route, err := sid.route(h)
	if err != nil {
		return fmt.Errorf("unbind SID: %w", err)
	}
	// The request names srv6oam's route protocol: the kernel deletes no one else's route.
	if err := h.RouteDel(route); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unbind SID %s: %w", sid, err)
	}
	return nil
}

// BoundRoutes lists the routes srv6oam installed (RouteProtocol) in every table of h's namespace.
func BoundRoutes(h *netlink.Handle) ([]netlink.Route, error) {
	h = handleOrDefault(h)
	routes, err := h.RouteListFiltered(unix.AF_INET6,
		&netlink.Route{Table: unix.RT_TABLE_UNSPEC, Protocol: RouteProtocol},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return nil, fmt.Errorf("list srv6oam routes: %w", err)
	}
	return routes, nil
}

// RemoveStaleRoutes deletes every route srv6oam installed in h's namespace except those of keep
// and those whose program a live process holds (another agent's), and returns how many it
// removed. A restarted agent calls it to clear what a crashed run left.
func RemoveStaleRoutes(h *netlink.Handle, keep []SID) (int, error) {
	h = handleOrDefault(h)
	routes, err := BoundRoutes(h)
	if err != nil {
		return 0, err
	}
	removed := 0
	var errs []error
	for _, r := range routes {
		if r.Dst != nil && kept(r, keep) {
			continue
		}
		if id, ok := RouteProgramID(&r); ok {
			if holders, err := ProgramHolders(id); err != nil || len(holders) > 0 {
				continue // another live agent's, or unknown: not stale
			}
		}
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("remove stale route %s table %d: %w", r.Dst, r.Table, err))
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

func kept(r netlink.Route, keep []SID) bool {
	for _, s := range keep {
		table := s.Table
		if table == 0 {
			table = unix.RT_TABLE_MAIN
		}
		ones, _ := r.Dst.Mask.Size()
		addr, ok := netip.AddrFromSlice(r.Dst.IP)
		if ok && table == r.Table && netip.PrefixFrom(addr, ones) == s.Prefix {
			return true
		}
	}
	return false
}
