package monitor

import (
	"encoding/json"
	"io"
	"time"
)

// resultLine is one probe in the JSON Lines output (--results).
type resultLine struct {
	Time      time.Time     `json:"time"`
	Job       string        `json:"job"`
	Kind      string        `json:"kind"`
	Seq       int           `json:"seq"`
	Status    string        `json:"status"` // reply, lost, error (echo); complete, partial, lost (timestamped)
	FlowLabel uint32        `json:"flow_label"`
	From      string        `json:"from,omitempty"`
	RTTMillis float64       `json:"rtt_ms,omitempty"`
	Error     string        `json:"error,omitempty"`
	Segments  []segmentLine `json:"segments,omitempty"`
}

type segmentLine struct {
	Index       int      `json:"index"`
	From        string   `json:"from"`
	To          string   `json:"to"`
	State       string   `json:"state"`
	DelayMillis *float64 `json:"one_way_delay_ms,omitempty"`
	BoundMillis *float64 `json:"bound_ms,omitempty"`
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}
