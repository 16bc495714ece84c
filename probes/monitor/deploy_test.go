package monitor

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"
)

// TestDeployFiles checks the example Prometheus config and alert rules with promtool (and runs
// the rules' unit tests: a segment down fires SRv6SegmentDown, a p99 one-way delay over 50 ms
// fires SRv6OneWayDelayHigh), and that the Grafana dashboard is JSON.
func TestDeployFiles(t *testing.T) {
	b, err := os.ReadFile("../../deploy/grafana-srv6oam.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana-srv6oam.json: %v", err)
	}
	if len(dash.Panels) < 5 {
		t.Errorf("dashboard %q has %d panels", dash.Title, len(dash.Panels))
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not installed (CI=true: may not skip); run `make deps` (Debian package prometheus)")
		}
		t.Skip("promtool not installed; run `make deps`")
	}
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "srv6-monitor-rules.yml"},
		{"test", "rules", "srv6-monitor-rules_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "../../deploy/prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
