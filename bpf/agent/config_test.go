package agent

import (
	"net/netip"
	"strings"
	"testing"
)

func TestLoadConfigGood(t *testing.T) {
	cfg, err := LoadConfig("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sids, err := cfg.BPFSIDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(sids) != 2 || sids[0].Prefix != netip.MustParsePrefix("fc00:0:2::b0/128") || sids[1].Table != 100 {
		t.Errorf("sids %+v", sids)
	}
	allow, err := cfg.AllowList()
	if err != nil {
		t.Fatal(err)
	}
	if len(allow) != 2 || allow[1] != netip.MustParsePrefix("fd00::1/128") {
		t.Errorf("allow-list %v", allow)
	}
	if cfg.ReportRate != 500 || cfg.ReportBurst != 1000 || cfg.MetricsListen != "[::1]:9470" || cfg.NodeID != 2 {
		t.Errorf("config %+v", cfg)
	}
}

func TestLoadConfigUnknownField(t *testing.T) {
	_, err := LoadConfig("testdata/bad-field.yaml")
	if err == nil || !strings.Contains(err.Error(), "colectors") {
		t.Fatalf("error %v, want one naming the unknown field colectors", err)
	}
}

func TestConfigErrorsNameField(t *testing.T) {
	for _, tc := range []struct{ yaml, field string }{
		{"sids: [{sid: fc00::1, device: eth0}]", "node_id"},
		{"node_id: 1", "sids"},
		{"node_id: 1\nsids: [{sid: nonsense, device: eth0}]", "sids[0].sid"},
		{"node_id: 1\nsids: [{sid: fc00::1}]", "device"},
		{"node_id: 1\nsids: [{sid: 10.0.0.1, device: eth0}]", "not an IPv6 prefix"},
		{"node_id: 1\nsids: [{sid: fc00::1, device: e}, {sid: fc00::1/128, device: f}]", "sids[1]"},
		{"node_id: 1\nsids: [{sid: fc00::1, device: e}]\ncollectors: [192.0.2.0/24]", "collectors[0]"},
		{"node_id: 1\nsids: [{sid: fc00::1, device: e}]\nreport_rate: -1", "report_rate"},
		{"node_id: 1\nsids: [{sid: fc00::1, device: e}]\nmetrics_listen: nope", "metrics_listen"},
		{"node_id: 1\nsids: [{sid: fc00::1, device: e}]\nprobe_tlv_type: 7\nslots_tlv_type: 7", "probe_tlv_type"},
		{"node_id: -3", "line 1"},
		{"node_id: 1\nsids: [{sid: fc00::1, device: e}]\nring_buffer_bytes: 5000", "ring_buffer_bytes"},
		{"reflector: {listen: nope}", "reflector.listen"},
		{"reflector: {senders: [10.0.0.0/8]}", "reflector.senders[0]"},
		{"reflector: {rate: -1}", "reflector.rate"},
		{"reflector: {burst: -2}", "reflector.burst"},
	} {
		_, err := ParseConfig([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%q: error %v, want one naming %q", tc.yaml, err, tc.field)
		}
	}
}

func TestReflectorOnlyConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte("collectors: [fc00:0:1::/48]\nreflector: {listen: \"[::]:8620\"}"))
	if err != nil {
		t.Fatalf("reflector-only config (no node_id, no sids): %v", err)
	}
	allow, err := cfg.ReflectorAllowList()
	if err != nil || len(allow) != 1 || allow[0] != netip.MustParsePrefix("fc00:0:1::/48") {
		t.Errorf("senders default to the collectors: %v, %v", allow, err)
	}
	cfg.Reflector.Senders = []string{"fd00::/8"}
	if allow, _ := cfg.ReflectorAllowList(); len(allow) != 1 || allow[0] != netip.MustParsePrefix("fd00::/8") {
		t.Errorf("explicit senders: %v", allow)
	}
	d := cfg.Reflector.withDefaults()
	if d.Rate != DefaultReflectorRate || d.Burst != DefaultReflectorRate || d.Listen != "[::]:8620" {
		t.Errorf("defaults %+v", d)
	}
}
