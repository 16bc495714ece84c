package monitor_test

import (
	"fmt"

	"github.com/srv6oam/srv6oam/probes/monitor"
)

// A configuration is validated as a whole when it is loaded; an error names the file and line,
// the job and the field, and says what was expected.
func ExampleParseConfig() {
	_, err := monitor.ParseConfig([]byte(`
jobs:
  - name: h2-via-r1-r2
    target: fc00:0:4::1
    segments: [fc00:0:2::e, fc00:0:3::e]
    interval: 1 second
`), "monitor.yaml")
	fmt.Println(err)

	cfg, err := monitor.ParseConfig([]byte(`
defaults: {interval: 500ms}
jobs:
  - name: h2-via-r1-r2
    target: fc00:0:4::1
    segments: [fc00:0:2::e, fc00:0:3::e]
    flow_labels: 4
`), "monitor.yaml")
	if err != nil {
		panic(err)
	}
	j := cfg.Jobs[0]
	fmt.Println(j.Name, j.Kind, j.Target, j.Interval, j.Timeout, j.FlowLabels, j.DetectMultiplier)
	// Output:
	// monitor.yaml:6: job "h2-via-r1-r2": interval: want a duration such as 500ms or 1s, got "1 second"
	// h2-via-r1-r2 echo fc00:0:4::1 via fc00:0:2::e → fc00:0:3::e 500ms 500ms 4 3
}
