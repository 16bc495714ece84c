package agent

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/srv6oam/srv6oam/bpf"
)

// Defaults for the optional fields of Config.
const (
	DefaultReportRate      = 1000
	DefaultRingBufferBytes = 1 << 20
)

// Config is srv6-agent's configuration, from YAML (LoadConfig) or flags.
type Config struct {
	// NodeID identifies this node in timestamp slots and reports; not 0.
	NodeID uint32 `yaml:"node_id"`
	// SIDs are bound to End.OAM. May be empty when Reflector is set (a reflector-only agent).
	SIDs []SIDConfig `yaml:"sids"`
	// Collectors is the allow-list: prefixes (or addresses) reports may be sent to. Probes
	// naming any other collector are counted and not reported.
	Collectors []string `yaml:"collectors"`
	// TrustedCollectors are the collectors (within Collectors) whose probes may ask for a
	// capture of the probe (flag C) or this node's next hops (flag N): reports to them may be
	// larger than the probe. Reports to every other collector are never larger than the
	// probe that caused them (docs/security.md).
	TrustedCollectors []string `yaml:"trusted_collectors"`
	// ReportRate is the sustained number of report records per second sent to any one
	// collector address (whatever the port); ReportBurst the bucket size (default:
	// ReportRate).
	ReportRate  float64 `yaml:"report_rate"`
	ReportBurst int     `yaml:"report_burst"`
	// ReportRateTotal is the sustained number of report records per second the agent sends
	// to all collectors together, its burst the same (default: 10 × ReportRate).
	ReportRateTotal float64 `yaml:"report_rate_total"`
	// TakeOver binds the SIDs even where another live agent has bound them (that agent lets
	// them go); without it such a SID is an error.
	TakeOver bool `yaml:"take_over"`
	// OnSIDLost says what the agent does when a SID's route disappears while it runs (someone
	// deleted it, its device went): "rebind" (default: bind it again, retrying with a backoff)
	// or "exit" (stop with an error). A SID taken over by another agent, or replaced by a
	// route srv6oam did not install, is let go either way.
	OnSIDLost string `yaml:"on_sid_lost"`
	// MetricsListen is the address of the Prometheus /metrics endpoint; empty disables it.
	MetricsListen string `yaml:"metrics_listen"`
	// ProbeTLVType and SlotsTLVType override the TLV codes of docs/wire-format.md (0: default).
	ProbeTLVType uint8 `yaml:"probe_tlv_type"`
	SlotsTLVType uint8 `yaml:"slots_tlv_type"`
	// RingBufferBytes is the size of End.OAM's event ring buffer, shared by all CPUs: a power of
	// two, at least one page (default 1 MiB).
	RingBufferBytes int `yaml:"ring_buffer_bytes"`
	// Reflector, when set, runs a STAMP Session-Reflector (docs/srv6-agent.md).
	Reflector *ReflectorConfig `yaml:"reflector"`
	// PathTracing lists the interfaces that get an SRv6 Path Tracing midpoint on their egress
	// (docs/per-hop.md).
	PathTracing []PTConfig `yaml:"path_tracing"`
}

// SIDConfig is one SID to bind.
type SIDConfig struct {
	SID    string `yaml:"sid"`    // address or prefix, e.g. fc00:0:2::b0 or fc00:0:2::b0/128
	Device string `yaml:"device"` // interface the seg6local route points at
	Table  int    `yaml:"table"`  // routing table; 0 means main
}

// LoadConfig reads a YAML config, rejecting unknown fields, and validates it.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes and validates a YAML config.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("parse: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// parsePrefix accepts "addr" (a host prefix) or "addr/bits".
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// BPFSIDs converts the SIDs to package bpf's form.
func (c *Config) BPFSIDs() ([]bpf.SID, error) {
	sids := make([]bpf.SID, 0, len(c.SIDs))
	for i, s := range c.SIDs {
		p, err := parsePrefix(s.SID)
		if err != nil {
			return nil, fmt.Errorf("sids[%d].sid %q: %w", i, s.SID, err)
		}
		sid := bpf.SID{Prefix: p, Device: s.Device, Table: s.Table}
		if err := sid.Validate(); err != nil {
			return nil, fmt.Errorf("sids[%d]: %w", i, err)
		}
		sids = append(sids, sid)
	}
	return sids, nil
}

// AllowList parses Collectors.
func (c *Config) AllowList() ([]netip.Prefix, error) {
	return parsePrefixes("collectors", c.Collectors)
}

// TrustedList parses TrustedCollectors.
func (c *Config) TrustedList() ([]netip.Prefix, error) {
	return parsePrefixes("trusted_collectors", c.TrustedCollectors)
}

// The values of OnSIDLost.
const (
	OnSIDLostRebind = "rebind"
	OnSIDLostExit   = "exit"
)

// ReflectorAllowList is the STAMP reflector's senders allow-list: reflector.senders, or the
// collectors when that is empty.
func (c *Config) ReflectorAllowList() ([]netip.Prefix, error) {
	if c.Reflector == nil || len(c.Reflector.Senders) == 0 {
		return c.AllowList()
	}
	return parsePrefixes("reflector.senders", c.Reflector.Senders)
}

// parsePrefixes parses an allow-list of IPv6 prefixes or addresses; field names it in errors.
func parsePrefixes(field string, list []string) ([]netip.Prefix, error) {
	allow := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d] %q: %w", field, i, s, err)
		}
		if !p.Addr().Is6() || p.Addr().Is4In6() {
			return nil, fmt.Errorf("%s[%d] %q: not an IPv6 prefix (srv6oam speaks IPv6)", field, i, s)
		}
		allow = append(allow, p.Masked())
	}
	return allow, nil
}

// Validate checks every field and names the first one at fault.
func (c *Config) Validate() error {
	var errs []error
	if c.NodeID == 0 && len(c.SIDs) > 0 {
		errs = append(errs, errors.New("node_id: must be set and not 0 (0 marks an unwritten slot)"))
	}
	if len(c.SIDs) == 0 && c.Reflector == nil && len(c.PathTracing) == 0 {
		errs = append(errs, errors.New("sids: at least one SID to bind is required (or a reflector, or path_tracing)"))
	}
	errs = append(errs, validatePT(c.PathTracing)...)
	if c.Reflector != nil {
		if err := c.Reflector.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	sids, err := c.BPFSIDs()
	if err != nil {
		errs = append(errs, err)
	}
	seen := map[bpf.SID]int{}
	for i, s := range sids {
		key := bpf.SID{Prefix: s.Prefix, Table: s.Table}
		if j, dup := seen[key]; dup {
			errs = append(errs, fmt.Errorf("sids[%d]: %s in table %d already bound by sids[%d]", i, s.Prefix, s.Table, j))
		}
		seen[key] = i
	}
	allow, err := c.AllowList()
	if err != nil {
		errs = append(errs, err)
	}
	trusted, err := c.TrustedList()
	if err != nil {
		errs = append(errs, err)
	}
	for i, t := range trusted {
		if !covered(allow, t) {
			errs = append(errs, fmt.Errorf("trusted_collectors[%d] %s: not within collectors (reports go to collectors only)", i, t))
		}
	}
	if c.ReportRateTotal < 0 {
		errs = append(errs, fmt.Errorf("report_rate_total: %v: negative", c.ReportRateTotal))
	}
	switch c.OnSIDLost {
	case "", OnSIDLostRebind, OnSIDLostExit:
	default:
		errs = append(errs, fmt.Errorf("on_sid_lost: %q: want %s or %s", c.OnSIDLost, OnSIDLostRebind, OnSIDLostExit))
	}
	if c.ReportRate < 0 {
		errs = append(errs, fmt.Errorf("report_rate: %v: negative", c.ReportRate))
	}
	if c.ReportBurst < 0 {
		errs = append(errs, fmt.Errorf("report_burst: %d: negative", c.ReportBurst))
	}
	if n := c.RingBufferBytes; n != 0 && (n < os.Getpagesize() || n&(n-1) != 0) {
		errs = append(errs, fmt.Errorf("ring_buffer_bytes: %d: want a power of two of at least the page size (%d)", n, os.Getpagesize()))
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("metrics_listen %q: %w", c.MetricsListen, err))
		}
	}
	if c.ProbeTLVType != 0 && c.ProbeTLVType == c.SlotsTLVType {
		errs = append(errs, fmt.Errorf("probe_tlv_type and slots_tlv_type: both %d", c.ProbeTLVType))
	}
	return errors.Join(errs...)
}

// covered reports whether prefix p lies within one of list.
func covered(list []netip.Prefix, p netip.Prefix) bool {
	for _, a := range list {
		if a.Bits() <= p.Bits() && a.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.ReportRate == 0 {
		d.ReportRate = DefaultReportRate
	}
	if d.ReportRateTotal == 0 {
		d.ReportRateTotal = 10 * d.ReportRate
	}
	if d.OnSIDLost == "" {
		d.OnSIDLost = OnSIDLostRebind
	}
	if d.ReportBurst == 0 {
		d.ReportBurst = int(d.ReportRate)
		if d.ReportBurst < 1 {
			d.ReportBurst = 1
		}
	}
	if d.RingBufferBytes == 0 {
		d.RingBufferBytes = DefaultRingBufferBytes
	}
	return d
}
