package monitor

import (
	"net/netip"
	"sync"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/delay"
)

// runningJob is one job's state. An echo job is a ping session on the monitor's loop, whose
// results (on the loop's goroutine) and reads of the state (metrics, /api/v1/jobs) meet under
// mu; a timestamped job is a probes/delay prober, a session on the timestamped jobs' loop.
type runningJob struct {
	job      Job
	id       uint16
	firstHop netip.Addr
	metrics  *jobMetrics
	handle   *probes.Handle[probes.Match] // echo jobs, once started
	// detect is an echo job's detection timer (detector), on the loop goroutine.
	detect  *detector
	thandle *probes.Handle[delay.Event] // timestamped jobs, once started
	// unregister frees a timestamped or ioam job's echo identifier on the echo Demux.
	unregister func()
	// cancel takes an ioam job's session off the ioam jobs' Loop; retry is the timer that
	// starts it again while it has no route.
	cancel func()
	retry  *time.Timer

	mu       sync.Mutex
	source   netip.Addr
	segs     []segState
	sentN    uint64
	received uint64
	lostN    uint64
	errorsN  uint64
	lastRTT  time.Duration
	lastErr  string
	started  time.Time
	// ioamPath is the node ids of an ioam job's last trace, joined by '>'; branches every
	// path its probes took.
	ioamPath string
	branches branches
	// hist is the job's recent past for the page (series 0: the round trip; then, for
	// timestamped and stamp jobs, each segment's one-way delay).
	hist *history
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

// prepare makes a job's state and metrics by its kind's prober.
func (m *Monitor) prepare(j Job, id uint16) (*runningJob, error) {
	rj := &runningJob{job: j, id: id, firstHop: j.Target.FirstHop(), started: time.Now()}
	if err := probers[j.Kind].prepare(m, rj); err != nil {
		return nil, err
	}
	names := rj.segmentNames()
	rj.metrics = newJobMetrics(j, names)
	n := 1
	if j.Kind == KindTimestamped || j.Kind == KindStamp {
		n += len(names)
	}
	rj.hist = newHistory(n, uint64(id)<<32|uint64(rj.started.UnixNano()&0xffffffff))
	return rj, nil
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
	if rj.retry != nil {
		rj.retry.Stop()
	}
	if rj.cancel != nil {
		rj.cancel()
	}
	if rj.thandle != nil {
		rj.thandle.Remove()
	}
	if rj.unregister != nil {
		rj.unregister()
		rj.unregister = nil // the identifier may be another job's by the next stop
	}
	if rj.handle != nil {
		rj.handle.Remove()
	}
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

// silent takes segment i down because its detection time passed without a reply (detector).
// rj.mu held.
func (rj *runningJob) silent(m *Monitor, i int, now time.Time) {
	s := &rj.segs[i]
	old := s.live.State
	if to, changed := s.live.Silent(); changed {
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
	if rj.hist != nil {
		rj.hist.transition(now, i, to.String())
	}
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
	// IOAMPath is an ioam job's last path: the IOAM node ids of its last trace, in order,
	// joined by '>'.
	IOAMPath string `json:"ioam_path,omitempty"`
	// IOAMBranches are the distinct paths an ioam job's probes took (ECMP branches, when
	// flow_labels spreads them), the last reply's marked active.
	IOAMBranches []BranchState `json:"ioam_branches,omitempty"`
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
		LastError: rj.lastErr, Segments: []string{}, Liveness: []SegmentState{}, IOAMPath: rj.ioamPath,
		IOAMBranches: rj.branches.state()}
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

func ms(d time.Duration) float64 { return oam.Millis(d) }
