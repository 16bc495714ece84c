package monitor

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/stamp"
)

// A stamp job is a probes/stamp session (RFC 8762, RFC 8972) on a socket of its own, run on a
// goroutine of its own: STAMP test packets are ordinary UDP, nothing is shared with the other
// kinds' raw sockets. Its two segments are the two directions: the monitor to the reflector
// and back. A reply takes both up, a lost probe counts against both (the liveness of a
// STAMP session is its round trip's); a stateful reflector's Direct Measurement counts
// (stamp.tlvs: [direct]) say which way probes were lost, and the segments' loss counters
// follow them.

func prepareStamp(_ *Monitor, rj *runningJob) error {
	refl := netip.AddrPortFrom(rj.job.Target.Destination, rj.job.STAMP.Port).String()
	rj.segs = []segState{{from: "src", to: refl}, {from: refl, to: "src"}}
	return nil
}

// startStamp starts one stamp job. Called with m.mu held. A job that cannot start (no route
// or address yet) or whose session fails tries again every interval, as an ioam job does.
func startStamp(m *Monitor, rj *runningJob) {
	j := rj.job
	fail := func(err error) {
		rj.mu.Lock()
		rj.lastErr = err.Error()
		rj.mu.Unlock()
		m.log.Error("stamp job", "job", j.Name, "err", err)
	}
	retry := func() {
		rj.retry = time.AfterFunc(j.Interval, func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.jobs[j.Name] == rj && m.runCtx.Err() == nil && rj.cancel == nil {
				startStamp(m, rj)
			}
		})
	}
	opts := stamp.Options{Interval: j.Interval, Timeout: j.Timeout, Port: j.STAMP.Port, Size: j.Size,
		SharedClock: j.SharedClock, SSID: j.STAMP.SSID, PTP: j.STAMP.PTP, TLVs: j.STAMP.TLVs,
		OnSend: func(uint32) {
			rj.mu.Lock()
			rj.sentN++
			rj.mu.Unlock()
		}}
	var s *stamp.Sender
	err := m.opts.Exec(func() error {
		var err error
		s, err = stamp.New(j.Target, opts)
		return err
	})
	if err != nil {
		fail(err)
		retry()
		return
	}
	rj.mu.Lock()
	rj.source = s.LocalAddr().Addr()
	rj.mu.Unlock()
	ctx, cancel := context.WithCancel(m.runCtx)
	rj.cancel = cancel
	st := &stampState{}
	m.wg.Add(1) // Run waits for the session before it flushes the results
	go func() {
		defer m.wg.Done()
		_, err := s.Run(ctx, func(o stamp.Outcome) { rj.stampResult(m, st, &o) })
		if err == nil || ctx.Err() != nil {
			return
		}
		fail(fmt.Errorf("stopped: %w", err))
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.jobs[j.Name] == rj && m.runCtx.Err() == nil {
			cancel()
			rj.cancel = nil
			retry()
		}
	}()
}

// stampState is what a stamp job remembers between outcomes (on its Run goroutine).
type stampState struct {
	loss     stamp.LossCounter
	received int
}

func (rj *runningJob) stampResult(m *Monitor, st *stampState, o *stamp.Outcome) {
	now := time.Now()
	line := resultLine{Time: now, Job: rj.job.Name, Kind: string(KindStamp), Seq: int(o.Seq)}
	rj.mu.Lock()
	switch {
	case o.Reply != nil:
		r := o.Reply
		line.Status, line.From, line.RTTMillis = "reply", r.Reflector.String(), ms(r.RoundTrip())
		rj.received++
		rj.lastRTT = r.RoundTrip()
		rj.metrics.rtt.Observe(r.RoundTrip().Seconds())
		rj.hist.observe(0, now, r.RoundTrip(), false)
		rj.metrics.residence.Observe(r.Residence().Seconds())
		for i, ow := range []oam.OneWay{o.Forward, o.Backward} {
			seg := &rj.segs[i]
			seg.unsynced = ow.State == oam.DelayUnsynchronised
			sl := segmentLine{Index: i, From: seg.from, To: seg.to, State: ow.State.String()}
			if ow.State == oam.DelayMeasured {
				seg.lastDelay, seg.haveDelay = ow.Delay, true
				rj.metrics.owd[i].Observe(ow.Delay.Seconds())
				rj.hist.observe(1+i, now, ow.Delay, false)
				v, b := ms(ow.Delay), ms(ow.Bound)
				sl.DelayMillis, sl.BoundMillis = &v, &b
			} else {
				rj.hist.counted(1+i, now)
			}
			line.Segments = append(line.Segments, sl)
			rj.outcome(m, i, true, now)
		}
		st.received++ // this session's replies (rj.received spans the job's sessions)
		fwd, back := st.loss.Observe(&r.TLVs, st.received)
		rj.lostDirection(0, fwd)
		rj.lostDirection(1, back)
	default:
		line.Status = "lost"
		if o.Err != nil {
			line.Status, line.Error = "error", o.Err.Error()
			rj.errorsN++
			rj.lastErr = o.Err.Error()
		}
		rj.lostN++
		rj.hist.observe(0, now, 0, true) // the directions' series get it once the counts say which
		rj.outcome(m, 0, false, now)
		rj.outcome(m, 1, false, now)
	}
	rj.mu.Unlock()
	m.writeResult(line)
}

// lostDirection adds n probes lost in direction i (0: to the reflector, 1: back). rj.mu held.
func (rj *runningJob) lostDirection(i, n int) {
	if n <= 0 {
		return
	}
	rj.segs[i].lost += uint64(n)
	now := time.Now()
	for range min(n, math.MaxUint16) {
		rj.hist.observe(1+i, now, 0, true)
	}
}
