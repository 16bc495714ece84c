package monitor

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam/srh"
	"github.com/srv6oam/srv6oam/probes"
	"github.com/srv6oam/srv6oam/probes/delay"
)

// badConfigs documents the error of every file in testdata/bad (docs/srv6-monitor.md lists
// them too). Each error names the file and line, the job and the field.
var badConfigs = map[string]string{
	"bad-duration.yaml":                 `bad-duration.yaml:4: job "fast": interval: want a duration such as 500ms or 1s, got "quickly"`,
	"bad-target.yaml":                   `bad-target.yaml:3: job "web": target: want an IPv6 address: "10.0.0.1" is not an IPv6 address (SRv6 segments are IPv6)`,
	"missing-target.yaml":               `missing-target.yaml:2: job "nowhere": target: missing: want the destination's IPv6 address`,
	"bad-segment.yaml":                  `bad-segment.yaml:4: job "path": segments[1]: want an IPv6 address (a SID): "r2" is not an IPv6 address`,
	"unknown-field.yaml":                `unknown-field.yaml:4: job "typo": intervall: unknown field; want one of`,
	"bad-kind.yaml":                     `bad-kind.yaml:3: job "twamp": kind: "twamp": want echo, timestamped, ioam or stamp`,
	"duplicate-name.yaml":               `duplicate-name.yaml:4: job "same": name: duplicate: job "same" is already defined at line 2`,
	"interval-too-short.yaml":           `interval-too-short.yaml:4: job "flood": interval: 1ms: want 10ms to 1h0m0s`,
	"bad-label.yaml":                    `bad-label.yaml:4: job "labelled": labels.site-name: "site-name" is not a Prometheus label name`,
	"reserved-label.yaml":               `reserved-label.yaml:4: job "labelled": labels.job: "job" is set by the monitor itself`,
	"flow-labels-zero.yaml":             `flow-labels-zero.yaml:4: job "spread": flow_labels: want an integer from 1 to 65536, got "0"`,
	"timeout-too-long.yaml":             `timeout-too-long.yaml:5: job "patient": timeout: 5s is longer than interval × detect_multiplier (300ms)`,
	"decap-without-segments.yaml":       `decap-without-segments.yaml:4: job "decap": decap: needs a segment list whose last SID decapsulates`,
	"timestamped-without-segments.yaml": `timestamped-without-segments.yaml:3: job "delay": segments: a timestamped job needs a segment list`,
	"no-jobs.yaml":                      `no-jobs.yaml:1: jobs: missing: want a list of jobs`,
	"missing-name.yaml":                 `missing-name.yaml:2: name: missing: every job needs a name`,
	"bad-size.yaml":                     `bad-size.yaml:4: job "big": size: want an integer from 0 to 65000, got "70000"`,
	"bad-defaults.yaml":                 `bad-defaults.yaml:2: defaults.detect_multiplier: want an integer from 1 to 255, got "0"`,
	// What the engines refuse when a job starts, refused when the file loads (--check).
	"echo-too-many-segments.yaml":        `echo-too-many-segments.yaml:4: job "long": segments: 64 segments and the target make 65; an echo probe's SRH holds at most 64`,
	"timestamped-too-many-segments.yaml": `timestamped-too-many-segments.yaml:5: job "owd": segments: 14 segments, the target and the return to the monitor make 16; the Timestamp Slots TLV holds at most 15`,
	"timestamped-decap.yaml":             `timestamped-decap.yaml:6: job "owd": decap: a timestamped probe returns to the monitor: it cannot end at a decapsulating SID`,
	"timestamped-size.yaml":              `timestamped-size.yaml:6: job "owd": size: 2000: a timestamped probe carries 1 to 1024 bytes of echo data`,
	"ioam-on-echo.yaml":                  `ioam-on-echo.yaml:4: job "plain": ioam: only a job of kind ioam carries an IOAM trace`,
	"ioam-bad-type.yaml":                 `ioam-bad-type.yaml:6: job "hops": ioam.type: trace type: "colour" is not a bit name`,
	"ioam-too-many-nodes.yaml":           `ioam-too-many-nodes.yaml:6: job "hops": ioam.nodes: 40: a trace of this type holds at most 15`,
	"ioam-decap.yaml":                    `ioam-decap.yaml:6: job "hops": decap: an ioam probe returns to the monitor: it cannot end at a decapsulating SID`,
	"ioam-flow-labels.yaml":              `ioam-flow-labels.yaml:5: job "hops": flow_labels: 4096: an ioam job keeps each label's last path, at most 1024 labels`,
	"stamp-encoding.yaml":                `stamp-encoding.yaml:5: job "sla": encoding: a stamp job's test packets are UDP from an ordinary socket: encoding has no meaning for them`,
	"stamp-bad-tlv.yaml":                 `stamp-bad-tlv.yaml:6: job "sla": stamp.tlvs[1]: "colour": want location, timestamp-info, direct, follow-up, cos=DSCP or dna=ADDR`,
	"stamp-on-echo.yaml":                 `stamp-on-echo.yaml:4: job "plain": stamp: only a job of kind stamp has a stamp: mapping`,
	"stamp-size.yaml":                    `stamp-size.yaml:6: job "sla": stamp.tlvs: the TLVs need 92 bytes of UDP payload; size is 48 (at most 1232)`,
	"shard-index.yaml":                   `shard-index.yaml:1: shard.index: 4: must be 0 to count-1 (3)`,
	"shard-no-index.yaml":                `shard-no-index.yaml:1: shard: want count and index: shard: {count: N, index: I}`,
	"shard-empty.yaml":                   `shard-empty.yaml:1: shard: index 0 of 4 holds none of the 1 jobs (their names hash to other shards): fewer shards`,
}

func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(badConfigs) {
		t.Errorf("%d files in testdata/bad, %d documented errors: document every bad config", len(files), len(badConfigs))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, ok := badConfigs[filepath.Base(f)]
			if !ok {
				t.Fatalf("no documented error for %s", f)
			}
			_, err := LoadConfig(f)
			if err == nil {
				t.Fatalf("LoadConfig(%s) = nil error, want %q", f, want)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error %v is not a *ConfigError", err)
			}
			got := strings.TrimPrefix(err.Error(), "testdata/bad/")
			if !strings.HasPrefix(got, want) {
				t.Errorf("error:\n got %s\nwant %s…", got, want)
			}
		})
	}
}

func TestGoodConfigs(t *testing.T) {
	for _, f := range []string{"testdata/line4.yaml", "testdata/diamond.yaml"} {
		cfg, err := LoadConfig(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(cfg.Jobs) < 3 {
			t.Errorf("%s: %d jobs", f, len(cfg.Jobs))
		}
	}
	cfg, err := LoadConfig("testdata/line4.yaml")
	if err != nil {
		t.Fatal(err)
	}
	j := cfg.Jobs[3]
	if j.Name != "h2-plain" || j.Interval != 500*time.Millisecond || j.Timeout != 400*time.Millisecond || j.DetectMultiplier != 3 {
		t.Errorf("h2-plain: %+v", j)
	}
	if d := cfg.Jobs[0]; d.Timeout != time.Second || d.Labels["path"] != "r1-r2" || len(d.Target.Segments) != 2 || d.FlowLabel == 0 {
		t.Errorf("h2-via-r1-r2: %+v", d)
	}
	if !cfg.Jobs[1].Target.Decap || cfg.Jobs[1].Size != 56 {
		t.Errorf("h2-decap-r2: %+v", cfg.Jobs[1])
	}
	again, _ := LoadConfig("testdata/line4.yaml")
	for i := range cfg.Jobs {
		if !cfg.Jobs[i].Equal(again.Jobs[i]) {
			t.Errorf("job %s not Equal to itself loaded again", cfg.Jobs[i].Name)
		}
	}
}

func TestConfigNotYAMLNoPanic(t *testing.T) {
	for _, in := range []string{"", "[", "jobs: 3", "- a", "jobs: [3]", "jobs: [{name: [a]}]", "jobs: [{name: a, target: [x]}]",
		"jobs: [{name: a, target: 'fc00::1', labels: [a]}]", "jobs: []", "defaults: 3\njobs: []"} {
		if _, err := ParseConfig([]byte(in), "x.yaml"); err == nil {
			t.Errorf("ParseConfig(%q) = nil error", in)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, p := range []string{"testdata/line4.yaml", "testdata/diamond.yaml", "testdata/bad/bad-segment.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b, "fuzz.yaml")
		if err == nil && len(cfg.Jobs) == 0 {
			t.Fatal("valid config without jobs")
		}
	})
}

// TestJobLimitsAreTheEngines: the largest job the config accepts is one its engine builds a
// probe for, and one more segment (or byte) is refused by both: the config's limits are the
// engines' (probes.NewEchoBuilder, delay.NewProbeBuilder), not a copy that could drift.
func TestJobLimitsAreTheEngines(t *testing.T) {
	src := netip.MustParseAddr("fc00:0:1::1")
	job := func(kind Kind, segments, size int) (Job, error) {
		var b strings.Builder
		fmt.Fprintf(&b, "jobs:\n  - name: j\n    kind: %s\n    target: fc00:0:ff::1\n    size: %d\n    segments: [", kind, size)
		for i := range segments {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "fc00:0:%x::e", i+1)
		}
		b.WriteString("]\n")
		cfg, err := ParseConfig([]byte(b.String()), "limits.yaml")
		if err != nil {
			return Job{}, err
		}
		return cfg.Jobs[0], nil
	}
	echoBuilds := func(j Job) error {
		_, err := probes.NewEchoBuilder(probes.EchoConfig{Target: j.Target, Source: src, PayloadSize: j.Size, HopLimit: 64})
		return err
	}
	delayBuilds := func(j Job) error {
		_, err := delay.NewProbeBuilder(delay.ProbeConfig{Path: append(j.Target.Path(), src), Source: src,
			Registry: srh.DefaultRegistry(), PayloadSize: j.Size, HopLimit: 64})
		return err
	}
	for _, c := range []struct {
		kind          Kind
		segments      int // the most the config accepts
		size, maxSize int
		builds        func(Job) error
	}{
		{KindEcho, probes.MaxEchoPath - 1, 16, probes.MaxPayload, echoBuilds},
		{KindTimestamped, srh.MaxSlots - 2, 16, MaxTimestampedSize, delayBuilds},
	} {
		for _, at := range []struct{ segments, size int }{{c.segments, c.size}, {1, c.maxSize}} {
			j, err := job(c.kind, at.segments, at.size)
			if err != nil {
				t.Errorf("%s job, %d segments, size %d: config refuses it: %v", c.kind, at.segments, at.size, err)
				continue
			}
			if err := c.builds(j); err != nil {
				t.Errorf("%s job, %d segments, size %d: the config accepts it, its engine does not: %v", c.kind, at.segments, at.size, err)
			}
		}
		if _, err := job(c.kind, c.segments+1, c.size); err == nil {
			t.Errorf("%s job with %d segments: the config accepts it", c.kind, c.segments+1)
		}
		if _, err := job(c.kind, 1, c.maxSize+1); err == nil {
			t.Errorf("%s job of size %d: the config accepts it", c.kind, c.maxSize+1)
		}
		// The engine refuses them too (the config's limits are not stricter than needed).
		tooLong := Job{Kind: c.kind, Size: c.size}
		tooLong.Target.Destination = netip.MustParseAddr("fc00:0:ff::1")
		for i := range c.segments + 1 {
			tooLong.Target.Segments = append(tooLong.Target.Segments, netip.AddrFrom16([16]byte{0xfc, 0, 0, 0, 0, byte(i + 1), 15: 0xe}))
		}
		if c.builds(tooLong) == nil {
			t.Errorf("%s job with %d segments: the engine builds it; the config refuses it", c.kind, c.segments+1)
		}
	}
}

func TestIOAMConfig(t *testing.T) {
	cfg, err := LoadConfig("testdata/wan10-ioam.yaml")
	if err != nil {
		t.Fatal(err)
	}
	j := cfg.Jobs[0]
	if j.Kind != KindIOAM || j.IOAM == nil || j.IOAM.Nodes != 12 || j.IOAM.Namespace != 0 || !j.SharedClock ||
		strings.Join(j.IOAM.Type.Names(), ",") != "hop_limit_node_id,interfaces,timestamp_seconds,timestamp_fraction" {
		t.Errorf("job %+v, ioam %+v", j, j.IOAM)
	}
	// kind: ioam alone takes the defaults; another trace is another job (a reload restarts it).
	c2, err := ParseConfig([]byte("jobs:\n  - {name: h2-via-r2, kind: ioam, target: fc00:0:8::e, segments: [fc00:0:3::e], interval: 200ms, shared_clock: true}\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d := c2.Jobs[0].IOAM; d == nil || *d != DefaultJobIOAM || !c2.Jobs[0].Equal(j) {
		t.Errorf("defaults %+v, equal %v", d, c2.Jobs[0].Equal(j))
	}
	c2.Jobs[0].IOAM.Nodes = 4
	if c2.Jobs[0].Equal(j) {
		t.Error("jobs with different traces are equal")
	}
}

// ShardOf is Prometheus's hashmod: these shards were computed with Python's hashlib (the low 8
// bytes of the MD5, big-endian, modulo the count), an implementation of the rule of its own.
func TestShardOfIsHashmod(t *testing.T) {
	for _, c := range []struct {
		name         string
		count, shard int
	}{{"line4-echo", 4, 3}, {"tour", 3, 1}, {"job-0001", 16, 8}, {"r1-r2", 2, 0}, {"wan10/ioam", 7, 4}} {
		if got := ShardOf(c.name, c.count); got != c.shard {
			t.Errorf("ShardOf(%q, %d) = %d, want %d", c.name, c.count, got, c.shard)
		}
	}
}

// Three monitors given one list with shard: {count: 3, index: 0..2} run disjoint parts of it
// whose union is the whole list, each job where ShardOf puts it.
func TestShardsSplitTheList(t *testing.T) {
	var b strings.Builder
	const n = 60
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - {name: job-%03d, target: \"fc00:0:4::1\"}\n", i)
	}
	seen := map[string]int{}
	for idx := 0; idx < 3; idx++ {
		cfg, err := ParseConfig([]byte(fmt.Sprintf("shard: {count: 3, index: %d}\njobs:\n%s", idx, b.String())), "shard.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Total != n || cfg.Shard == nil || cfg.Shard.Index != idx || len(cfg.Jobs) == 0 {
			t.Fatalf("index %d: total %d, shard %+v, %d jobs", idx, cfg.Total, cfg.Shard, len(cfg.Jobs))
		}
		for _, j := range cfg.Jobs {
			if ShardOf(j.Name, 3) != idx {
				t.Errorf("index %d runs %s, whose shard is %d", idx, j.Name, ShardOf(j.Name, 3))
			}
			seen[j.Name]++
		}
	}
	if len(seen) != n {
		t.Errorf("%d of %d jobs run somewhere", len(seen), n)
	}
	for name, k := range seen {
		if k != 1 {
			t.Errorf("%s runs on %d monitors", name, k)
		}
	}
}
