package monitor

import (
	"context"
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

// startIOAM starts one ioam job: a probes/pathtrace run carrying the job's IOAM trace, with
// sockets of its own opened in the monitor's namespace, on a goroutine of the monitor's. The
// run goes on until the job stops; when it cannot start or fails (no route yet, a route gone)
// it is tried again every interval. Called with m.mu held.
func startIOAM(m *Monitor, rj *runningJob) {
	j := rj.job
	ctx, cancel := context.WithCancel(m.runCtx)
	rj.cancel = cancel
	fail := func(err error) {
		rj.mu.Lock()
		rj.lastErr = err.Error()
		rj.mu.Unlock()
		m.log.Error("ioam job", "job", j.Name, "err", err)
	}
	// The looped probe ends at this host, which answers it with an Echo Reply the echo jobs'
	// socket sees: the job's identifier on the echo Demux keeps those replies the monitor's.
	unregister, err := m.demux.Register(rj.id, func(*probes.Match) {})
	if err != nil {
		fail(err)
		return
	}
	rj.unregister = unregister
	tr, err := ioam.NewTrace(j.IOAM.Namespace, j.IOAM.Type, j.IOAM.Nodes)
	if err != nil {
		fail(err)
		return
	}
	nodes := oam.EndClock{}
	if j.IOAM.ClockError > 0 {
		nodes = oam.EndClock{Known: true, Synchronised: true, Error: j.IOAM.ClockError}
	}
	opts := pathtrace.Options{IOAM: &tr, Count: math.MaxInt, Interval: j.Interval, Timeout: j.Timeout,
		PayloadSize: j.Size, HopLimit: j.HopLimit, FlowLabel: j.FlowLabel, Identifier: rj.id, Interface: m.opts.Interface,
		OnSend: func(uint16, time.Time) {
			rj.mu.Lock()
			rj.sentN++
			rj.mu.Unlock()
			rj.metrics.sent.Inc()
		}}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for ctx.Err() == nil {
			var t *pathtrace.Tracer
			err := m.opts.Exec(func() error {
				src, err := m.sourceFor(rj.firstHop)
				if err != nil {
					return fmt.Errorf("first segment: %w", err)
				}
				o := opts
				o.Source = src
				t, err = pathtrace.New(ctx, j.Target, o)
				return err
			})
			if err == nil {
				rj.mu.Lock()
				rj.source = t.Source()
				rj.mu.Unlock()
				offset, _ := probes.TAIOffset()
				_, err = t.Run(ctx, func(r pathtrace.Result) { rj.ioamResult(m, &r, nodes, offset) })
			}
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				fail(err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(j.Interval):
			}
		}
	}()
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
		delays := oam.IOAMDelays(r.IOAM, r.Sent.Add(-taiOffset), hostClock().ClockEnd(), nodes, rj.job.SharedClock)
		path := make([]string, len(r.IOAM.Entries))
		for i, e := range r.IOAM.Entries {
			path[i] = strconv.FormatUint(e.NodeID, 10)
			if delays[i].State == oam.DelayMeasured {
				rj.metrics.hopDelay.WithLabelValues(strconv.Itoa(i+1), path[i]).Observe(delays[i].Delay.Seconds())
			}
		}
		key := strings.Join(path, ">")
		if rj.ioamPath != "" && key != rj.ioamPath {
			rj.metrics.pathChanges.Inc()
			m.log.Info("ioam path changed", "job", rj.job.Name, "old", rj.ioamPath, "new", key)
		}
		rj.ioamPath = key
	}
	errText := rj.lastErr
	rj.mu.Unlock()
	if m.results == nil {
		return
	}
	line := resultLine{Time: time.Now(), Job: rj.job.Name, Kind: string(KindIOAM), Seq: int(r.Seq), Status: status, FlowLabel: rj.job.FlowLabel}
	switch status {
	case "reply":
		line.RTTMillis = ms(r.RTT)
	case "error":
		line.Error = errText
	}
	m.writeResult(line)
}
