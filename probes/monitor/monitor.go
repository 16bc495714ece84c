package monitor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/delay"
	"github.com/srv6oam/srv6oam/probes/pathtrace"
)

// Options configure a Monitor. The zero value is usable.
type Options struct {
	// Exec runs the calls that create sockets or pick source addresses (probes.Dial,
	// probes.SourceFor, net.Listen) so that they happen in a chosen network namespace (a
	// lab node's in tests); nil calls them directly.
	Exec func(fn func() error) error
	// Interface binds the probe sockets to one interface.
	Interface string
	// Results, when set, receives one JSON object per resolved probe (JSON Lines).
	Results io.Writer
	// Logger logs reloads, send errors and liveness changes; nil discards.
	Logger *slog.Logger
}

// Monitor runs jobs. Create it with New, start it with Run; Reload, Jobs, Handler and Lateness
// may be called from any goroutine.
type Monitor struct {
	opts Options
	log  *slog.Logger
	// conn, demux and loop are the echo jobs': one socket pair, one demultiplexer, one
	// send/expire loop on which every echo job is a ping session (probes.Loop).
	conn  *probes.Conn
	demux *probes.Demux
	loop  *probes.EchoLoop
	// tloop is the timestamped jobs' send/expire loop: each is a probes/delay session on it.
	tloop *probes.Loop[delay.Event]
	// iloop is the ioam jobs' loop, each a probes/pathtrace session on it; they share one
	// socket pair (iconn), whose returning probes ireturns routes, opened for the first.
	iloop    *probes.Loop[probes.Received]
	imu      sync.Mutex
	iconn    probes.PacketConn
	ireturns *pathtrace.Returns
	reg      *prometheus.Registry

	// reloadMu serialises Reload: jobs are prepared under it without holding mu, so the
	// receiver's look-ups are never held up by building thousands of jobs.
	reloadMu sync.Mutex
	// mu guards jobs and runCtx (written under reloadMu and mu, read under mu).
	mu       sync.RWMutex
	jobs     map[string]*runningJob
	nextID   uint16
	srcMu    sync.Mutex
	sources  map[netip.Addr]netip.Addr // source address by first hop, guarded by srcMu
	runCtx   context.Context
	wg       sync.WaitGroup
	rng      *rand.Rand // phases of the echo jobs; guarded by mu
	resultMu sync.Mutex
	results  *bufio.Writer

	// reloadOK and reloadAt describe the last configuration load (Serve's reloads included).
	reloadOK atomic.Bool
	reloadAt atomic.Int64

	// dmux is the one set of sockets every timestamped job shares (probes/delay.Mux), opened
	// by the first timestamped job and closed when Run returns; guarded by dmuxMu.
	dmuxMu sync.Mutex
	dmux   *delay.Mux

	latMu    sync.Mutex
	lateness *hdrhistogram.Histogram
	latProm  prometheus.Histogram
}

// New opens the shared socket pair and prepares cfg's jobs; nothing is sent until Run.
func New(cfg *Config, opts Options) (*Monitor, error) {
	if opts.Exec == nil {
		opts.Exec = func(fn func() error) error { return fn() }
	}
	m := &Monitor{
		opts:     opts,
		log:      opts.Logger,
		jobs:     map[string]*runningJob{},
		rng:      rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		nextID:   uint16(rand.Uint32()),
		sources:  map[netip.Addr]netip.Addr{},
		reg:      prometheus.NewRegistry(),
		lateness: hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 2),
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Results != nil {
		m.results = bufio.NewWriterSize(opts.Results, 64<<10)
	}
	err := opts.Exec(func() error {
		c, err := probes.Dial(probes.Config{Interface: opts.Interface})
		m.conn = c
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("monitor: open the shared probe sockets: %w", err)
	}
	m.demux = probes.NewDemux(m.conn)
	m.loop = probes.NewEchoLoop(m.demux)
	m.loop.TakeAnswers()
	m.tloop = probes.NewLoop[delay.Event]()
	m.iloop = probes.NewLoop[probes.Received]()
	m.registerMetrics()
	if _, err := m.Reload(cfg); err != nil {
		m.demux.Close()
		return nil, err
	}
	return m, nil
}

// ReloadStats says what a Reload did.
type ReloadStats struct {
	Added, Removed, Changed, Kept int
}

// Reload replaces the job set with cfg's: jobs whose definition did not change keep their
// state (sequence numbers, liveness, counters, histograms); changed jobs restart; removed
// jobs stop and their series disappear. On error nothing changes.
func (m *Monitor) Reload(cfg *Config) (ReloadStats, error) {
	var st ReloadStats
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	// Routes may have changed since the last load: pick source addresses afresh.
	m.srcMu.Lock()
	clear(m.sources)
	m.srcMu.Unlock()
	// Prepare every new or changed job first, so that an error leaves the old set running.
	next := make(map[string]*runningJob, len(cfg.Jobs))
	var fresh []*runningJob
	usedIDs := map[uint16]bool{}
	for _, old := range m.jobs {
		usedIDs[old.id] = true
	}
	for _, j := range cfg.Jobs {
		if old, ok := m.jobs[j.Name]; ok && old.job.Equal(j) {
			next[j.Name] = old
			st.Kept++
			continue
		}
		id, err := m.allocID(usedIDs)
		if err != nil {
			return ReloadStats{}, err
		}
		rj, err := m.prepare(j, id)
		if err != nil {
			return ReloadStats{}, fmt.Errorf("%s:%d: job %q: %w", cfg.File, j.Line, j.Name, err)
		}
		next[j.Name] = rj
		fresh = append(fresh, rj)
		if _, ok := m.jobs[j.Name]; ok {
			st.Changed++
		} else {
			st.Added++
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, old := range m.jobs {
		if next[name] != old {
			old.stop()
			if next[name] == nil {
				st.Removed++
			}
		}
	}
	m.jobs = next
	for _, rj := range fresh {
		if m.runCtx != nil {
			m.start(rj)
		}
	}
	m.noteReload(true)
	m.log.Info("jobs loaded", "file", cfg.File, "added", st.Added, "removed", st.Removed, "changed", st.Changed, "kept", st.Kept)
	return st, nil
}

// allocID picks the echo identifier of a new job: the next one not in use, never 0 (0 tells
// every prober to choose its own identifier, which the monitor would not know: the job's probes
// would leave with one and its replies be awaited under another).
func (m *Monitor) allocID(used map[uint16]bool) (uint16, error) {
	for range 1 << 16 {
		id := m.nextID
		m.nextID++
		if id != 0 && !used[id] {
			used[id] = true
			return id, nil
		}
	}
	return 0, errors.New("monitor: no free ICMPv6 echo identifier (65535 jobs)")
}

// noteReload records the outcome of a configuration load for the config_last_reload metrics.
func (m *Monitor) noteReload(ok bool) {
	m.reloadOK.Store(ok)
	if ok {
		m.reloadAt.Store(time.Now().UnixNano())
	}
}

// sourceFor picks (and caches) the source address toward a first hop, in the monitor's
// namespace.
func (m *Monitor) sourceFor(firstHop netip.Addr) (netip.Addr, error) {
	m.srcMu.Lock()
	defer m.srcMu.Unlock()
	if s, ok := m.sources[firstHop]; ok {
		return s, nil
	}
	var src netip.Addr
	err := m.opts.Exec(func() error {
		var err error
		src, err = probes.SourceFor(context.Background(), firstHop, m.opts.Interface)
		return err
	})
	if err != nil {
		return netip.Addr{}, err
	}
	m.sources[firstHop] = src
	return src, nil
}

// start begins a prepared job by its kind's prober. Called with m.mu held and m.runCtx set.
func (m *Monitor) start(rj *runningJob) {
	if m.runCtx.Err() != nil {
		return // Run is stopping: start nothing it would not wait for
	}
	probers[rj.job.Kind].start(m, rj)
}

// Run sends and receives until ctx is done, then stops every job and closes the sockets.
func (m *Monitor) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.mu.Lock()
	if m.runCtx != nil {
		m.mu.Unlock()
		return errors.New("monitor: Run called twice")
	}
	m.runCtx = ctx
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		_ = m.tloop.Run(ctx, false) // nothing stops it but ctx: a failed Mux ends its jobs
	}()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		_ = m.iloop.Run(ctx, false)
	}()
	for _, rj := range m.jobs {
		m.start(rj)
	}
	m.mu.Unlock()

	// The echo jobs' loop: until ctx is done, or the shared socket fails.
	err := m.loop.Run(ctx, false)
	cancel()        // before taking mu below: a Reload from now on starts nothing
	m.loop.Close()  // answers on their way to the loop are dropped
	m.demux.Close() // closes the socket
	m.mu.Lock()
	for _, rj := range m.jobs {
		rj.stop()
	}
	m.mu.Unlock()
	m.imu.Lock()
	if m.iconn != nil {
		m.iconn.Close() // ends the ioam jobs' reader
	}
	m.imu.Unlock()
	m.wg.Wait()
	m.tloop.Close()
	m.iloop.Close()
	m.dmuxMu.Lock()
	if m.dmux != nil {
		m.dmux.Close()
		m.dmux = nil
	}
	m.dmuxMu.Unlock()
	m.flushResults()
	if err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	return nil
}

// noteSend records how late an echo probe left compared with its plan.
func (m *Monitor) noteSend(planned, at time.Time) {
	late := at.Sub(planned)
	m.latMu.Lock()
	_ = m.lateness.RecordValue(max(int64(late/time.Microsecond), 1))
	m.latMu.Unlock()
	m.latProm.Observe(max(late, 0).Seconds())
}

// LatenessStats is the distribution of how late probes left compared with their schedule.
type LatenessStats struct {
	Count         int64
	P50, P99, Max time.Duration
}

// Lateness returns the scheduling lateness so far; ResetLateness starts a new window.
func (m *Monitor) Lateness() LatenessStats {
	m.latMu.Lock()
	defer m.latMu.Unlock()
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return LatenessStats{Count: m.lateness.TotalCount(), P50: us(m.lateness.ValueAtQuantile(50)),
		P99: us(m.lateness.ValueAtQuantile(99)), Max: us(m.lateness.Max())}
}

// ResetLateness clears the lateness distribution.
func (m *Monitor) ResetLateness() {
	m.latMu.Lock()
	m.lateness.Reset()
	m.latMu.Unlock()
}

// Jobs returns every job's current state, sorted by name.
func (m *Monitor) Jobs() []JobState {
	m.mu.Lock()
	jobs := make([]*runningJob, 0, len(m.jobs))
	for _, rj := range m.jobs {
		jobs = append(jobs, rj)
	}
	m.mu.Unlock()
	sort.Slice(jobs, func(i, k int) bool { return jobs[i].job.Name < jobs[k].job.Name })
	out := make([]JobState, len(jobs))
	for i, rj := range jobs {
		out[i] = rj.state()
	}
	return out
}

// History is job name's recent past over the last window (at most an hour): its series
// (round trip, and each segment's one-way delay for timestamped and stamp jobs) by bucket, and
// its last liveness transitions. ok is false when there is no such job.
func (m *Monitor) History(name string, window time.Duration) (JobHistory, bool) {
	m.mu.Lock()
	rj := m.jobs[name]
	m.mu.Unlock()
	if rj == nil {
		return JobHistory{}, false
	}
	since := time.Now().Add(-window)
	rj.mu.Lock()
	defer rj.mu.Unlock()
	h := JobHistory{Name: name, BucketSeconds: historyStep, Transitions: []TransitionHistory{}}
	for i := range rj.hist.series {
		name, from, to := "round trip", "", ""
		if i > 0 {
			name = fmt.Sprintf("segment %d one-way", i-1)
			if i-1 < len(rj.segs) {
				from, to = rj.segs[i-1].from, rj.segs[i-1].to
			}
		}
		h.Series = append(h.Series, seriesHistory(name, from, to, rj.hist.window(i, since)))
	}
	for _, t := range rj.hist.transitions {
		if t.at.After(since) {
			h.Transitions = append(h.Transitions, TransitionHistory{Time: t.at, Segment: t.segment, State: t.state})
		}
	}
	return h, true
}

// Registry is the monitor's Prometheus registry (no global state).
func (m *Monitor) Registry() *prometheus.Registry { return m.reg }

func (m *Monitor) writeResult(v any) {
	if m.results == nil {
		return
	}
	m.resultMu.Lock()
	defer m.resultMu.Unlock()
	if err := writeJSONLine(m.results, v); err != nil {
		m.log.Warn("write result", "err", err)
	}
}

func (m *Monitor) flushResults() {
	if m.results == nil {
		return
	}
	m.resultMu.Lock()
	defer m.resultMu.Unlock()
	_ = m.results.Flush()
}
