package monitor

import (
	"time"

	"github.com/srv6oam/srv6oam/probes"
)

// detector is BFD's detection timer (RFC 5880 §6.8.4) around an echo job's ping session: an up
// job that has had no reply for detect_multiplier × interval (and the schedule's 5 % jitter)
// goes down then, as a BFD session would, instead of when the timeouts of detect_multiplier lost probes have run out (which is up
// to one interval and one timeout later). A cut is then DOWN at most detect_multiplier ×
// interval after the last reply that crossed it. The timer only fires once at least
// detect_multiplier − 1 probes have left since that reply, so a monitor that fell behind its
// schedule (sent nothing) does not call its paths down. Lost probes go on counting as before:
// the timer only takes a segment down sooner, never brings one up.
//
// Every field is the loop goroutine's: the session's results (echoResult) and OnSend run on it.
type detector struct {
	probes.Session[probes.Match]
	m  *Monitor
	rj *runningJob
	// after is the detection time; lastReply the receive time of the last reply (zero: the
	// timer is not running); sent the probes sent since.
	after     time.Duration
	lastReply time.Time
	sent      int
}

// detectJitter is the most the monitor's schedule moves a probe from its interval (ping's Jitter
// of ±5 %): the detection time allows it, or replies to probes planned late would look
// missing.
const detectJitter = 0.05

func newDetector(m *Monitor, rj *runningJob) *detector {
	d := &detector{m: m, rj: rj}
	if n := rj.job.DetectMultiplier; n > 1 {
		// With a multiplier of 1 the timer would race every reply: the lost probes decide.
		iv := rj.job.Interval
		d.after = iv*time.Duration(n) + time.Duration(float64(iv)*detectJitter)
	}
	return d
}

// reply restarts the timer: a reply taken now (the monotonic clock, not the kernel's receive
// stamp, which a step of the wall clock would move).
func (d *detector) reply(now time.Time) { d.lastReply, d.sent = now, 0 }

// sentOne counts a probe sent.
func (d *detector) sentOne() { d.sent++ }

// Wake implements probes.Session.
func (d *detector) Wake(now time.Time) (time.Time, bool) {
	next, done := d.Session.Wake(now)
	return d.check(now, next), done
}

// Input implements probes.Session.
func (d *detector) Input(in *probes.Match, now time.Time) (time.Time, bool) {
	next, done := d.Session.Input(in, now)
	return d.check(now, next), done
}

// check fires the timer when it has run out, and otherwise asks to be woken when it will.
func (d *detector) check(now, next time.Time) time.Time {
	if d.lastReply.IsZero() || d.after == 0 {
		return next
	}
	deadline := d.lastReply.Add(d.after)
	if now.Before(deadline) {
		if next.IsZero() || deadline.Before(next) {
			return deadline
		}
		return next
	}
	if d.sent < d.rj.job.DetectMultiplier-1 {
		return next // behind schedule: look again when the session next wakes
	}
	d.lastReply = time.Time{}
	d.rj.mu.Lock()
	d.rj.silent(d.m, 0, now)
	d.rj.mu.Unlock()
	return next
}
