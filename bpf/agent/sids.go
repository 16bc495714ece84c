package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/bpf"
)

// SID ownership (docs/srv6-agent.md#sid-ownership). The agent knows, for every SID it was
// told to bind, whether the kernel's route for it runs this agent's End.OAM; netlink route
// notifications (and a periodic check, for notifications a full socket lost) keep that true:
// srv6_agent_sids_bound is what the kernel has. A SID whose route was replaced by another
// live agent (--take-over) or by a route srv6oam did not install is let go: this agent
// neither fights for it nor removes it on exit. A SID whose route disappeared is bound again
// (on_sid_lost: rebind, with a backoff) or ends the agent (on_sid_lost: exit).

// sidState is one configured SID.
type sidState struct {
	sid bpf.SID
	// bound: the kernel's route runs this agent's program. released: let go for good.
	bound, released bool
	// retry is when a lost SID is bound again (zero: not lost); backoff the wait after that.
	retry   time.Time
	backoff time.Duration
}

// sidSet is the agent's SIDs, shared by the watcher, Close and the metrics.
type sidSet struct {
	mu      sync.Mutex
	sids    []sidState
	closing bool
}

func (s *sidSet) boundCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i := range s.sids {
		if s.sids[i].bound {
			n++
		}
	}
	return n
}

// find returns the state of the SID route r is for, nil when r is not one of ours.
func (s *sidSet) find(r *netlink.Route) *sidState {
	if r.Dst == nil {
		return nil
	}
	addr, ok := netip.AddrFromSlice(r.Dst.IP)
	if !ok {
		return nil
	}
	bits, _ := r.Dst.Mask.Size()
	p := netip.PrefixFrom(addr.Unmap(), bits)
	for i := range s.sids {
		st := &s.sids[i]
		table := st.sid.Table
		if table == 0 {
			table = unix.RT_TABLE_MAIN
		}
		if st.sid.Prefix == p && table == r.Table {
			return st
		}
	}
	return nil
}

const (
	sidRecheckInterval = 10 * time.Second // the periodic check of every SID
	sidRebindFirst     = time.Second
	sidRebindMax       = 30 * time.Second
)

// errSIDLost ends an agent whose policy is on_sid_lost: exit.
var errSIDLost = errors.New("a SID's route disappeared (on_sid_lost: exit)")

// watchSIDs keeps the SIDs' state true to the kernel until ctx ends; it returns an error that
// must stop the agent (on_sid_lost: exit), nil otherwise. updates are the route notifications
// of the agent's namespace, h a netlink handle of its own there.
func (a *Agent) watchSIDs(ctx context.Context, updates <-chan netlink.RouteUpdate, h *netlink.Handle) error {
	tick := time.NewTicker(sidRecheckInterval)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-updates:
			if !ok {
				// The subscription ended (a socket error): fall back to the periodic check.
				updates = nil
				a.log.Warn("route notifications stopped; checking the SIDs every 10 s instead")
				continue
			}
			a.sids.mu.Lock()
			st := a.sids.find(&u.Route)
			a.sids.mu.Unlock()
			if st == nil {
				continue
			}
		case <-tick.C:
		case <-retry.C:
		}
		if err := a.checkSIDs(h); err != nil {
			return err
		}
		if next, ok := a.nextRebind(); ok {
			retry.Reset(max(time.Until(next), 0))
		}
	}
}

// checkSIDs compares every SID with the kernel's route for it and acts on what changed.
func (a *Agent) checkSIDs(h *netlink.Handle) error {
	a.sids.mu.Lock()
	defer a.sids.mu.Unlock()
	if a.sids.closing {
		return nil
	}
	now := time.Now()
	for i := range a.sids.sids {
		st := &a.sids.sids[i]
		if st.released {
			continue
		}
		owns, err := a.prog.Owns(h, st.sid)
		if err != nil {
			a.log.Warn("check SID", "sid", st.sid.String(), "err", err)
			continue
		}
		switch {
		case owns:
			if !st.bound {
				a.log.Info("SID bound again", "sid", st.sid.String())
			}
			st.bound, st.retry, st.backoff = true, time.Time{}, 0
		case st.bound || !st.retry.IsZero():
			if st.bound {
				if why, other := a.otherOwner(h, st.sid); other {
					a.log.Warn("SID taken from this agent; letting it go", "sid", st.sid.String(), "by", why)
					st.bound, st.released = false, true
					continue
				}
				a.log.Warn("route of SID disappeared", "sid", st.sid.String(), "policy", a.cfg.OnSIDLost)
				st.bound = false
				if a.cfg.OnSIDLost == OnSIDLostExit {
					return fmt.Errorf("SID %s: %w", st.sid, errSIDLost)
				}
				st.retry, st.backoff = now.Add(sidRebindFirst), sidRebindFirst
				continue
			}
			if now.Before(st.retry) {
				continue
			}
			err := a.prog.BindSID(h, st.sid)
			var owned *bpf.OwnedError
			switch {
			case err == nil:
				a.log.Info("SID bound again", "sid", st.sid.String())
				st.bound, st.retry, st.backoff = true, time.Time{}, 0
			case errors.As(err, &owned), errors.Is(err, bpf.ErrRouteInUse):
				a.log.Warn("SID taken while it was lost; letting it go", "sid", st.sid.String(), "err", err)
				st.retry, st.released = time.Time{}, true
			default:
				st.backoff = min(2*st.backoff, sidRebindMax)
				st.retry = now.Add(st.backoff)
				a.log.Warn("bind SID again", "sid", st.sid.String(), "err", err, "next_try", st.backoff.String())
			}
		}
	}
	return nil
}

// otherOwner says who has the SID's route now, when someone does: another live agent, or a
// route srv6oam did not install.
func (a *Agent) otherOwner(h *netlink.Handle, sid bpf.SID) (string, bool) {
	err := a.prog.CheckSID(h, sid)
	var owned *bpf.OwnedError
	switch {
	case errors.As(err, &owned):
		return owned.Error(), true
	case errors.Is(err, bpf.ErrRouteInUse):
		return err.Error(), true
	}
	return "", false
}

// nextRebind is the earliest retry of a lost SID.
func (a *Agent) nextRebind() (time.Time, bool) {
	a.sids.mu.Lock()
	defer a.sids.mu.Unlock()
	var next time.Time
	for i := range a.sids.sids {
		if t := a.sids.sids[i].retry; !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next, !next.IsZero()
}

// netnsName finds the name (under /run/netns, as ip netns and srv6-testnet create them) of
// the network namespace of the calling thread; "" when it has none.
func netnsName() (name string, id [2]uint64) {
	var self syscall.Stat_t
	if err := syscall.Stat("/proc/thread-self/ns/net", &self); err != nil {
		return "", id
	}
	id = [2]uint64{self.Dev, self.Ino}
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return "", id
	}
	for _, e := range entries {
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/run/netns", e.Name()), &st) == nil && st.Dev == id[0] && st.Ino == id[1] {
			return e.Name(), id
		}
	}
	return "", id
}

// errNamespaceGone ends an agent whose named network namespace was deleted.
var errNamespaceGone = errors.New("the agent's network namespace was deleted")

// watchNamespace returns errNamespaceGone when /run/netns/name no longer names the agent's
// namespace (ip netns del, srv6-testnet down), nil when ctx ends first. The namespace itself
// lives on while the agent is in it; its name is what its owner took away.
func watchNamespace(ctx context.Context, log *slog.Logger, name string, id [2]uint64) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join("/run/netns", name), &st); err != nil || st.Dev != id[0] || st.Ino != id[1] {
			log.Error("network namespace deleted; stopping", "netns", name)
			return fmt.Errorf("%w (%s)", errNamespaceGone, name)
		}
	}
}
