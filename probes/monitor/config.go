package monitor

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/ioam"
	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/pathtrace"
	"github.com/srv6oam/srv6oam/probes/stamp"
)

// Kind is how a job probes.
type Kind string

const (
	// KindEcho: an ICMPv6 Echo Request along the segment list, answered by the destination.
	// Measures round-trip time and end-to-end liveness; shares the monitor's one socket pair.
	KindEcho Kind = "echo"
	// KindTimestamped: a probe carrying the OAM Probe TLV and timestamp slots, reflected back
	// to the monitor (probes/delay): per-segment one-way delay and liveness.
	KindTimestamped Kind = "timestamped"
	// KindIOAM: an Echo Request along the segment list, to the destination (a SID that sends
	// it on) and back to the monitor, carrying an IOAM Pre-allocated Trace every IOAM-enabled
	// hop fills (probes/pathtrace): per-hop delay and path changes, end-to-end liveness.
	KindIOAM Kind = "ioam"
	// KindStamp: STAMP test packets (RFC 8762, UDP) to a Session-Reflector (srv6-agent's or a
	// router's) on the target, through the segments when given: round trip, one-way delay
	// each way, the reflector's residence, loss per direction from a stateful reflector.
	KindStamp Kind = "stamp"
)

// JobIOAM is the trace an ioam job's probes carry, and what is known of the hops' clocks.
type JobIOAM struct {
	Namespace uint16
	Type      ioam.Type
	// Nodes is the number of entries pre-allocated.
	Nodes int
	// ClockError is how well the IOAM hops' realtime clocks are synchronised (0: unknown; then
	// only shared_clock lets a delay count).
	ClockError time.Duration
}

// JobSTAMP is a stamp job's session: what its stamp: mapping says.
type JobSTAMP struct {
	// Port is the reflector's UDP port (default 862).
	Port uint16
	// SSID is the Session-Sender Identifier (0: none).
	SSID uint16
	// PTP sends PTPv2 timestamps instead of NTP's (RFC 8762's default).
	PTP bool
	// TLVs are the RFC 8972 / RFC 9503 TLVs of every test packet; HMACKeyFile is where the
	// HMAC key (TLVs.HMACKey) was read from.
	TLVs        oam.STAMPTLVRequest
	HMACKeyFile string
}

func (s *JobSTAMP) equal(o *JobSTAMP) bool {
	a, b := s.TLVs, o.TLVs
	return s.Port == o.Port && s.SSID == o.SSID && s.PTP == o.PTP && s.HMACKeyFile == o.HMACKeyFile &&
		a.Location == b.Location && a.TimestampInfo == b.TimestampInfo && a.CoS == b.CoS && a.DSCP == b.DSCP &&
		a.DirectMeasurement == b.DirectMeasurement && a.FollowUp == b.FollowUp && a.DestinationNode == b.DestinationNode &&
		a.ReturnAddress == b.ReturnAddress && slices.Equal(a.ReturnSegments, b.ReturnSegments) && a.NoReply == b.NoReply &&
		string(a.HMACKey) == string(b.HMACKey)
}

// DefaultJobIOAM is an ioam job's trace when its ioam: mapping says nothing: namespace 0,
// hop limit and node id, interfaces, receive time, 12 entries.
var DefaultJobIOAM = JobIOAM{Type: ioam.Bits(ioam.BitHopLimitNodeID, ioam.BitInterfaces, ioam.BitTimestampSeconds, ioam.BitTimestampFraction), Nodes: 12}

// Limits of the values a job may take.
const (
	MinInterval      = 10 * time.Millisecond
	MaxInterval      = time.Hour
	MaxFlowLabels    = 1 << 16
	MaxJobs          = 60000
	defaultInterval  = time.Second
	defaultDetect    = 3
	defaultUp        = 3
	defaultEchoBytes = 16
	// MaxTimestampedSize is the most echo data a timestamped probe carries (probes/delay's
	// probe builder refuses more; TestJobLimitsAreTheEngines keeps the two equal).
	MaxTimestampedSize = 1024
)

// Job is one validated job.
type Job struct {
	Name string
	Kind Kind
	// Target is the destination and the segments before it.
	Target   oam.Target
	Encoding probes.Encoding
	Interval time.Duration
	// Timeout after which an unanswered probe is lost (default: the interval, at most 2s).
	Timeout time.Duration
	// Size is the echo payload in bytes (ping -s).
	Size int
	// FlowLabels is the flow-label spread: probes cycle through this many flow labels
	// (1: every probe the same label), so ECMP paths are all exercised.
	FlowLabels int
	// FlowLabel is the first label of the spread (default derived from the job name).
	FlowLabel uint32
	HopLimit  uint8
	// DetectMultiplier consecutive lost probes take a segment down; UpMultiplier consecutive
	// answered ones bring it up.
	DetectMultiplier, UpMultiplier int
	// SharedClock (timestamped and ioam jobs): every point reads one clock (a lab on one host).
	SharedClock bool
	// IOAM is the trace of an ioam job (nil for other kinds).
	IOAM *JobIOAM
	// STAMP is a stamp job's session (nil for other kinds).
	STAMP *JobSTAMP
	// Labels are added to every series of the job.
	Labels map[string]string
	// Line is where the job starts in its file.
	Line int
}

// Config is a validated configuration file.
type Config struct {
	File string
	Jobs []Job
	// Shard, when set, is this monitor's share of the file's jobs (Jobs holds only those);
	// Total is how many jobs the file has in all.
	Shard *Shard
	Total int
}

// Shard is one of Count monitors that split one job list with no coordination: a monitor runs
// the jobs whose name hashes to its Index, by Prometheus's hashmod rule (ShardOf).
type Shard struct {
	Count, Index int
}

// MaxShards is the most monitors one job list can be split across.
const MaxShards = 1024

// ShardOf is the shard of count a job named name belongs to: the low 64 bits of the name's MD5,
// big-endian, modulo count, as Prometheus's hashmod relabelling computes it, so that a scrape
// configuration can shard the same way.
func ShardOf(name string, count int) int {
	sum := md5.Sum([]byte(name))
	return int(binary.BigEndian.Uint64(sum[8:]) % uint64(count))
}

// ConfigError is a configuration mistake: where it is, which job and field, what was expected.
type ConfigError struct {
	File  string
	Line  int
	Job   string // empty outside a job
	Field string
	Msg   string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	if e.Job != "" {
		fmt.Fprintf(&b, "job %q: ", e.Job)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "%s: ", e.Field)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// LoadConfig reads and validates a configuration file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read monitor config: %w", err)
	}
	return ParseConfig(data, path)
}

var (
	jobNameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)
	labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	// Label names the monitor sets itself (le: a histogram bucket's; hop, node: an ioam job's).
	reservedLabels = []string{"job_name", "segment", "from", "to", "kind", "job", "instance", "le", "hop", "node"}
)

type parser struct {
	file string
	job  string
}

func (p *parser) errf(n *yaml.Node, field, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &ConfigError{File: p.file, Line: line, Job: p.job, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// defaults are the file-wide defaults a job inherits.
type defaults struct {
	interval, timeout time.Duration
	size, flowLabels  int
	detect, up        int
	sharedClock       bool
}

// ParseConfig validates data; file names it in errors.
func ParseConfig(data []byte, file string) (*Config, error) {
	p := &parser{file: file}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ConfigError{File: file, Line: 1, Msg: "empty file: want a mapping with a jobs list"}
		}
		return nil, fmt.Errorf("%s: not YAML: %w", file, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, p.errf(&doc, "", "want a mapping with a jobs list at the top")
	}
	root := doc.Content[0]
	d := defaults{interval: defaultInterval, size: defaultEchoBytes, flowLabels: 1, detect: defaultDetect, up: defaultUp}
	var jobsNode *yaml.Node
	var shard *Shard
	var shardNode *yaml.Node
	err := p.mapping(root, map[string]func(*yaml.Node) error{
		"defaults": func(v *yaml.Node) error { return p.defaults(v, &d) },
		"shard": func(v *yaml.Node) error {
			var err error
			shardNode = v
			shard, err = p.shard(v)
			return err
		},
		"jobs": func(v *yaml.Node) error {
			jobsNode = v
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	if jobsNode == nil {
		return nil, p.errf(root, "jobs", "missing: want a list of jobs")
	}
	if jobsNode.Kind != yaml.SequenceNode {
		return nil, p.errf(jobsNode, "jobs", "want a list of jobs, got %s", kindName(jobsNode))
	}
	limit := MaxJobs
	if shard != nil {
		limit *= shard.Count
	}
	if len(jobsNode.Content) > limit {
		return nil, p.errf(jobsNode, "jobs", "%d jobs: at most %d per monitor (shard jobs across monitors: shard: {count: N, index: I})", len(jobsNode.Content), MaxJobs)
	}
	cfg := &Config{File: file, Shard: shard}
	seen := map[string]int{}
	for _, jn := range jobsNode.Content {
		job, err := p.parseJob(jn, d)
		if err != nil {
			return nil, err
		}
		if line, dup := seen[job.Name]; dup {
			p.job = job.Name
			return nil, p.errf(jn, "name", "duplicate: job %q is already defined at line %d", job.Name, line)
		}
		seen[job.Name] = job.Line
		cfg.Total++
		// Every job is checked, whichever shard it belongs to: the monitors of one list agree.
		if shard == nil || ShardOf(job.Name, shard.Count) == shard.Index {
			cfg.Jobs = append(cfg.Jobs, job)
		}
	}
	p.job = ""
	if cfg.Total == 0 {
		return nil, p.errf(jobsNode, "jobs", "empty: want at least one job")
	}
	if len(cfg.Jobs) == 0 {
		return nil, p.errf(shardNode, "shard", "index %d of %d holds none of the %d jobs (their names hash to other shards): fewer shards", shard.Index, shard.Count, cfg.Total)
	}
	if len(cfg.Jobs) > MaxJobs {
		return nil, p.errf(shardNode, "shard", "index %d of %d holds %d jobs: at most %d per monitor (more shards)", shard.Index, shard.Count, len(cfg.Jobs), MaxJobs)
	}
	return cfg, nil
}

// shard reads shard: {count: N, index: I}.
func (p *parser) shard(v *yaml.Node) (*Shard, error) {
	var sh Shard
	var err error
	count, index := false, false
	if err = p.mapping(v, map[string]func(*yaml.Node) error{
		"count": func(v *yaml.Node) error {
			count = true
			sh.Count, err = p.integer(v, "shard.count", 1, MaxShards)
			return err
		},
		"index": func(v *yaml.Node) error {
			index = true
			sh.Index, err = p.integer(v, "shard.index", 0, MaxShards-1)
			return err
		},
	}); err != nil {
		return nil, err
	}
	switch {
	case !count || !index:
		return nil, p.errf(v, "shard", "want count and index: shard: {count: N, index: I}")
	case sh.Index >= sh.Count:
		return nil, p.errf(v, "shard.index", "%d: must be 0 to count-1 (%d)", sh.Index, sh.Count-1)
	}
	return &sh, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// mapping walks a mapping node, refusing unknown and repeated keys.
func (p *parser) mapping(n *yaml.Node, fields map[string]func(*yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return p.errf(n, "", "want a mapping, got %s", kindName(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		fn, ok := fields[k.Value]
		if !ok {
			known := make([]string, 0, len(fields))
			for name := range fields {
				known = append(known, name)
			}
			slices.Sort(known)
			return p.errf(k, k.Value, "unknown field; want one of %s", strings.Join(known, ", "))
		}
		if seen[k.Value] {
			return p.errf(k, k.Value, "given twice")
		}
		seen[k.Value] = true
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) scalar(v *yaml.Node, field string) (string, error) {
	if v.Kind != yaml.ScalarNode {
		return "", p.errf(v, field, "want a single value, got %s", kindName(v))
	}
	return v.Value, nil
}

func (p *parser) duration(v *yaml.Node, field string, lo, hi time.Duration) (time.Duration, error) {
	s, err := p.scalar(v, field)
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, p.errf(v, field, "want a duration such as 500ms or 1s, got %q", s)
	}
	if d < lo || d > hi {
		return 0, p.errf(v, field, "%v: want %v to %v", d, lo, hi)
	}
	return d, nil
}

func (p *parser) integer(v *yaml.Node, field string, lo, hi int) (int, error) {
	s, err := p.scalar(v, field)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil || n < int64(lo) || n > int64(hi) {
		return 0, p.errf(v, field, "want an integer from %d to %d, got %q", lo, hi, s)
	}
	return int(n), nil
}

func (p *parser) boolean(v *yaml.Node, field string) (bool, error) {
	s, err := p.scalar(v, field)
	if err != nil {
		return false, err
	}
	switch s {
	case "true", "yes", "on":
		return true, nil
	case "false", "no", "off":
		return false, nil
	}
	return false, p.errf(v, field, "want true or false, got %q", s)
}

func (p *parser) defaults(n *yaml.Node, d *defaults) error {
	var err error
	return p.mapping(n, map[string]func(*yaml.Node) error{
		"interval": func(v *yaml.Node) error {
			d.interval, err = p.duration(v, "defaults.interval", MinInterval, MaxInterval)
			return err
		},
		"timeout": func(v *yaml.Node) error {
			d.timeout, err = p.duration(v, "defaults.timeout", time.Millisecond, time.Minute)
			return err
		},
		"size": func(v *yaml.Node) error {
			d.size, err = p.integer(v, "defaults.size", 0, 65000)
			return err
		},
		"flow_labels": func(v *yaml.Node) error {
			d.flowLabels, err = p.integer(v, "defaults.flow_labels", 1, MaxFlowLabels)
			return err
		},
		"detect_multiplier": func(v *yaml.Node) error {
			d.detect, err = p.integer(v, "defaults.detect_multiplier", 1, 255)
			return err
		},
		"up_multiplier": func(v *yaml.Node) error {
			d.up, err = p.integer(v, "defaults.up_multiplier", 1, 255)
			return err
		},
		"shared_clock": func(v *yaml.Node) error {
			d.sharedClock, err = p.boolean(v, "defaults.shared_clock")
			return err
		},
	})
}

func (p *parser) parseJob(n *yaml.Node, d defaults) (Job, error) {
	p.job = ""
	job := Job{Kind: KindEcho, Interval: d.interval, Timeout: d.timeout, Size: d.size, FlowLabels: d.flowLabels,
		DetectMultiplier: d.detect, UpMultiplier: d.up, SharedClock: d.sharedClock, HopLimit: 64, Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return job, p.errf(n, "", "a job must be a mapping with name, target, ...; got %s", kindName(n))
	}
	// The name first, so that every later error names the job.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" {
			v := n.Content[i+1]
			s, err := p.scalar(v, "name")
			if err != nil {
				return job, err
			}
			if !jobNameRE.MatchString(s) {
				return job, p.errf(v, "name", "%q: want 1-128 characters of letters, digits, _ . : -, starting with a letter or digit", s)
			}
			job.Name = s
		}
	}
	if job.Name == "" {
		return job, p.errf(n, "name", "missing: every job needs a name")
	}
	p.job = job.Name
	var (
		err                      error
		haveTarget, haveFlowBase bool
	)
	// at is where a field was given (for errors about combinations), else the job.
	at := func(field string) *yaml.Node {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == field {
				return n.Content[i]
			}
		}
		return n
	}
	err = p.mapping(n, map[string]func(*yaml.Node) error{
		"name": func(*yaml.Node) error { return nil },
		"kind": func(v *yaml.Node) error {
			s, err := p.scalar(v, "kind")
			if err != nil {
				return err
			}
			switch Kind(s) {
			case KindEcho, KindTimestamped, KindIOAM, KindStamp:
				job.Kind = Kind(s)
				return nil
			}
			return p.errf(v, "kind", "%q: want echo, timestamped, ioam or stamp", s)
		},
		"target": func(v *yaml.Node) error {
			s, err := p.scalar(v, "target")
			if err != nil {
				return err
			}
			a, err := oam.ParseSegment(s)
			if err != nil {
				return p.errf(v, "target", "want an IPv6 address: %v", err)
			}
			job.Target.Destination, haveTarget = a, true
			return nil
		},
		"segments": func(v *yaml.Node) error {
			if v.Kind != yaml.SequenceNode {
				return p.errf(v, "segments", "want a list of IPv6 addresses (SIDs), got %s", kindName(v))
			}
			for i, e := range v.Content {
				field := fmt.Sprintf("segments[%d]", i)
				s, err := p.scalar(e, field)
				if err != nil {
					return err
				}
				a, err := oam.ParseSegment(s)
				if err != nil {
					return p.errf(e, field, "want an IPv6 address (a SID): %v", err)
				}
				job.Target.Segments = append(job.Target.Segments, a)
			}
			return nil
		},
		"decap": func(v *yaml.Node) error {
			job.Target.Decap, err = p.boolean(v, "decap")
			return err
		},
		"encoding": func(v *yaml.Node) error {
			s, err := p.scalar(v, "encoding")
			if err != nil {
				return err
			}
			switch s {
			case "encap":
				job.Encoding = probes.Encap
			case "insert":
				job.Encoding = probes.Insert
			default:
				return p.errf(v, "encoding", "%q: want encap or insert", s)
			}
			return nil
		},
		"interval": func(v *yaml.Node) error {
			job.Interval, err = p.duration(v, "interval", MinInterval, MaxInterval)
			return err
		},
		"timeout": func(v *yaml.Node) error {
			job.Timeout, err = p.duration(v, "timeout", time.Millisecond, time.Minute)
			return err
		},
		"size": func(v *yaml.Node) error {
			job.Size, err = p.integer(v, "size", 0, probes.MaxPayload)
			return err
		},
		"flow_labels": func(v *yaml.Node) error {
			job.FlowLabels, err = p.integer(v, "flow_labels", 1, MaxFlowLabels)
			return err
		},
		"flow_label": func(v *yaml.Node) error {
			var fl int
			fl, err = p.integer(v, "flow_label", 0, 0xfffff)
			job.FlowLabel, haveFlowBase = uint32(fl), true
			return err
		},
		"hop_limit": func(v *yaml.Node) error {
			var hl int
			hl, err = p.integer(v, "hop_limit", 1, 255)
			job.HopLimit = uint8(hl)
			return err
		},
		"detect_multiplier": func(v *yaml.Node) error {
			job.DetectMultiplier, err = p.integer(v, "detect_multiplier", 1, 255)
			return err
		},
		"up_multiplier": func(v *yaml.Node) error {
			job.UpMultiplier, err = p.integer(v, "up_multiplier", 1, 255)
			return err
		},
		"shared_clock": func(v *yaml.Node) error {
			job.SharedClock, err = p.boolean(v, "shared_clock")
			return err
		},
		"labels": func(v *yaml.Node) error { return p.labels(v, &job) },
		"ioam": func(v *yaml.Node) error {
			job.IOAM, err = p.ioam(v)
			return err
		},
		"stamp": func(v *yaml.Node) error {
			job.STAMP, err = p.stamp(v)
			return err
		},
	})
	if err != nil {
		return job, err
	}
	switch {
	case job.Kind == KindStamp && job.STAMP == nil:
		job.STAMP = &JobSTAMP{Port: oam.STAMPPort}
	case job.Kind != KindStamp && job.STAMP != nil:
		return job, p.errf(at("stamp"), "stamp", "only a job of kind stamp has a stamp: mapping")
	}
	if job.Kind == KindStamp {
		for _, f := range []string{"encoding", "decap", "flow_labels", "flow_label", "hop_limit"} {
			if at(f) != n {
				return job, p.errf(at(f), f, "a stamp job's test packets are UDP from an ordinary socket: %s has no meaning for them", f)
			}
		}
		if at("size") == n {
			job.Size = 0 // as long as the TLVs need, 44 bytes at least
		}
	}
	switch {
	case job.Kind == KindIOAM && job.FlowLabels > maxIOAMFlowLabels:
		from := ""
		if at("flow_labels") == n {
			from = " (defaults.flow_labels; give the job its own)"
		}
		return job, p.errf(at("flow_labels"), "flow_labels", "%d%s: an ioam job keeps each label's last path, at most %d labels", job.FlowLabels, from, maxIOAMFlowLabels)
	case job.Kind == KindIOAM && job.IOAM == nil:
		d := DefaultJobIOAM
		job.IOAM = &d
	case job.Kind != KindIOAM && job.IOAM != nil:
		return job, p.errf(at("ioam"), "ioam", "only a job of kind ioam carries an IOAM trace")
	}
	if !haveTarget {
		return job, p.errf(n, "target", "missing: want the destination's IPv6 address")
	}
	if job.Target.Decap && len(job.Target.Segments) == 0 {
		return job, p.errf(at("decap"), "decap", "needs a segment list whose last SID decapsulates (End.DT6/End.DX6)")
	}
	if job.Target.Decap && job.Encoding != probes.Encap {
		return job, p.errf(at("decap"), "decap", "needs encoding encap (the insert encoding has no inner packet)")
	}
	if job.Kind == KindIOAM && job.Target.Decap {
		return job, p.errf(at("decap"), "decap", "an ioam probe returns to the monitor: it cannot end at a decapsulating SID")
	}
	if job.Kind == KindIOAM && at("encoding") != n {
		return job, p.errf(at("encoding"), "encoding", "an ioam probe always carries the SRH in the echo request itself (it returns to the monitor): leave encoding out")
	}
	if job.Kind == KindTimestamped && len(job.Target.Segments) == 0 {
		return job, p.errf(at("kind"), "segments", "a timestamped job needs a segment list (the probe's TLVs travel in an SRH)")
	}
	if err := p.engineLimits(&job, at); err != nil {
		return job, err
	}
	if job.Timeout == 0 {
		job.Timeout = min(job.Interval, 2*time.Second)
	}
	if job.Timeout > job.Interval*time.Duration(job.DetectMultiplier) {
		return job, p.errf(at("timeout"), "timeout", "%v is longer than interval × detect_multiplier (%v): a segment could not go down in time",
			job.Timeout, job.Interval*time.Duration(job.DetectMultiplier))
	}
	if !haveFlowBase {
		job.FlowLabel = flowLabelFor(job.Name)
	}
	if int(job.FlowLabel)+job.FlowLabels-1 > 0xfffff {
		return job, p.errf(at("flow_labels"), "flow_labels", "flow_label %#x + %d labels passes 0xfffff", job.FlowLabel, job.FlowLabels)
	}
	return job, nil
}

// engineLimits refuses what the job's engine would refuse when the job starts (probes/ping's
// echo builder, probes/delay's prober), so that a config that loads (srv6-monitor --check) is
// one whose jobs run. at finds where a field was given.
func (p *parser) engineLimits(job *Job, at func(string) *yaml.Node) error {
	path := job.Target.Path()
	switch job.Kind {
	case KindEcho:
		if len(path) > probes.MaxEchoPath {
			return p.errf(at("segments"), "segments", "%d segments and the target make %d; an echo probe's SRH holds at most %d",
				len(job.Target.Segments), len(path), probes.MaxEchoPath)
		}
	case KindIOAM:
		if n := len(path) + 1; n > srh.MaxSegments {
			return p.errf(at("segments"), "segments", "%d segments, the target and the return to the monitor make %d; an SRH holds at most %d",
				len(job.Target.Segments), n, srh.MaxSegments)
		}
		if job.Size > pathtrace.MaxPayload {
			return p.errf(at("size"), "size", "%d: an ioam probe carries 0 to %d bytes of echo data", job.Size, pathtrace.MaxPayload)
		}
	case KindStamp:
		if job.Size != 0 && (job.Size < oam.STAMPPacketSize || job.Size > stamp.MaxSize) {
			return p.errf(at("size"), "size", "%d: a STAMP test packet's UDP payload is %d to %d bytes", job.Size, oam.STAMPPacketSize, stamp.MaxSize)
		}
		if len(path) > srh.MaxSegments {
			return p.errf(at("segments"), "segments", "%d segments and the target make %d; an SRH holds at most %d", len(job.Target.Segments), len(path), srh.MaxSegments)
		}
		b, err := job.STAMP.TLVs.AppendTLVs(make([]byte, oam.STAMPPacketSize), 0)
		if err != nil {
			return p.errf(at("stamp"), "stamp", "%v", err)
		}
		if len(b) > stamp.MaxSize || (job.Size != 0 && len(b) > job.Size) {
			return p.errf(at("stamp"), "stamp.tlvs", "the TLVs need %d bytes of UDP payload; size is %d (at most %d)", len(b), job.Size, stamp.MaxSize)
		}
	case KindTimestamped:
		if job.Target.Decap {
			return p.errf(at("decap"), "decap", "a timestamped probe returns to the monitor: it cannot end at a decapsulating SID")
		}
		// The probe's last segment is the monitor itself: one slot more than the path.
		if n := len(path) + 1; n > srh.MaxSlots {
			return p.errf(at("segments"), "segments", "%d segments, the target and the return to the monitor make %d; the Timestamp Slots TLV holds at most %d",
				len(job.Target.Segments), n, srh.MaxSlots)
		}
		if job.Size < 1 || job.Size > MaxTimestampedSize {
			return p.errf(at("size"), "size", "%d: a timestamped probe carries 1 to %d bytes of echo data", job.Size, MaxTimestampedSize)
		}
	}
	return nil
}

func (p *parser) labels(v *yaml.Node, job *Job) error {
	if v.Kind != yaml.MappingNode {
		return p.errf(v, "labels", "want a mapping of label names to values, got %s", kindName(v))
	}
	job.Labels = map[string]string{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		field := "labels." + k.Value
		if !labelNameRE.MatchString(k.Value) || strings.HasPrefix(k.Value, "__") {
			return p.errf(k, field, "%q is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)", k.Value)
		}
		if slices.Contains(reservedLabels, k.Value) {
			return p.errf(k, field, "%q is set by the monitor itself; reserved: %s", k.Value, strings.Join(reservedLabels, ", "))
		}
		if _, dup := job.Labels[k.Value]; dup {
			return p.errf(k, field, "given twice")
		}
		s, err := p.scalar(val, field)
		if err != nil {
			return err
		}
		job.Labels[k.Value] = s
	}
	return nil
}

// flowLabelFor derives a job's first flow label from its name (FNV-1a), non-zero, leaving room
// for a spread.
func flowLabelFor(name string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return 1 + h%(0xfffff-MaxFlowLabels)
}

// Equal reports whether two jobs probe the same way: a reload keeps the state of a job whose
// new definition is Equal to the old one.
func (j Job) Equal(o Job) bool {
	return j.Name == o.Name && j.Kind == o.Kind && slices.Equal(j.Target.Segments, o.Target.Segments) &&
		j.Target.Destination == o.Target.Destination && j.Target.Decap == o.Target.Decap &&
		j.Encoding == o.Encoding && j.Interval == o.Interval && j.Timeout == o.Timeout && j.Size == o.Size &&
		j.FlowLabels == o.FlowLabels && j.FlowLabel == o.FlowLabel && j.HopLimit == o.HopLimit &&
		j.DetectMultiplier == o.DetectMultiplier && j.UpMultiplier == o.UpMultiplier &&
		j.SharedClock == o.SharedClock && mapsEqual(j.Labels, o.Labels) &&
		(j.IOAM == nil) == (o.IOAM == nil) && (j.IOAM == nil || *j.IOAM == *o.IOAM) &&
		(j.STAMP == nil) == (o.STAMP == nil) && (j.STAMP == nil || j.STAMP.equal(o.STAMP))
}

// stamp reads a stamp job's stamp: mapping (port, ssid, timestamps, tlvs, return_segments,
// return_address, hmac_key_file).
func (p *parser) stamp(v *yaml.Node) (*JobSTAMP, error) {
	st := &JobSTAMP{Port: oam.STAMPPort}
	if v.Kind != yaml.MappingNode {
		return nil, p.errf(v, "stamp", "want a mapping (port, ssid, timestamps, tlvs, return_segments, return_address, hmac_key_file), got %s", kindName(v))
	}
	addr := func(n *yaml.Node, field string) (netip.Addr, error) {
		s, err := p.scalar(n, field)
		if err != nil {
			return netip.Addr{}, err
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() || a.Is4In6() {
			return netip.Addr{}, p.errf(n, field, "%q: want an IPv6 address", s)
		}
		return a, nil
	}
	err := p.mapping(v, map[string]func(*yaml.Node) error{
		"port": func(n *yaml.Node) error {
			port, err := p.integer(n, "stamp.port", 1, 65535)
			st.Port = uint16(port)
			return err
		},
		"ssid": func(n *yaml.Node) error {
			id, err := p.integer(n, "stamp.ssid", 0, 0xffff)
			st.SSID = uint16(id)
			return err
		},
		"timestamps": func(n *yaml.Node) error {
			s, err := p.scalar(n, "stamp.timestamps")
			if err != nil {
				return err
			}
			switch s {
			case "ntp":
			case "ptp":
				st.PTP = true
			default:
				return p.errf(n, "stamp.timestamps", "%q: want ntp (RFC 8762's default) or ptp", s)
			}
			return nil
		},
		"tlvs": func(n *yaml.Node) error {
			if n.Kind != yaml.SequenceNode {
				return p.errf(n, "stamp.tlvs", "want a list (location, timestamp-info, direct, follow-up, cos=DSCP, dna=ADDR), got %s", kindName(n))
			}
			for i, e := range n.Content {
				field := fmt.Sprintf("stamp.tlvs[%d]", i)
				s, err := p.scalar(e, field)
				if err != nil {
					return err
				}
				if err := st.TLVs.ParseItem(s); err != nil {
					return p.errf(e, field, "%v", err)
				}
			}
			return nil
		},
		"return_segments": func(n *yaml.Node) error {
			if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
				return p.errf(n, "stamp.return_segments", "want a list of SIDs the reply comes back through")
			}
			for i, e := range n.Content {
				a, err := addr(e, fmt.Sprintf("stamp.return_segments[%d]", i))
				if err != nil {
					return err
				}
				st.TLVs.ReturnSegments = append(st.TLVs.ReturnSegments, a)
			}
			return nil
		},
		"return_address": func(n *yaml.Node) error {
			a, err := addr(n, "stamp.return_address")
			st.TLVs.ReturnAddress = a
			return err
		},
		"hmac_key_file": func(n *yaml.Node) error {
			s, err := p.scalar(n, "stamp.hmac_key_file")
			if err != nil {
				return err
			}
			key, err := probes.ReadSTAMPKey(s)
			if err != nil {
				return p.errf(n, "stamp.hmac_key_file", "%v", err)
			}
			st.TLVs.HMACKey, st.HMACKeyFile = key, s
			return nil
		},
	})
	return st, err
}

// ioam reads a job's ioam: mapping (namespace, type, nodes, clock_error); what it does not
// say is DefaultJobIOAM's.
func (p *parser) ioam(v *yaml.Node) (*JobIOAM, error) {
	tr := DefaultJobIOAM
	var err error
	err = p.mapping(v, map[string]func(*yaml.Node) error{
		"namespace": func(v *yaml.Node) error {
			var n int
			n, err = p.integer(v, "ioam.namespace", 0, 0xffff)
			tr.Namespace = uint16(n)
			return err
		},
		"type": func(v *yaml.Node) error {
			s, err := p.scalar(v, "ioam.type")
			if err != nil {
				return err
			}
			if tr.Type, err = ioam.ParseType(s); err != nil {
				return p.errf(v, "ioam.type", "%v", err)
			}
			return nil
		},
		"nodes": func(v *yaml.Node) error {
			tr.Nodes, err = p.integer(v, "ioam.nodes", 1, 255)
			return err
		},
		"clock_error": func(v *yaml.Node) error {
			tr.ClockError, err = p.duration(v, "ioam.clock_error", 0, time.Second)
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	if limit := ioam.MaxNodes(tr.Type); tr.Nodes > limit {
		return nil, p.errf(v, "ioam.nodes", "%d: a trace of this type holds at most %d", tr.Nodes, limit)
	}
	return &tr, nil
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
