package main

import (
	"strings"
	"testing"

	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// checkComplete asserts every segment of r has a one-way delay, and that they add up to at
// most the RTT (with one clock, they add up to it: TX→A→…→RX).
func checkComplete(t *testing.T, r jsonResult, segs []string) {
	t.Helper()
	if r.Status != "complete" || r.RTTMS == nil || len(r.Segments) != len(segs) {
		t.Errorf("seq %d: status %s, %d segments; want complete with an rtt and %d segments", r.Seq, r.Status, len(r.Segments), len(segs))
		return
	}
	sum := 0.0
	for i, s := range r.Segments {
		if s.From+"→"+s.To != segs[i] || s.State != "measured" || s.DelayMS == nil || *s.DelayMS < 0 {
			t.Errorf("seq %d segment %d: %+v; want %s measured", r.Seq, i, s, segs[i])
			continue
		}
		sum += *s.DelayMS
	}
	if sum > *r.RTTMS+1e-6 {
		t.Errorf("seq %d: one-way delays add up to %.6f ms, more than the rtt %.6f ms", r.Seq, sum, *r.RTTMS)
	}
}

// TestTimestampsFlagErrors: flags that make no sense with (or without) --timestamps exit 2
// naming the flag, before any packet is sent.
func TestTimestampsFlagErrors(t *testing.T) {
	lab := labtest.Up(t, "line4")
	dst := "fc00:0:4::b0"
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"encap", []string{"--timestamps", "--encap", dst}, "--encap cannot be used with --timestamps"},
		{"decap", []string{"--timestamps", "--decap", "--segs", "fc00:0:2::b0", dst}, "--decap cannot be used with --timestamps"},
		{"oam", []string{"--timestamps", "--oam", dst}, "--oam cannot be used with --timestamps"},
		{"flood", []string{"--timestamps", "-i", "0", dst}, "-i 0: with --timestamps the interval must be more than 0"},
		{"no payload", []string{"--timestamps", "-s", "0", dst}, "-s 0: with --timestamps the payload size must be 1 to"},
		{"detect", []string{"--timestamps", "--detect-mult", "0", dst}, "--detect-mult 0: the multiplier must be 1 to 255"},
		{"port", []string{"--timestamps", "--collector-port", "70000", dst}, "--collector-port 70000: a UDP port"},
		{"linger", []string{"--timestamps", "--linger", "3", dst}, "--linger 3: must not be longer than the timeout -W 2"},
		{"names", []string{"--timestamps", "--names", "a,b,c", "--segs", "fc00:0:2::b0", dst}, "--names a,b,c: 3 names for 2 segments"},
		{"shared without timestamps", []string{"--shared-clock", dst}, "--shared-clock needs --timestamps, --stamp or --ioam"},
		{"no destination", []string{"--timestamps", "--segs", "fc00:0:2::b0"}, "missing DESTINATION"},
		{"no route", []string{"--timestamps", "--segs", "3fff::b0", dst}, "first segment: no route to 3fff::b0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, stderr, code := runCLI(t, lab, "h1", c.args...)
			if code != exitError || !strings.Contains(stderr, c.want) || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and %q on stderr only", code, out, stderr, c.want)
			}
		})
	}
}
