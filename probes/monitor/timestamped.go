package monitor

import (
	"fmt"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/delay"
)

// delayMux returns the sockets every timestamped job shares, opening them (in the Exec
// namespace) for the first job that asks. Run closes them once every job has stopped.
func (m *Monitor) delayMux() (*delay.Mux, error) {
	m.dmuxMu.Lock()
	defer m.dmuxMu.Unlock()
	if m.dmux != nil && m.dmux.Err() == nil {
		return m.dmux, nil
	}
	if m.dmux != nil {
		// Its receive socket failed: the jobs on it have stopped with the error; later jobs
		// get a fresh set.
		m.log.Error("timestamped jobs' shared sockets failed; reopening", "err", m.dmux.Err())
		m.dmux.Close()
		m.dmux = nil
	}
	err := m.opts.Exec(func() error {
		var err error
		m.dmux, err = delay.NewMux(delay.MuxOptions{Interface: m.opts.Interface})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open the shared timestamped-probe sockets: %w", err)
	}
	return m.dmux, nil
}

// TimestampedStats describes the sockets the timestamped jobs share.
type TimestampedStats struct {
	// Open says the shared sockets are open (a timestamped job has run since Run started).
	Open bool
	// Attached counts the jobs using them now.
	Attached int
	delay.MuxStats
}

// TimestampedStats returns the state of the timestamped jobs' shared sockets.
func (m *Monitor) TimestampedStats() TimestampedStats {
	m.dmuxMu.Lock()
	defer m.dmuxMu.Unlock()
	if m.dmux == nil {
		return TimestampedStats{}
	}
	return TimestampedStats{Open: true, Attached: m.dmux.Attached(), MuxStats: m.dmux.Stats()}
}

// jobWindow is the correlator window of a timestamped job: the probes that can be in flight
// (Timeout/Interval, twice over) and a margin, instead of probes/delay's default of 1024, so
// that a collector costs kilobytes, not the ~755 KB of the default window.
func jobWindow(j Job) int {
	if j.Interval <= 0 || j.Timeout <= 0 {
		return 0 // probes/delay's default
	}
	return min(int(2*j.Timeout/j.Interval)+4, 65536)
}

// startTimestamped starts one timestamped job: a probes/delay Prober on the monitor's shared
// timestamped sockets, as a session on the timestamped jobs' one Loop. The job has its own
// session and correlator, and no socket or goroutine of its own. Called with m.mu held.
func (m *Monitor) startTimestamped(rj *runningJob) {
	j := rj.job
	fail := func(err error) {
		rj.mu.Lock()
		rj.lastErr = err.Error()
		rj.mu.Unlock()
		m.log.Error("timestamped job", "job", j.Name, "err", err)
	}
	mux, err := m.delayMux()
	if err != nil {
		fail(err)
		return
	}
	// The probe is an Echo Request that ends at this host, which answers it with an Echo Reply
	// (on lo) that the echo jobs' socket sees too. Giving the probe the job's own identifier,
	// registered on the echo Demux, keeps those replies the monitor's: not counted as foreign
	// (srv6_monitor_unmatched_replies_total), and never taken for an echo job's by an
	// identifier drawn at random.
	unregister, err := m.demux.Register(rj.id, func(*probes.Match) {})
	if err != nil {
		fail(err)
		return
	}
	var p *delay.Prober
	err = m.opts.Exec(func() error {
		var err error
		p, err = delay.NewShared(m.runCtx, mux, j.Target, delay.Options{
			Interval: j.Interval, Timeout: j.Timeout, PayloadSize: j.Size, HopLimit: int(j.HopLimit),
			FlowLabel: j.FlowLabel, Window: jobWindow(j), Identifier: rj.id,
			DetectMultiplier: j.DetectMultiplier, UpMultiplier: j.UpMultiplier, SharedClock: j.SharedClock,
		})
		return err
	})
	if err != nil {
		unregister()
		fail(err)
		return
	}
	rj.mu.Lock()
	rj.source = p.Source()
	pts := p.Points()
	rj.segs = make([]segState, len(pts)-1)
	for i := range rj.segs {
		rj.segs[i] = segState{from: pts[i].Name, to: pts[i+1].Name}
	}
	rj.mu.Unlock()
	h, err := p.Start(m.tloop, func(r delay.Result) { rj.timestampedResult(m, &r) }, func(_ delay.Summary, err error) {
		if err != nil {
			fail(fmt.Errorf("stopped: %w", err))
		}
	})
	if err != nil {
		p.Close()
		unregister()
		fail(err)
		return
	}
	rj.thandle, rj.unregister = h, unregister
}

func (rj *runningJob) timestampedResult(m *Monitor, r *delay.Result) {
	now := time.Now()
	line := resultLine{Time: now, Job: rj.job.Name, Kind: string(KindTimestamped), Seq: int(r.Sequence),
		Status: r.Status.String(), FlowLabel: rj.job.FlowLabel}
	rj.mu.Lock()
	rj.sentN++
	if r.Status == collect.StatusLost {
		rj.lostN++
		rj.hist.observe(0, now, 0, true)
	} else {
		rj.received++
		rj.lastRTT = r.RTT
		rj.metrics.rtt.Observe(r.RTT.Seconds())
		rj.hist.observe(0, now, r.RTT, false)
		line.RTTMillis = ms(r.RTT)
	}
	for i, s := range r.Segments {
		if i >= len(rj.segs) {
			break
		}
		seg := &rj.segs[i]
		seg.unsynced = s.State == oam.DelayUnsynchronised
		sl := segmentLine{Index: i, From: seg.from, To: seg.to, State: s.State.String()}
		switch s.State {
		case oam.DelayMeasured:
			seg.lastDelay, seg.haveDelay = s.Delay, true
			rj.metrics.owd[i].Observe(s.Delay.Seconds())
			rj.hist.observe(1+i, now, s.Delay, false)
			v, b := ms(s.Delay), ms(s.Bound)
			sl.DelayMillis, sl.BoundMillis = &v, &b
		case oam.DelayLost:
			seg.lost++
			rj.hist.observe(1+i, now, 0, true)
		default:
			rj.hist.counted(1+i, now)
		}
		line.Segments = append(line.Segments, sl)
	}
	for _, t := range r.Transitions {
		if t.Segment < len(rj.segs) {
			rj.transition(m, t.Segment, t.New, now)
		}
	}
	rj.mu.Unlock()
	m.writeResult(line)
}
