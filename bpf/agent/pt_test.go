package agent

import (
	"strings"
	"testing"
)

func TestParsePTFlag(t *testing.T) {
	for in, want := range map[string]PTConfig{
		"dev=eth1,id=12":                        {Device: "eth1", ID: 12},
		"dev=eth1,id=0xfff,template=1,rate=10G": {Device: "eth1", ID: 4095, Template: 1, Rate: 10_000_000_000},
		" dev=to-r2 , id=7 , rate=2.5M ":        {Device: "to-r2", ID: 7, Rate: 2_500_000},
	} {
		got, err := ParsePTFlag(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"id=3":                      "device: required",
		"dev=eth0,id=4096":          "id 4096: want 1 to 4095",
		"dev=eth0,id=x":             `id "x": not a number`,
		"dev=eth0,id=1,template=0":  "timestamp template",
		"dev=eth0,id=1,rate=-5":     "rate",
		"dev=eth0,id=1,rate=fast":   "rate",
		"dev=eth0,id=1,colour=blue": `unknown key "colour"`,
		"dev=eth0,id":               "not key=value",
	} {
		if _, err := ParsePTFlag(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: error %v, want one saying %q", in, err, msg)
		}
	}
}

func TestPTConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte("path_tracing: [{device: eth1, id: 1}, {device: eth2, id: 2, template: 4, rate: 1000000000}]"))
	if err != nil {
		t.Fatalf("a Path-Tracing-only config: %v", err)
	}
	if len(cfg.PathTracing) != 2 || cfg.PathTracing[1] != (PTConfig{Device: "eth2", ID: 2, Template: 4, Rate: 1e9}) {
		t.Errorf("parsed %+v", cfg.PathTracing)
	}
	for yaml, field := range map[string]string{
		"path_tracing: [{device: eth1}]":                         "path_tracing[0]: id 0",
		"path_tracing: [{device: eth1, id: 1, template: 9}]":     "path_tracing[0]: template 9",
		"path_tracing: [{id: 1}]":                                "path_tracing[0]: device",
		"path_tracing: [{device: a, id: 1}, {device: a, id: 2}]": "path_tracing[1]: device a already",
		"path_tracing: [{device: a, id: 1}, {device: b, id: 1}]": "path_tracing[1]: id 1 already",
		"path_tracing: [{device: a, id: 1, colour: blue}]":       "colour",
	} {
		if _, err := ParseConfig([]byte(yaml)); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%q: error %v, want one naming %q", yaml, err, field)
		}
	}
}

func TestLoad(t *testing.T) {
	for _, c := range []struct {
		tx   float64
		rate uint64
		want uint8
	}{
		{0, 1e9, 0}, {1e9 / 16 * 0.99, 1e9, 0}, {1e9 / 16, 1e9, 1}, {0.5e9, 1e9, 8},
		{0.99e9, 1e9, 15}, {3e9, 1e9, 15}, {5e8, 0, 0}, {-1, 1e9, 0},
	} {
		if got := Load(c.tx, c.rate); got != c.want {
			t.Errorf("Load(%v, %v) = %d, want %d", c.tx, c.rate, got, c.want)
		}
	}
}
