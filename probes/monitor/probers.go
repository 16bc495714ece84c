package monitor

import (
	"errors"
	"net/netip"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/ping"
)

// prober is how one kind of job runs, as blackbox_exporter's Probers map holds its probe
// functions: every kind is an engine of the probes packages, the monitor adds the schedule, the
// metrics and the liveness.
type prober struct {
	// prepare makes what the job needs before it runs (its segments, for the metrics);
	// called while a configuration loads, with nothing sent yet.
	prepare func(m *Monitor, rj *runningJob) error
	// start runs the job until it is stopped; called with m.mu held and the monitor running.
	start func(m *Monitor, rj *runningJob)
}

var probers = map[Kind]prober{
	// Echo jobs are ping sessions on the monitor's one send/expire loop and socket pair.
	KindEcho: {prepare: prepareEcho, start: startEcho},
	// Timestamped jobs are probes/delay probers on the shared timestamped sockets, sessions
	// on the timestamped jobs' one loop.
	KindTimestamped: {prepare: prepareTimestamped, start: startTimestamped},
	// IOAM jobs are probes/pathtrace sessions carrying an IOAM trace, on the ioam jobs' one
	// loop and socket pair (probes/monitor/ioam.go).
	KindIOAM: {prepare: prepareEcho, start: startIOAM},
	// STAMP jobs are probes/stamp sessions, each on a UDP socket and goroutine of its own
	// (probes/monitor/stamp.go).
	KindStamp: {prepare: prepareStamp, start: startStamp},
}

func prepareEcho(m *Monitor, rj *runningJob) error {
	if _, err := m.sourceFor(rj.firstHop); err != nil {
		if !errors.Is(err, probes.ErrNoRoute) {
			return err
		}
		// Not fatal: the route may come; the job is down until it does.
		rj.lastErr = err.Error()
		m.log.Warn("job has no route yet", "job", rj.job.Name, "err", err)
	}
	rj.segs = []segState{{from: "src", to: rj.job.Target.Destination.String()}}
	return nil
}

func prepareTimestamped(*Monitor, *runningJob) error {
	return nil // the segments are known once the prober is built (runTimestamped)
}

// echoWindow is the probes an echo job can have outstanding at once, and a margin.
func echoWindow(j Job) int { return min(int(j.Timeout/j.Interval)+2, 32768) }

func startEcho(m *Monitor, rj *runningJob) {
	j := rj.job
	rj.detect = newDetector(m, rj)
	opts := ping.Options{
		Interval: j.Interval, Timeout: j.Timeout, PayloadSize: j.Size, NoPayload: j.Size == 0,
		HopLimit: int(j.HopLimit), FlowLabel: j.FlowLabel, FlowLabels: j.FlowLabels, Encoding: j.Encoding,
		Identifier: rj.id, Window: echoWindow(j), NoTxTimestamps: true,
		// A random phase within the interval, and ±5 % of it at every probe, so that jobs
		// with the same interval never fall into step.
		Phase:  time.Duration(m.rng.Int64N(int64(j.Interval))),
		Jitter: 0.1,
		// The route may not exist yet, or change: the source is picked when the probe is due.
		Resolve: func() (netip.Addr, error) {
			src, err := m.sourceFor(rj.firstHop)
			if err == nil {
				rj.mu.Lock()
				rj.source = src
				rj.mu.Unlock()
			}
			return src, err
		},
		OnSend: func(_ int, planned, at time.Time) {
			m.noteSend(planned, at)
			rj.detect.sentOne()
			rj.mu.Lock()
			rj.sentN++
			rj.mu.Unlock()
		},
	}
	sess, _, err := ping.NewSession(m.conn, j.Target, opts, func(r oam.Result) { rj.echoResult(m, r) })
	if err == nil {
		rj.detect.Session = sess
		rj.handle, err = m.loop.Add(rj.id, rj.detect)
	}
	if err != nil {
		rj.mu.Lock()
		rj.lastErr = err.Error()
		rj.mu.Unlock()
		m.log.Error("echo job", "job", j.Name, "err", err)
	}
}

func startTimestamped(m *Monitor, rj *runningJob) { m.startTimestamped(rj) }

// flowLabel is the flow label of an echo job's probe seq (ping's FlowLabels spread).
func (rj *runningJob) flowLabel(seq int) uint32 {
	if rj.job.FlowLabels <= 1 {
		return rj.job.FlowLabel
	}
	return rj.job.FlowLabel + uint32(seq%rj.job.FlowLabels)
}

// echoResult accounts one result of the job's ping session (on the loop's goroutine). It does
// not allocate unless --results is written (or a probe errs).
func (rj *runningJob) echoResult(m *Monitor, r oam.Result) {
	if r.Duplicate || r.Late {
		return // the probe was accounted when it was answered, or given up
	}
	status := "lost"
	rj.mu.Lock()
	switch r.Kind {
	case oam.KindReply:
		status = "reply"
		rj.received++
		rj.lastRTT = r.RTT
		rj.outcome(m, 0, true, r.Received)
		if rj.detect != nil {
			rj.detect.reply(time.Now())
		}
		rj.metrics.rtt.Observe(r.RTT.Seconds())
		rj.hist.observe(0, r.Received, r.RTT, false)
	case oam.KindError:
		status = "error"
		rj.errorsN++
		rj.lastErr = r.Error
		if r.From.IsValid() {
			rj.lastErr += " from " + r.From.String()
		}
		rj.lost(m)
	default:
		rj.lost(m)
	}
	errText := rj.lastErr
	rj.mu.Unlock()
	if m.results == nil {
		return
	}
	line := resultLine{Time: time.Now(), Job: rj.job.Name, Kind: string(KindEcho), Seq: r.Seq, Status: status, FlowLabel: rj.flowLabel(r.Seq)}
	switch r.Kind {
	case oam.KindReply:
		line.Time, line.From, line.RTTMillis = r.Received, r.From.String(), ms(r.RTT)
	case oam.KindError:
		line.Error = errText
	}
	m.writeResult(line)
}

// lost accounts a probe lost (or answered by an error). rj.mu held.
func (rj *runningJob) lost(m *Monitor) {
	rj.lostN++
	rj.segs[0].lost++
	rj.hist.observe(0, time.Now(), 0, true)
	rj.outcome(m, 0, false, time.Now())
}
