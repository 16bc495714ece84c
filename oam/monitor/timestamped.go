package monitor

import (
	"context"
	"time"

	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes/delay"
)

// runTimestamped runs one timestamped job with a probes/delay Prober until ctx is done. That
// engine owns its sockets (the probe socket, the socket the reflected probe returns to, and
// the report collector), so a timestamped job costs three sockets; echo jobs share one pair.
func (m *Monitor) runTimestamped(ctx context.Context, rj *runningJob) {
	j := rj.job
	var p *delay.Prober
	err := m.opts.Exec(func() error {
		var err error
		p, err = delay.New(ctx, j.Target, delay.Options{
			Interval: j.Interval, Timeout: j.Timeout, PayloadSize: j.Size, HopLimit: int(j.HopLimit),
			FlowLabel: j.FlowLabel, Interface: m.opts.Interface,
			DetectMultiplier: j.DetectMultiplier, UpMultiplier: j.UpMultiplier, SharedClock: j.SharedClock,
		})
		return err
	})
	if err != nil {
		rj.mu.Lock()
		rj.lastErr = err.Error()
		rj.mu.Unlock()
		m.log.Error("timestamped job", "job", j.Name, "err", err)
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
	_, err = p.Run(ctx, func(r delay.Result) { rj.timestampedResult(m, &r) })
	if err != nil && ctx.Err() == nil {
		m.log.Error("timestamped job stopped", "job", j.Name, "err", err)
	}
}

func (rj *runningJob) timestampedResult(m *Monitor, r *delay.Result) {
	now := time.Now()
	line := resultLine{Time: now, Job: rj.job.Name, Kind: string(KindTimestamped), Seq: int(r.Sequence),
		Status: r.Status.String(), FlowLabel: rj.job.FlowLabel}
	rj.mu.Lock()
	rj.sentN++
	rj.metrics.sent.Inc()
	if r.Status == collect.StatusLost {
		rj.lostN++
		rj.metrics.lost.Inc()
	} else {
		rj.received++
		rj.lastRTT = r.RTT
		rj.metrics.rtt.Observe(r.RTT.Seconds())
		line.RTTMillis = ms(r.RTT)
	}
	for i, s := range r.Segments {
		if i >= len(rj.segs) {
			break
		}
		seg := &rj.segs[i]
		seg.unsynced = s.State == collect.DelayUnsynchronised
		sl := segmentLine{Index: i, From: seg.from, To: seg.to, State: s.State.String()}
		switch s.State {
		case collect.DelayMeasured:
			seg.lastDelay, seg.haveDelay = s.Delay, true
			rj.metrics.owd[i].Observe(s.Delay.Seconds())
			v, b := ms(s.Delay), ms(s.Bound)
			sl.DelayMillis, sl.BoundMillis = &v, &b
		case collect.DelayLost:
			seg.lost++
			rj.metrics.segLost[i].Inc()
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
