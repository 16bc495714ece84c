package collect

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/srh"
)

// MaxPoints is the most timestamping points a path can have: the source and one per slot.
const MaxPoints = srh.MaxSlots + 1

// PointKind says where and how a point's timestamp is taken.
type PointKind uint8

const (
	// PointSource is the prober sending the probe: its TX timestamp.
	PointSource PointKind = iota + 1
	// PointNode is an End.OAM node on the path: the timestamp its End function took, from the
	// agent's report or from the probe's slot.
	PointNode
	// PointReturn is the prober receiving its own probe back (the final segment is the
	// prober's address): the RX timestamp ends a true one-way segment.
	PointReturn
	// PointReply is the prober receiving the final node's reply: the RX timestamp. The segment
	// into it covers the last segment and the way back, and is labelled so.
	PointReply
)

func (k PointKind) String() string {
	switch k {
	case PointSource:
		return "source"
	case PointNode:
		return "node"
	case PointReturn:
		return "return"
	case PointReply:
		return "reply"
	}
	return "unknown"
}

// Point is one place on the path where a probe's passage is timestamped.
type Point struct {
	// Name is how the point is printed ("src", "A", or the SID).
	Name string
	// SID is the segment the point processes (invalid for the source).
	SID  netip.Addr
	Kind PointKind
	// WireIndex is, for a PointNode, the SRH wire index k of its SID (Segment List[k]): the
	// slot it writes and, in its reports, Segments Left + 1.
	WireIndex int
}

// PathPoints returns the points of a probe sent along path (visiting order, the final segment
// last): the source, every segment but the final one as an End.OAM node, and the final segment
// as PointReturn when reflect says it is the prober's own address, PointReply otherwise.
// Segments that are not End.OAM SIDs can be removed from the result; the segments between the
// remaining points then span them.
func PathPoints(path oam.SegmentList, reflect bool) []Point {
	n := len(path)
	pts := make([]Point, 0, n+1)
	pts = append(pts, Point{Name: "src", Kind: PointSource, WireIndex: -1})
	for v := 0; v < n-1; v++ {
		pts = append(pts, Point{Name: path[v].String(), SID: path[v], Kind: PointNode, WireIndex: n - 1 - v})
	}
	if n > 0 {
		last := Point{Name: path[n-1].String(), SID: path[n-1], Kind: PointReply, WireIndex: 0}
		if reflect {
			last.Kind, last.Name = PointReturn, "src"
		}
		pts = append(pts, last)
	}
	return pts
}

// Config configures a Collector. Zero values of optional fields mean their defaults.
type Config struct {
	// Session is the Probe TLV session id; records of other sessions are counted and ignored.
	Session uint32
	// Points of the path in visiting order: Points[0] is the PointSource, the last one is a
	// PointReturn or PointReply, PointNodes between them (see PathPoints).
	Points []Point
	// Window is how many probes may be outstanding at once (default 1024, at most 65536,
	// rounded up to a power of two). Memory is O(Window). A probe pushed out of the window
	// by a newer one is resolved with what it has (counted as Evicted).
	Window int
	// Timeout after a probe was first observed, it is resolved with what has arrived: lost
	// when its final point has not (default 2s).
	Timeout time.Duration
	// Linger is how long a probe whose final point has arrived waits for reports of earlier
	// points still on their way (agents batch them; default 100ms, at most Timeout).
	Linger time.Duration
	// DetectMultiplier: a segment goes down after this many consecutive probes lost on it
	// (default 3, as BFD's usual detect multiplier).
	DetectMultiplier int
	// UpMultiplier: a segment goes up after this many consecutive probes crossed it
	// (default 3).
	UpMultiplier int
	// SourceClock is the prober's clock state (adjtimex), the bound of its TX and RX timestamps.
	SourceClock oam.ClockState
	// SharedClock says that every point reads the same clock (one host, as in a namespace lab,
	// or a common hardware clock): one-way delays are then exact up to the timestamping points
	// and get no clock error bound, whatever adjtimex says.
	SharedClock bool
	// TxFirst says that the owner observes every probe's TX before anything else can arrive
	// (the prober's own collector): observations for a sequence not yet sent are counted as
	// Unexpected and dropped, so a forged report cannot push real probes out of the window.
	TxFirst bool
	// OnResult receives each resolved probe, in sequence order. The *ProbeResult and its
	// Segments are reused: copy what must outlive the call.
	OnResult func(*ProbeResult)
	// OnTransition receives each liveness change.
	OnTransition func(Transition)
}

const (
	defaultWindow  = 1024
	maxWindow      = 65536
	defaultTimeout = 2 * time.Second
	defaultLinger  = 100 * time.Millisecond
	defaultDetect  = 3
	defaultUp      = 3
)

// Clock error codes stored per timestamp: microseconds, or one of these.
const (
	clockUnsynced = math.MaxUint32
	clockUnknown  = math.MaxUint32 - 1
	clockMaxErr   = math.MaxUint32 - 2
)

func clockCode(c oam.ClockState) uint32 {
	if !c.Synchronised {
		return clockUnsynced
	}
	return min(c.EstErrorMicros, clockMaxErr)
}

type nodeClock struct{ node, code uint32 }

// probe states
const (
	stateFree uint8 = iota
	stateOpen
	stateResolved
)

// probe is what the collector holds of one sequence number.
type probe struct {
	seq       uint32
	state     uint8
	txPrecise bool // point 0 came from ObserveTx, not from a record's copy of the Probe TLV
	evicted   bool
	have      uint32 // bit i: point i observed
	byReport  uint32 // bit i: point i's timestamp came in a report
	bySlot    uint32 // bit i: point i's timestamp came in-band
	noClock   uint32 // bit i: point i's clock state is not known yet (an in-band timestamp)
	deadline  int64
	ts        [MaxPoints]int64
	clk       [MaxPoints]uint32
	node      [MaxPoints]uint32
}

// Counters count what the collector saw besides probes.
type Counters struct {
	Records      uint64 // report records observed
	Slots        uint64 // written in-band slots observed
	Foreign      uint64 // records of another session
	Duplicates   uint64 // a point observed twice for one probe (report and slot agreeing count once)
	Late         uint64 // observations for a probe already resolved
	Stale        uint64 // observations older than the window
	Unexpected   uint64 // observations for a sequence never sent (TxFirst)
	PathMismatch uint64 // a record whose SID or Segments Left does not belong to the path
	Evicted      uint64 // probes resolved early because the window was full
	Gaps         uint64 // sequence numbers skipped without any observation
	TimeMismatch uint64 // a slot and a report of one node disagreeing on the timestamp
}

// Collector correlates the probes of one session. See the package documentation.
type Collector struct {
	cfg         Config
	nseg        int
	final       int
	allMask     uint32
	wireToPoint [MaxPoints]int8
	window      uint32
	ring        []probe
	mask        uint32
	started     bool
	head, next  uint32 // head: oldest unresolved; next: one past the newest opened
	srcClock    uint32
	clocks      [MaxPoints]nodeClock
	clockNext   int
	timeout     int64
	linger      int64

	counters Counters
	rtt      oam.Stats
	segs     []segment
	res      ProbeResult
	sent     int
	received int
	partial  int
	lost     int
}

// New checks cfg and allocates everything the collector will need.
func New(cfg Config) (*Collector, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Window == 0 {
		cfg.Window = defaultWindow
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.Linger == 0 {
		cfg.Linger = defaultLinger
	}
	cfg.Linger = min(cfg.Linger, cfg.Timeout)
	if cfg.DetectMultiplier == 0 {
		cfg.DetectMultiplier = defaultDetect
	}
	if cfg.UpMultiplier == 0 {
		cfg.UpMultiplier = defaultUp
	}
	w := uint32(1) << bits.Len32(uint32(cfg.Window-1))
	c := &Collector{
		cfg:      cfg,
		nseg:     len(cfg.Points) - 1,
		final:    len(cfg.Points) - 1,
		allMask:  1<<len(cfg.Points) - 1,
		window:   w,
		ring:     make([]probe, w),
		mask:     w - 1,
		srcClock: clockCode(cfg.SourceClock),
		timeout:  int64(cfg.Timeout),
		linger:   int64(cfg.Linger),
		rtt:      oam.NewQuantileStats(),
	}
	for i := range c.wireToPoint {
		c.wireToPoint[i] = -1
	}
	for i, p := range cfg.Points {
		if p.Kind == PointNode {
			c.wireToPoint[p.WireIndex] = int8(i)
		}
	}
	c.segs = make([]segment, c.nseg)
	for i := range c.segs {
		c.segs[i] = segment{stats: oam.NewQuantileStats(), live: Machine{Detect: c.cfg.DetectMultiplier, Up: c.cfg.UpMultiplier}}
	}
	c.res.Session = cfg.Session
	return c, nil
}

func (cfg *Config) validate() error {
	n := len(cfg.Points)
	if n < 2 || n > MaxPoints {
		return fmt.Errorf("collect: points: %d, want 2 to %d (the source, nodes, the final point)", n, MaxPoints)
	}
	if cfg.Points[0].Kind != PointSource {
		return errors.New("collect: points[0]: must be the source (PointSource)")
	}
	if k := cfg.Points[n-1].Kind; k != PointReturn && k != PointReply {
		return fmt.Errorf("collect: points[%d]: the final point must be PointReturn or PointReply, not %v", n-1, k)
	}
	seen := map[int]int{}
	for i := 1; i < n-1; i++ {
		p := cfg.Points[i]
		if p.Kind != PointNode {
			return fmt.Errorf("collect: points[%d]: %v between the source and the final point, want PointNode", i, p.Kind)
		}
		if p.WireIndex < 1 || p.WireIndex >= srh.MaxSlots {
			return fmt.Errorf("collect: points[%d].WireIndex: %d, want 1 to %d", i, p.WireIndex, srh.MaxSlots-1)
		}
		if j, dup := seen[p.WireIndex]; dup {
			return fmt.Errorf("collect: points[%d].WireIndex: %d already used by points[%d]", i, p.WireIndex, j)
		}
		seen[p.WireIndex] = i
		if i > 1 && p.WireIndex >= cfg.Points[i-1].WireIndex {
			return fmt.Errorf("collect: points[%d].WireIndex: %d, want less than points[%d]'s %d (visiting order counts wire indexes down)", i, p.WireIndex, i-1, cfg.Points[i-1].WireIndex)
		}
	}
	switch {
	case cfg.Window < 0 || cfg.Window > maxWindow:
		return fmt.Errorf("collect: window: %d, want 1 to %d", cfg.Window, maxWindow)
	case cfg.Timeout < 0:
		return fmt.Errorf("collect: timeout: %v must not be negative", cfg.Timeout)
	case cfg.Linger < 0:
		return fmt.Errorf("collect: linger: %v must not be negative", cfg.Linger)
	case cfg.DetectMultiplier < 0 || cfg.DetectMultiplier > 255:
		return fmt.Errorf("collect: detect multiplier: %d, want 1 to 255", cfg.DetectMultiplier)
	case cfg.UpMultiplier < 0 || cfg.UpMultiplier > 255:
		return fmt.Errorf("collect: up multiplier: %d, want 1 to 255", cfg.UpMultiplier)
	}
	return nil
}

// Points returns the configured points.
func (c *Collector) Points() []Point { return c.cfg.Points }

// slot returns the open probe for seq, opening it (and any skipped sequence before it) when it
// is new, or nil when the observation is late, stale or unexpected (counted).
func (c *Collector) slot(seq uint32, now int64, isTx bool) *probe {
	if !c.started {
		if c.cfg.TxFirst && !isTx {
			c.counters.Unexpected++
			return nil
		}
		c.started = true
		c.head, c.next = seq, seq
	}
	if d := int32(seq - c.head); d < 0 {
		p := &c.ring[seq&c.mask]
		if p.seq == seq && p.state == stateResolved {
			c.counters.Late++
		} else {
			c.counters.Stale++
		}
		return nil
	}
	if int32(seq-c.next) >= 0 {
		if c.cfg.TxFirst && !isTx {
			c.counters.Unexpected++
			return nil
		}
		// Make room: resolve the oldest probes until seq fits in the window.
		for seq-c.head >= c.window {
			if c.head == c.next {
				c.counters.Gaps += uint64(seq - c.next)
				c.head, c.next = seq, seq
				break
			}
			c.ring[c.head&c.mask].evicted = true
			c.counters.Evicted++
			c.resolveHead(now)
		}
		for int32(seq-c.next) >= 0 {
			p := &c.ring[c.next&c.mask]
			*p = probe{seq: c.next, state: stateOpen, deadline: now + c.timeout}
			c.next++
		}
	}
	p := &c.ring[seq&c.mask]
	if p.state != stateOpen || p.seq != seq {
		c.counters.Late++
		return nil
	}
	return p
}

// ObserveTx records the sender's TX timestamp of probe seq (CLOCK_TAI ns; a kernel TX
// timestamp is better than the one written into the Probe TLV, and replaces it).
func (c *Collector) ObserveTx(seq uint32, txNs int64, now int64) {
	p := c.slot(seq, now, true)
	if p == nil {
		return
	}
	p.ts[0], p.clk[0], p.txPrecise = txNs, c.srcClock, true
	p.have |= 1
	c.advance(now)
}

// ObserveReceive records the RX timestamp (CLOCK_TAI ns) of probe seq at the final point: the
// reflected probe or the reply. A second one counts as a duplicate.
func (c *Collector) ObserveReceive(seq uint32, rxNs int64, now int64) {
	p := c.slot(seq, now, false)
	if p == nil {
		return
	}
	bit := uint32(1) << c.final
	if p.have&bit != 0 {
		c.counters.Duplicates++
		return
	}
	p.ts[c.final], p.clk[c.final] = rxNs, c.srcClock
	p.have |= bit
	if !c.complete(p) {
		p.deadline = min(p.deadline, now+c.linger)
	}
	c.advance(now)
}

// ObserveReport correlates every record of a decoded agent report.
func (c *Collector) ObserveReport(r *oam.Report, now int64) {
	code := clockCode(r.Clock)
	for i := range r.Records {
		c.observeRecord(r.NodeID, code, &r.Records[i], now)
	}
	c.advance(now)
}

// ObserveRecord correlates one record of a report from node nodeID whose clock was clock.
func (c *Collector) ObserveRecord(nodeID uint32, clock oam.ClockState, rec *oam.ReportRecord, now int64) {
	c.observeRecord(nodeID, clockCode(clock), rec, now)
	c.advance(now)
}

func (c *Collector) observeRecord(nodeID, clk uint32, rec *oam.ReportRecord, now int64) {
	c.counters.Records++
	if rec.Session != c.cfg.Session {
		c.counters.Foreign++
		return
	}
	c.noteClock(nodeID, clk)
	k := int(rec.SegmentsLeft) + 1
	if k >= MaxPoints || c.wireToPoint[k] < 0 {
		c.counters.PathMismatch++
		return
	}
	pt := int(c.wireToPoint[k])
	if rec.SID != c.cfg.Points[pt].SID {
		c.counters.PathMismatch++
		return
	}
	p := c.slot(rec.Sequence, now, false)
	if p == nil {
		return
	}
	if p.have&1 == 0 {
		// The TX timestamp travels in the probe: good enough until ObserveTx brings a better one.
		p.ts[0], p.clk[0] = int64(rec.SenderTxNs), c.srcClock
		p.have |= 1
	}
	c.setPoint(p, pt, int64(rec.TimestampNs), clk, nodeID, true)
}

// ObserveSlots correlates the in-band timestamps of a probe that came back (reflected, or
// quoted in a report's capture): the Probe TLV names it, every written slot is a node's
// timestamp. A node's clock state is the one of its latest report; until one has come, its
// delays are flagged ClockUnknown.
func (c *Collector) ObserveSlots(probeTLV srh.Probe, slots srh.Slots, now int64) {
	if probeTLV.Session != c.cfg.Session {
		c.counters.Foreign++
		return
	}
	var p *probe
	for i := 1; i < c.final; i++ {
		pt := &c.cfg.Points[i]
		s, err := slots.Slot(pt.WireIndex)
		if err != nil || !s.Written() {
			continue
		}
		c.counters.Slots++
		if int(s.SegmentsLeft)+1 != pt.WireIndex {
			c.counters.PathMismatch++
			continue
		}
		if p == nil {
			if p = c.slot(probeTLV.Sequence, now, false); p == nil {
				return
			}
			if p.have&1 == 0 {
				p.ts[0], p.clk[0] = int64(probeTLV.TxTimestamp), c.srcClock
				p.have |= 1
			}
		}
		c.setPoint(p, i, int64(s.Timestamp), c.lastClock(s.NodeID), s.NodeID, false)
	}
	c.advance(now)
}

// noteClock remembers node's latest clock state, for its in-band timestamps.
func (c *Collector) noteClock(node, clk uint32) {
	for i := range c.clocks {
		if c.clocks[i].node == node {
			c.clocks[i].code = clk
			return
		}
	}
	c.clocks[c.clockNext%len(c.clocks)] = nodeClock{node: node, code: clk}
	c.clockNext++
}

// lastClock is the clock code of node's latest report, or clockUnknown.
func (c *Collector) lastClock(node uint32) uint32 {
	for i := range c.clocks {
		if c.clocks[i].node == node && node != 0 {
			return c.clocks[i].code
		}
	}
	return clockUnknown
}

func (c *Collector) setPoint(p *probe, pt int, ts int64, clk, node uint32, fromReport bool) {
	bit := uint32(1) << pt
	src := &p.bySlot
	if fromReport {
		src = &p.byReport
	}
	if p.have&bit != 0 {
		switch {
		case *src&bit != 0:
			c.counters.Duplicates++ // the same source twice
		case p.ts[pt] != ts:
			c.counters.TimeMismatch++ // a report and a slot of one node disagree: keep the first
		case fromReport:
			p.clk[pt] = clk // the slot came first; the report brings the clock state
			p.noClock &^= bit
		}
		*src |= bit
		return
	}
	p.ts[pt], p.clk[pt], p.node[pt] = ts, clk, node
	p.have |= bit
	*src |= bit
	if clk == clockUnknown {
		p.noClock |= bit
	}
}

// complete says a probe has every timestamp and, unless the clock is shared, every clock
// state: a probe whose in-band timestamps came back before the nodes' reports waits (at most
// Linger) for the reports to say how far those timestamps can be trusted.
func (c *Collector) complete(p *probe) bool {
	return p.have == c.allMask && (p.noClock == 0 || c.cfg.SharedClock)
}

// advance resolves the probes at the head of the window that are complete.
func (c *Collector) advance(now int64) {
	for c.head != c.next {
		p := &c.ring[c.head&c.mask]
		if !c.complete(p) && now < p.deadline {
			return
		}
		c.resolveHead(now)
	}
}

// Expire resolves the probes whose deadline has passed (and the complete ones behind them).
func (c *Collector) Expire(now int64) { c.advance(now) }

// NextDeadline is when the oldest outstanding probe will be resolved if nothing more arrives;
// false when none is outstanding.
func (c *Collector) NextDeadline() (int64, bool) {
	if c.head == c.next {
		return 0, false
	}
	return c.ring[c.head&c.mask].deadline, true
}

// Outstanding is the number of probes not yet resolved.
func (c *Collector) Outstanding() int { return int(c.next - c.head) }

// Flush resolves every outstanding probe with what it has (the end of a run).
func (c *Collector) Flush(now int64) {
	for c.head != c.next {
		c.resolveHead(now)
	}
}

func (c *Collector) resolveHead(now int64) {
	p := &c.ring[c.head&c.mask]
	c.head++
	p.state = stateResolved
	if p.have == 0 {
		c.counters.Gaps++
		return
	}
	c.resolve(p, now)
}
