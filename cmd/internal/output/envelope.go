// Package output is the presentation layer of srv6oam's commands: iputils-style text lines,
// the JSON documents (--json) and JSON Lines (--json-lines), for every engine's results. The
// engines return data only; what a person or a script reads is written here, once.
package output

import (
	"net/netip"

	"github.com/srv6oam/srv6oam/oam"
)

// SchemaVersion is the version of the JSON documents srv6-ping prints: 2 since every mode
// shares one envelope (docs/json.md, "Schema versions").
const SchemaVersion = 2

// Envelope is the top of every JSON document srv6-ping prints, in each of its modes (echo,
// timestamps, stamp): which run this is, what was probed and how, the results and the
// statistics. Results, Summary and Options have the mode's own shape; Timestamps and STAMP say
// what only that mode has.
type Envelope struct {
	SchemaVersion int        `json:"schema_version"`
	Command       string     `json:"command"`
	Mode          string     `json:"mode"` // "echo", "timestamps" or "stamp"
	Target        JSONTarget `json:"target"`
	Options       any        `json:"options"`
	Timestamps    *DelayRun  `json:"timestamps,omitempty"`
	STAMP         *StampRun  `json:"stamp,omitempty"`
	Results       any        `json:"results"`
	Summary       any        `json:"summary"`
}

// JSONTarget says what was probed and how.
type JSONTarget struct {
	Destination string   `json:"destination"`
	Segments    []string `json:"segments"`
	// Encoding: "encap" (H.Encaps) or "insert" (the SRH in the probe itself).
	Encoding string `json:"encoding"`
	Decap    bool   `json:"decap"`
	Source   string `json:"source"`
}

// NewTarget describes target for the envelope.
func NewTarget(target oam.Target, encoding string, src netip.Addr) JSONTarget {
	segs := make([]string, 0, len(target.Segments))
	for _, s := range target.Segments {
		segs = append(segs, s.String())
	}
	j := JSONTarget{Destination: target.Destination.String(), Segments: segs, Encoding: encoding, Decap: target.Decap}
	if src.IsValid() {
		j.Source = src.String()
	}
	return j
}

// NewPingDocument assembles the envelope of a finished echo run.
func NewPingDocument(target oam.Target, encoding string, src netip.Addr, opts PingOptions, results []PingResult, s PingSummary) Envelope {
	if results == nil {
		results = []PingResult{}
	}
	return Envelope{SchemaVersion: SchemaVersion, Command: "srv6-ping", Mode: "echo",
		Target: NewTarget(target, encoding, src), Options: opts, Results: results, Summary: s}
}
