package monitor

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/pathtrace"
)

// ioamShared returns the socket pair every ioam job sends on and the router of the probes
// that come back, opening them (in the Exec namespace) for the first job that asks; Run closes
// them once every job has stopped.
func (m *Monitor) ioamShared() (probes.PacketConn, *pathtrace.Returns, error) {
	m.imu.Lock()
	defer m.imu.Unlock()
	if m.iconn != nil {
		return m.iconn, m.ireturns, nil
	}
	err := m.opts.Exec(func() error {
		var err error
		m.iconn, err = probes.Dial(probes.Config{Interface: m.opts.Interface, ICMPTypes: []uint8{128}, RoutingHeader: true, HopByHop: true})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("open the ioam jobs' sockets: %w", err)
	}
	m.ireturns = pathtrace.NewReturns(m.iconn)
	conn := m.iconn
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.ireturns.Run(func(err error) {
			if err != nil {
				m.log.Error("ioam jobs' socket failed; their probes are lost until the monitor restarts", "err", err)
			}
		})
		m.imu.Lock()
		if m.iconn == conn {
			m.iconn, m.ireturns = nil, nil
		}
		m.imu.Unlock()
	}()
	return m.iconn, m.ireturns, nil
}

// startIOAM starts one ioam job: a probes/pathtrace session carrying the job's IOAM trace, on
// the ioam jobs' one Loop and sockets. Without a route to the first segment yet it says so
// and tries again every interval. Called with m.mu held.
func startIOAM(m *Monitor, rj *runningJob) {
	j := rj.job
	fail := func(err error) {
		rj.mu.Lock()
		rj.lastErr = err.Error()
		rj.mu.Unlock()
		m.log.Error("ioam job", "job", j.Name, "err", err)
	}
	if rj.unregister == nil {
		// The looped probe ends at this host, which answers it with an Echo Reply the echo
		// jobs' socket sees: the job's identifier on the echo Demux keeps those replies the
		// monitor's.
		unregister, err := m.demux.Register(rj.id, func(*probes.Match) {})
		if err != nil {
			fail(err)
			return
		}
		rj.unregister = unregister
	}
	src, err := m.sourceFor(rj.firstHop)
	if err != nil {
		// As an echo job without a route: the probe that could not leave counts as sent and
		// lost, and the job goes down.
		fail(fmt.Errorf("first segment: %w", err))
		rj.mu.Lock()
		rj.sentN++
		rj.lost(m)
		rj.mu.Unlock()
		rj.retry = time.AfterFunc(j.Interval, func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.jobs[j.Name] == rj && m.runCtx.Err() == nil && rj.cancel == nil {
				startIOAM(m, rj)
			}
		})
		return
	}
	conn, returns, err := m.ioamShared()
	if err != nil {
		fail(err)
		return
	}
	tr, err := ioam.NewTrace(j.IOAM.Namespace, j.IOAM.Type, j.IOAM.Nodes)
	if err != nil {
		fail(err)
		return
	}
	nodes := oam.EndClock{}
	if j.IOAM.ClockError > 0 {
		nodes = oam.EndClock{Known: true, Synchronised: true, Error: j.IOAM.ClockError}
	}
	offset, _ := probes.TAIOffset()
	opts := pathtrace.Options{IOAM: &tr, Count: math.MaxInt, Interval: j.Interval, Timeout: j.Timeout,
		PayloadSize: j.Size, HopLimit: j.HopLimit, FlowLabel: j.FlowLabel, FlowLabels: j.FlowLabels, Identifier: rj.id, Source: src, KeepGoing: true,
		OnSend: func(uint16, time.Time) {
			rj.mu.Lock()
			rj.sentN++
			rj.mu.Unlock()
		}}
	sess, _, err := pathtrace.NewSession(conn, j.Target, opts, func(r pathtrace.Result) { rj.ioamResult(m, &r, nodes, offset) })
	if err != nil {
		fail(err)
		return
	}
	h, err := m.iloop.Add(sess, func(h *probes.Handle[probes.Received]) error {
		unregister, err := returns.Register(rj.id, src, h)
		h.OnRemove(unregister)
		return err
	})
	if err != nil {
		fail(err)
		return
	}
	rj.mu.Lock()
	rj.source = src
	rj.mu.Unlock()
	rj.cancel = h.Remove
}

// ioamResult accounts one probe of an ioam job (on the job's goroutine): liveness and RTT as an
// echo job's, each measured delay between IOAM entries in the hop's histogram, and a path
// change when the nodes the trace names differ from the last probe's.
func (rj *runningJob) ioamResult(m *Monitor, r *pathtrace.Result, nodes oam.EndClock, taiOffset time.Duration) {
	rj.mu.Lock()
	status := "lost"
	switch {
	case r.Lost:
		rj.lost(m)
	case r.Err != nil:
		status = "error"
		rj.errorsN++
		rj.lastErr = r.Err.Error()
		rj.lost(m)
	default:
		status = "reply"
		rj.received++
		rj.lastRTT = r.RTT
		rj.outcome(m, 0, true, time.Now())
		rj.metrics.rtt.Observe(r.RTT.Seconds())
		rj.hist.observe(0, time.Now(), r.RTT, false)
		delays := r.IOAMDelays(hostClock().ClockEnd(), nodes, rj.job.SharedClock, taiOffset)
		path := make([]string, len(r.IOAM.Entries))
		for i, e := range r.IOAM.Entries {
			path[i] = strconv.FormatUint(e.NodeID, 10)
			if delays[i].State == oam.DelayMeasured {
				rj.metrics.hopDelay.WithLabelValues(strconv.Itoa(i+1), path[i]).Observe(delays[i].Delay.Seconds())
			}
		}
		key := strings.Join(path, ">")
		old := rj.branches.byLabel[r.FlowLabel]
		if rj.branches.observe(r.FlowLabel, key, time.Now()) {
			rj.metrics.pathChanges.Inc()
			m.log.Info("ioam path changed", "job", rj.job.Name, "flow_label", r.FlowLabel, "old", old, "new", key)
		}
		rj.ioamPath = key
	}
	errText := rj.lastErr
	rj.mu.Unlock()
	if m.results == nil {
		return
	}
	line := resultLine{Time: time.Now(), Job: rj.job.Name, Kind: string(KindIOAM), Seq: int(r.Seq), Status: status, FlowLabel: r.FlowLabel}
	switch status {
	case "reply":
		line.RTTMillis = ms(r.RTT)
	case "error":
		line.Error = errText
	}
	m.writeResult(line)
}
