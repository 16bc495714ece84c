package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vishvananda/netlink"

	"github.com/srv6oam/srv6oam/bpf"
	"github.com/srv6oam/srv6oam/probes"
)

// ErrForwardingDisabled: the node does not forward IPv6, so End.OAM SIDs would drop every packet.
var ErrForwardingDisabled = errors.New("IPv6 forwarding is disabled: End.BPF forwards to the next segment; set sysctl net.ipv6.conf.all.forwarding=1")

// End.OAM wakes the reader only once a quarter of the ring holds events (BPF_RB_NO_WAKEUP below
// that); the reader is flushed every flushInterval, so at most flushInterval passes between a
// probe and its report while a busy node is not woken once per probe.
const flushInterval = 10 * time.Millisecond

// Agent is a running srv6-agent: End.OAM loaded, SIDs bound, sockets open.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	handle *netlink.Handle
	// fibHandle serves next-hop lookups from the read loop.
	fibHandle *netlink.Handle
	prog      *bpf.EndOAM
	// sids are the configured SIDs and whether each is bound (sids.go).
	sids sidSet
	// watchHandle, routeUpdates and routeDone: the SID watcher's netlink handle and route
	// notifications, opened in New's namespace.
	watchHandle  *netlink.Handle
	routeUpdates chan netlink.RouteUpdate
	routeDone    chan struct{}
	// netns names the agent's network namespace under /run/netns ("" when unnamed); id is
	// its device and inode.
	netns    string
	netnsID  [2]uint64
	reader   *ringbuf.Reader
	conn     *net.UDPConn
	metrics  net.Listener
	registry *prometheus.Registry
	pipe     *pipeline
	stats    Stats
	refl     *Reflector
	// pt are the Path Tracing midpoints; ptHandle is their load meter's netlink handle.
	pt       []*ptPort
	ptHandle *netlink.Handle

	closeOnce sync.Once
	closeErr  error
}

// Run sets up an agent with New and serves it with Agent.Run until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	a, err := New(cfg, log)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// New checks the host, loads End.OAM, binds the SIDs (replacing this agent's stale routes and
// removing stale routes of SIDs no longer configured), opens the report socket and the metrics
// listener. Everything happens in the calling goroutine's network namespace. On failure it undoes
// what it did. log may be nil.
func New(cfg Config, log *slog.Logger) (a *Agent, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg = cfg.withDefaults()
	sids, _ := cfg.BPFSIDs()
	allow, _ := cfg.AllowList()

	// A reflector-only agent (no SIDs) needs neither End.BPF nor forwarding.
	if len(sids) > 0 {
		if err := bpf.CheckFeatures(); err != nil {
			return nil, fmt.Errorf("refusing to start: %w", err)
		}
		if err := checkForwarding(); err != nil {
			return nil, fmt.Errorf("refusing to start: %w", err)
		}
	}

	a = &Agent{cfg: cfg, log: log}
	a.netns, a.netnsID = netnsName()
	defer func() {
		if err != nil {
			if cerr := a.Close(); cerr != nil {
				log.Error("cleanup after failed start", "err", cerr)
			}
			a = nil
		}
	}()
	if a.handle, err = netlink.NewHandle(); err != nil {
		return a, fmt.Errorf("open netlink: %w", err)
	}
	if cfg.MetricsListen != "" {
		if a.metrics, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			return a, fmt.Errorf("metrics_listen %s: %w", cfg.MetricsListen, err)
		}
	}
	if cfg.Reflector != nil {
		senders, _ := cfg.ReflectorAllowList()
		if a.refl, err = NewReflector(*cfg.Reflector, senders); err != nil {
			return a, err
		}
		log.Info("STAMP reflector listening", "addr", a.refl.Addr().String(), "senders", len(senders))
	}
	if len(cfg.PathTracing) > 0 {
		if a.pt, err = attachPT(a.handle, cfg.PathTracing, log); err != nil {
			return a, err
		}
		if a.ptHandle, err = netlink.NewHandle(); err != nil {
			return a, fmt.Errorf("open netlink for the path tracing load meter: %w", err)
		}
	}
	removed, err := bpf.RemoveStaleRoutes(a.handle, sids)
	if err != nil {
		return a, err
	}
	if removed > 0 {
		log.Info("removed stale srv6oam routes", "count", removed)
	}
	if len(sids) == 0 {
		a.registry = newRegistry(&a.stats, nil, a.sids.boundCount, a.refl)
		return a, nil
	}
	if a.prog, err = bpf.Load(bpf.Options{NodeID: cfg.NodeID, ProbeTLVType: cfg.ProbeTLVType, SlotsTLVType: cfg.SlotsTLVType, RingBytes: cfg.RingBufferBytes}); err != nil {
		return a, err
	}
	if a.reader, err = ringbuf.NewReader(a.prog.Events()); err != nil {
		return a, fmt.Errorf("open End.OAM ring buffer: %w", err)
	}
	if a.conn, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified}); err != nil {
		return a, fmt.Errorf("open report socket: %w", err)
	}
	// Notifications first, so that nothing that happens to a SID after its bind is missed.
	if a.watchHandle, err = netlink.NewHandle(); err != nil {
		return a, fmt.Errorf("open netlink for the SID watcher: %w", err)
	}
	a.routeUpdates, a.routeDone = make(chan netlink.RouteUpdate, 64), make(chan struct{})
	if err := netlink.RouteSubscribeWithOptions(a.routeUpdates, a.routeDone, netlink.RouteSubscribeOptions{
		ErrorCallback: func(err error) { log.Warn("route notifications", "err", err) },
	}); err != nil {
		close(a.routeDone)
		a.routeDone = nil
		return a, fmt.Errorf("subscribe to route notifications: %w", err)
	}
	for _, sid := range sids {
		bind := a.prog.BindSID
		if cfg.TakeOver {
			bind = a.prog.TakeOverSID
		}
		if err := bind(a.handle, sid); err != nil {
			return a, err
		}
		a.sids.sids = append(a.sids.sids, sidState{sid: sid, bound: true})
		log.Info("bound SID to End.OAM", "sid", sid.String())
	}
	a.registry = newRegistry(&a.stats, a.prog, a.sids.boundCount, a.refl)
	trusted, _ := cfg.TrustedList()
	a.pipe = newPipeline(pipelineConfig{NodeID: cfg.NodeID, Allow: allow, Trusted: trusted,
		Rate: cfg.ReportRate, Burst: float64(cfg.ReportBurst), TotalRate: cfg.ReportRateTotal, TotalBurst: cfg.ReportRateTotal},
		a.conn, &a.stats, probes.LocalClock)
	// Its own handle: a.handle belongs to Close, this one to the read loop's goroutine; both
	// stay in the namespace New runs in, wherever Run is called from.
	if a.fibHandle, err = netlink.NewHandle(); err != nil {
		return a, fmt.Errorf("open netlink for next-hop lookups: %w", err)
	}
	a.pipe.nextHops = newNextHopResolver(a.fibHandle, &a.stats)
	return a, nil
}

func checkForwarding() error {
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/all/forwarding")
	if err != nil {
		return fmt.Errorf("read net.ipv6.conf.all.forwarding: %w", err)
	}
	if strings.TrimSpace(string(b)) != "1" {
		return ErrForwardingDisabled
	}
	return nil
}

// ProgramID is the kernel's id of this agent's End.OAM program.
func (a *Agent) ProgramID() (ebpf.ProgramID, error) {
	if a.prog == nil {
		return 0, errors.New("End.OAM is not loaded: the agent binds no SID")
	}
	info, err := a.prog.Program().Info()
	if err != nil {
		return 0, fmt.Errorf("End.OAM program info: %w", err)
	}
	id, ok := info.ID()
	if !ok {
		return 0, errors.New("End.OAM program info: kernel reports no id")
	}
	return id, nil
}

// Stats are the agent's counters.
func (a *Agent) Stats() *Stats { return &a.stats }

// SIDsBound is the number of SIDs whose route runs this agent's End.OAM now (the
// srv6_agent_sids_bound gauge).
func (a *Agent) SIDsBound() int { return a.sids.boundCount() }

// Reflector is the agent's STAMP reflector, nil when not configured.
func (a *Agent) Reflector() *Reflector { return a.refl }

// Counters reads End.OAM's per-CPU counters.
func (a *Agent) Counters() (bpf.Counters, error) {
	if a.prog == nil {
		return bpf.Counters{}, errors.New("End.OAM is not loaded: the agent binds no SID")
	}
	return a.prog.Counters()
}

// Registry is the agent's Prometheus registry.
func (a *Agent) Registry() *prometheus.Registry { return a.registry }

// MetricsAddr is the address /metrics listens on, nil when disabled.
func (a *Agent) MetricsAddr() net.Addr {
	if a.metrics == nil {
		return nil
	}
	return a.metrics.Addr()
}

// Run reads probe events and sends reports until ctx ends, then removes the agent's routes and
// program (Close). It returns the first error that stopped it, or nil after a cancellation.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var srv *http.Server
	if a.metrics != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(a.metrics); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("metrics server", "err", err)
			}
		}()
	}
	// What stops the agent on its own: a lost SID under on_sid_lost: exit, its namespace
	// deleted.
	var watchErr, nsErr error
	if a.routeUpdates != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if watchErr = a.watchSIDs(ctx, a.routeUpdates, a.watchHandle); watchErr != nil {
				cancel()
			}
		}()
	}
	if a.netns != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if nsErr = watchNamespace(ctx, a.log, a.netns, a.netnsID); nsErr != nil {
				cancel()
			}
		}()
	}
	if len(a.pt) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			meterPT(ctx, a.ptHandle, a.pt, ptMeterInterval, a.log)
		}()
	}
	var reflErr error
	if a.refl != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if reflErr = a.refl.Serve(ctx); reflErr != nil {
				cancel()
			}
		}()
	}
	// The reader blocks in epoll until End.OAM wakes it (a quarter of the ring full); the
	// flusher makes it hand over fewer, and closing the reader is what wakes the read loop on cancellation.
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(flushInterval)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				if a.reader == nil {
					continue
				}
				if err := a.reader.Flush(); err != nil {
					a.log.Debug("flush ring buffer", "err", err)
				}
				if c, err := a.prog.Counters(); err == nil {
					a.stats.LostSamples.Store(c.EventsLost)
				}
				continue
			case <-ctx.Done():
			}
			break
		}
		if a.reader != nil {
			a.reader.Close()
		}
		if srv != nil {
			shutdownCtx, c := context.WithTimeout(context.Background(), 2*time.Second)
			defer c()
			srv.Shutdown(shutdownCtx) //nolint:errcheck // best effort on exit
		}
	}()
	var runErr error
	if a.reader != nil {
		runErr = a.readLoop()
	} else {
		<-ctx.Done()
	}
	cancel()
	wg.Wait()
	closeErr := a.Close()
	return errors.Join(runErr, reflErr, watchErr, nsErr, closeErr)
}

// readLoop reads the ring buffer into one reused record. Records are batched per collector while
// the ring has more; the batches are flushed as soon as it runs dry (a read with a deadline of
// now), so batching never delays a report behind an idle ring.
func (a *Agent) readLoop() error {
	rec := ringbuf.Record{RawSample: make([]byte, 0, 512)}
	start := time.Now()
	draining := false
	for {
		err := a.reader.ReadInto(&rec)
		switch {
		case errors.Is(err, ringbuf.ErrClosed):
			a.pipe.flushAll()
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, ringbuf.ErrFlushed):
			a.pipe.flushAll()
			a.reader.SetDeadline(time.Time{})
			draining = false
			continue
		case err != nil:
			return fmt.Errorf("read End.OAM ring buffer: %w", err)
		}
		a.pipe.handle(rec.RawSample, int64(time.Since(start)))
		if !draining {
			a.reader.SetDeadline(time.Now())
			draining = true
		}
	}
}

// Close removes the agent's routes, then closes the program, ring, sockets and listener. Run
// calls it; calling it again does nothing.
func (a *Agent) Close() error {
	a.closeOnce.Do(func() {
		var errs []error
		a.sids.mu.Lock()
		a.sids.closing = true
		// Every SID bound at some point, lost ones included (their route may be back): a
		// route that runs another program is not this agent's to remove.
		for i := range a.sids.sids {
			st := &a.sids.sids[i]
			if st.released {
				continue
			}
			removed, err := a.prog.UnbindSID(a.handle, st.sid)
			switch {
			case err != nil:
				errs = append(errs, err)
			case removed:
				a.log.Info("unbound SID", "sid", st.sid.String())
			default:
				a.log.Info("SID no longer bound to this agent; nothing to remove", "sid", st.sid.String())
			}
			st.bound = false
		}
		a.sids.mu.Unlock()
		if a.routeDone != nil {
			close(a.routeDone)
		}
		if a.reader != nil {
			a.reader.Close()
		}
		if a.prog != nil {
			if err := a.prog.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if a.conn != nil {
			a.conn.Close()
		}
		if a.refl != nil {
			a.refl.Close()
		}
		if err := closePT(a.pt); err != nil {
			errs = append(errs, err)
		}
		if a.ptHandle != nil {
			a.ptHandle.Close()
		}
		if a.metrics != nil {
			a.metrics.Close()
		}
		if a.handle != nil {
			a.handle.Close()
		}
		if a.fibHandle != nil {
			a.fibHandle.Close()
		}
		if a.watchHandle != nil {
			a.watchHandle.Close()
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}
