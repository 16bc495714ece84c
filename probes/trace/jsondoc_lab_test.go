package trace_test

import "encoding/json"

// traceDoc is the part of srv6-trace --json (docs/json.md, written by cmd/internal/output)
// that the lab tests here check. The command's own package owns the Go types; a test of the
// engine reads the published document as any consumer would.
type traceDoc struct {
	Mode     string `json:"mode"`
	Segments []struct {
		Index  int    `json:"index"`
		Method string `json:"method"`
		Alive  bool   `json:"alive"`
		OneWay *struct {
			State   string   `json:"state"`
			P50MS   *float64 `json:"p50_ms"`
			BoundMS *float64 `json:"bound_ms"`
		} `json:"one_way"`
	} `json:"segments"`
	Timestamps *struct {
		Received    int  `json:"received"`
		SharedClock bool `json:"shared_clock"`
		Return      struct {
			State string `json:"state"`
		} `json:"return"`
	} `json:"timestamps"`
	AgentNextHops []struct {
		Index    int               `json:"index"`
		Reported bool              `json:"reported"`
		Status   string            `json:"status"`
		Prefix   string            `json:"prefix"`
		NextHops []json.RawMessage `json:"nexthops"`
		MDA      *int              `json:"mda_next_hops"`
	} `json:"agent_nexthops"`
}
