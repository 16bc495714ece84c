package monitor

import (
	"context"
	"encoding/binary"
	"errors"
	"math/bits"
	"net/netip"
	"sync"
	"time"

	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes"
)

// runningJob is one job's state. Echo jobs are driven by the scheduler (send, expire) and the
// receiver (reply, error); mu guards what both touch.
type runningJob struct {
	job      Job
	id       uint16
	firstHop netip.Addr
	source   netip.Addr
	metrics  *jobMetrics
	cancel   context.CancelFunc // timestamped jobs
	// unregister stops the shared Demux routing this echo job's replies to it.
	unregister func()

	mu       sync.Mutex
	stopped  bool
	builder  *probes.EchoBuilder
	nextSeq  uint16
	pending  []pendingProbe
	mask     uint16
	segs     []segState
	sentN    uint64
	received uint64
	lostN    uint64
	errorsN  uint64
	lastRTT  time.Duration
	lastErr  string
	started  time.Time
}

type pendingProbe struct {
	seq     uint16
	open    bool
	sending bool // registered, sendmsg not returned yet
	early   bool // answered while sending: earlyRx holds the receive time
	sent    time.Time
	earlyRx time.Time
	from    netip.Addr
}

// segState is one segment's liveness and last figures. Echo jobs run the liveness machine of
// oam/collect themselves; timestamped jobs copy the state from their collector's transitions.
type segState struct {
	from, to    string
	live        collect.Machine
	changedAt   time.Time
	transitions int
	lost        uint64
	unsynced    bool
	lastDelay   time.Duration
	haveDelay   bool
}

// prepare builds a job's probe template and metrics. Called with m.mu held.
func (m *Monitor) prepare(j Job, id uint16) (*runningJob, error) {
	rj := &runningJob{job: j, id: id, firstHop: j.Target.FirstHop(), started: time.Now()}
	switch j.Kind {
	case KindEcho:
		if err := rj.prepareBuilder(m); err != nil {
			if !errors.Is(err, probes.ErrNoRoute) {
				return nil, err
			}
			// Not fatal: the route may come; the job is down until it does.
			rj.lastErr = err.Error()
			m.log.Warn("job has no route yet", "job", j.Name, "err", err)
		}
		// Enough slots for every probe that can be outstanding at once.
		n := int(j.Timeout/j.Interval) + 2
		size := uint16(1) << bits.Len16(uint16(n-1))
		rj.pending = make([]pendingProbe, size)
		rj.mask = size - 1
		rj.nextSeq = uint16(id) * 7919 // start sequences apart so that jobs never look alike
		rj.segs = []segState{{from: "src", to: j.Target.Destination.String()}}
	case KindTimestamped:
		// The segments are known once the prober is built (runTimestamped).
	}
	rj.metrics = newJobMetrics(j, rj.segmentNames())
	return rj, nil
}

// prepareBuilder picks the source address and builds the probe template. Called before the
// job starts, or by the scheduler goroutine (the builder's only user once started).
func (rj *runningJob) prepareBuilder(m *Monitor) error {
	src, err := m.sourceFor(rj.firstHop)
	if err != nil {
		return err
	}
	b, err := probes.NewEchoBuilder(probes.EchoConfig{
		Target: rj.job.Target, Source: src, Encoding: rj.job.Encoding, ID: rj.id, PayloadSize: rj.job.Size,
		HopLimit: rj.job.HopLimit, FlowLabel: rj.job.FlowLabel,
	})
	if err != nil {
		return err
	}
	rj.mu.Lock()
	rj.source, rj.builder = src, b
	rj.mu.Unlock()
	return nil
}

// takeSeq consumes a sequence number without a packet (a probe that could not be built).
func (rj *runningJob) takeSeq() uint16 {
	rj.mu.Lock()
	defer rj.mu.Unlock()
	seq := rj.nextSeq
	rj.nextSeq++
	return seq
}

func (rj *runningJob) segmentNames() [][2]string {
	if rj.job.Kind == KindTimestamped {
		return timestampedSegments(rj.job)
	}
	out := make([][2]string, len(rj.segs))
	for i, s := range rj.segs {
		out[i] = [2]string{s.from, s.to}
	}
	return out
}

func (rj *runningJob) stop() {
	rj.mu.Lock()
	rj.stopped = true
	rj.mu.Unlock()
	if rj.cancel != nil {
		rj.cancel()
	}
}

func (rj *runningJob) isStopped() bool {
	rj.mu.Lock()
	defer rj.mu.Unlock()
	return rj.stopped
}

// build crafts the next probe. Only the scheduler goroutine calls it.
func (rj *runningJob) build() ([]byte, uint16, error) {
	seq := rj.takeSeq()
	pkt, err := rj.builder.Build(seq)
	if err != nil {
		return nil, 0, err
	}
	if rj.job.FlowLabels > 1 {
		// The flow label is outside every checksum: rewrite it in place.
		fl := rj.job.FlowLabel + uint32(seq)%uint32(rj.job.FlowLabels)
		w := binary.BigEndian.Uint32(pkt[0:4])
		binary.BigEndian.PutUint32(pkt[0:4], w&^0xfffff|fl)
	}
	return pkt, seq, nil
}

func (rj *runningJob) flowLabel(seq uint16) uint32 {
	return rj.job.FlowLabel + uint32(seq)%uint32(rj.job.FlowLabels)
}

// opening registers seq before it is sent: on veth the reply can be received before sendmsg
// even returns.
func (rj *runningJob) opening(m *Monitor, seq uint16, now time.Time) {
	rj.mu.Lock()
	slot := &rj.pending[seq&rj.mask]
	if slot.open {
		// The slot's previous probe is still outstanding: the ring is sized so that this only
		// happens when its expiry is late; resolve it as lost now.
		rj.resolveLost(m, slot, now, "")
	}
	*slot = pendingProbe{seq: seq, open: true, sending: true, sent: now}
	rj.mu.Unlock()
}

// sent completes a probe that left at time at (the user clock just before sendmsg).
func (rj *runningJob) sent(m *Monitor, seq uint16, at time.Time) {
	rj.mu.Lock()
	rj.sentN++
	slot := &rj.pending[seq&rj.mask]
	if slot.seq != seq || !slot.open {
		rj.mu.Unlock()
		rj.metrics.sent.Inc()
		return
	}
	slot.sent, slot.sending = at, false
	if slot.early {
		rtt := slot.earlyRx.Sub(at)
		rj.resolveReply(m, slot, rtt)
		rj.mu.Unlock()
		rj.metrics.sent.Inc()
		return
	}
	rj.mu.Unlock()
	rj.metrics.sent.Inc()
	m.sched.expireAt(rj, seq, at.Add(rj.job.Timeout))
}

func (rj *runningJob) sendFailed(m *Monitor, seq uint16, err error) {
	rj.mu.Lock()
	rj.sentN++
	rj.errorsN++
	rj.lastErr = err.Error()
	now := time.Now()
	slot := &rj.pending[seq&rj.mask]
	if slot.open && slot.seq != seq {
		rj.resolveLost(m, slot, now, "")
	}
	*slot = pendingProbe{seq: seq, open: true, sent: now}
	rj.resolveLost(m, slot, now, err.Error())
	rj.mu.Unlock()
	rj.metrics.sent.Inc()
	m.log.Debug("send probe", "job", rj.job.Name, "err", err)
}

func (rj *runningJob) reply(m *Monitor, r *probes.Match) {
	seq := r.Seq
	rj.mu.Lock()
	defer rj.mu.Unlock()
	slot := &rj.pending[seq&rj.mask]
	if !slot.open || slot.seq != seq || slot.early {
		return // late or duplicate
	}
	slot.from = r.From
	if slot.sending {
		slot.early, slot.earlyRx = true, r.Time
		return
	}
	rj.resolveReply(m, slot, r.Time.Sub(slot.sent))
}

// resolveReply accounts an answered probe. rj.mu held.
func (rj *runningJob) resolveReply(m *Monitor, slot *pendingProbe, rtt time.Duration) {
	slot.open = false
	rj.received++
	rj.lastRTT = rtt
	now := slot.sent.Add(rtt)
	rj.outcome(m, 0, true, now)
	rj.metrics.rtt.Observe(rtt.Seconds())
	if m.results == nil {
		return
	}
	m.writeResult(resultLine{Time: now, Job: rj.job.Name, Kind: string(KindEcho), Seq: int(slot.seq),
		Status: "reply", FlowLabel: rj.flowLabel(slot.seq), From: slot.from.String(), RTTMillis: ms(rtt)})
}

func (rj *runningJob) icmpError(m *Monitor, r *probes.Match) {
	seq := r.Seq
	rj.mu.Lock()
	slot := &rj.pending[seq&rj.mask]
	if !slot.open || slot.seq != seq || slot.early {
		rj.mu.Unlock()
		return
	}
	desc := probes.DescribeError(r.Type, r.Code, r.Info)
	rj.errorsN++
	rj.lastErr = desc + " from " + r.From.String()
	rj.resolveLost(m, slot, r.Time, rj.lastErr)
	rj.mu.Unlock()
}

// expire resolves seq as lost if it is still outstanding. Called by the scheduler.
func (rj *runningJob) expire(m *Monitor, seq uint16, now time.Time) {
	rj.mu.Lock()
	slot := &rj.pending[seq&rj.mask]
	if slot.open && !slot.sending && slot.seq == seq {
		rj.resolveLost(m, slot, now, "")
	}
	rj.mu.Unlock()
}

// resolveLost marks a probe lost (error non-empty: answered by an ICMPv6 error). rj.mu held.
func (rj *runningJob) resolveLost(m *Monitor, slot *pendingProbe, now time.Time, errText string) {
	slot.open = false
	rj.lostN++
	rj.segs[0].lost++
	rj.metrics.lost.Inc()
	rj.metrics.segLost[0].Inc()
	rj.outcome(m, 0, false, now)
	if m.results == nil {
		return
	}
	status := "lost"
	if errText != "" {
		status = "error"
	}
	m.writeResult(resultLine{Time: now, Job: rj.job.Name, Kind: string(KindEcho), Seq: int(slot.seq),
		Status: status, FlowLabel: rj.flowLabel(slot.seq), Error: errText})
}

// outcome runs segment i's liveness state machine (collect.Machine). rj.mu held.
func (rj *runningJob) outcome(m *Monitor, i int, crossed bool, now time.Time) {
	s := &rj.segs[i]
	s.live.Detect, s.live.Up = rj.job.DetectMultiplier, rj.job.UpMultiplier
	old := s.live.State
	if to, changed := s.live.Observe(crossed); changed {
		rj.noteTransition(m, i, old, to, now)
	}
}

// transition sets segment i's state as a timestamped job's collector decided it. rj.mu held.
func (rj *runningJob) transition(m *Monitor, i int, to collect.Liveness, now time.Time) {
	old := rj.segs[i].live.State
	rj.segs[i].live.State = to
	rj.noteTransition(m, i, old, to, now)
}

func (rj *runningJob) noteTransition(m *Monitor, i int, old, to collect.Liveness, now time.Time) {
	s := &rj.segs[i]
	s.changedAt = now
	s.transitions++
	m.log.Info("liveness", "job", rj.job.Name, "segment", i, "from", s.from, "to", s.to, "old", old.String(), "new", to.String())
}

// JobState is a job's current state, as /api/v1/jobs shows it.
type JobState struct {
	Name       string            `json:"name"`
	Kind       string            `json:"kind"`
	Target     string            `json:"target"`
	Segments   []string          `json:"segments"`
	Interval   string            `json:"interval"`
	Timeout    string            `json:"timeout"`
	FlowLabels int               `json:"flow_labels"`
	Labels     map[string]string `json:"labels,omitempty"`
	Identifier *uint16           `json:"icmp_identifier,omitempty"`
	Source     string            `json:"source,omitempty"`
	Started    time.Time         `json:"started"`
	Sent       uint64            `json:"sent"`
	Received   uint64            `json:"received"`
	Lost       uint64            `json:"lost"`
	Errors     uint64            `json:"errors"`
	LastRTTms  *float64          `json:"last_rtt_ms,omitempty"`
	LastError  string            `json:"last_error,omitempty"`
	Liveness   []SegmentState    `json:"liveness"`
}

// SegmentState is one segment of a job.
type SegmentState struct {
	Index          int        `json:"index"`
	From           string     `json:"from"`
	To             string     `json:"to"`
	State          string     `json:"state"`
	LastTransition *time.Time `json:"last_transition,omitempty"`
	Transitions    int        `json:"transitions"`
	Lost           uint64     `json:"lost"`
	LastDelayMs    *float64   `json:"last_one_way_delay_ms,omitempty"`
	Unsynchronised bool       `json:"clock_unsynchronised"`
}

func (rj *runningJob) state() JobState {
	rj.mu.Lock()
	defer rj.mu.Unlock()
	j := rj.job
	st := JobState{Name: j.Name, Kind: string(j.Kind), Target: j.Target.Destination.String(),
		Interval: j.Interval.String(), Timeout: j.Timeout.String(), FlowLabels: j.FlowLabels, Labels: j.Labels,
		Started: rj.started, Sent: rj.sentN, Received: rj.received, Lost: rj.lostN, Errors: rj.errorsN,
		LastError: rj.lastErr, Segments: []string{}, Liveness: []SegmentState{}}
	for _, s := range j.Target.Segments {
		st.Segments = append(st.Segments, s.String())
	}
	if j.Kind == KindEcho {
		id := rj.id
		st.Identifier = &id
	}
	if rj.source.IsValid() {
		st.Source = rj.source.String()
	}
	if rj.received > 0 {
		v := ms(rj.lastRTT)
		st.LastRTTms = &v
	}
	for i, s := range rj.segs {
		ss := SegmentState{Index: i, From: s.from, To: s.to, State: s.live.State.String(), Transitions: s.transitions,
			Lost: s.lost, Unsynchronised: s.unsynced}
		if !s.changedAt.IsZero() {
			t := s.changedAt
			ss.LastTransition = &t
		}
		if s.haveDelay {
			v := ms(s.lastDelay)
			ss.LastDelayMs = &v
		}
		st.Liveness = append(st.Liveness, ss)
	}
	return st
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
