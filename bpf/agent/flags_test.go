package agent

import (
	"strings"
	"testing"
)

func TestParseSIDFlag(t *testing.T) {
	got, err := ParseSIDFlag("fc00:0:2::b0/128,dev=eth1,table=100")
	if err != nil {
		t.Fatal(err)
	}
	if got != (SIDConfig{SID: "fc00:0:2::b0/128", Device: "eth1", Table: 100}) {
		t.Errorf("got %+v", got)
	}
	for in, want := range map[string]string{
		"":                           "no SID",
		"fc00::1":                    "dev=IFACE is required",
		"fc00::1,eth0":               "not key=value",
		"fc00::1,dev=e,table=x":      "table",
		"fc00::1,dev=e,colour=green": "unknown key",
	} {
		if _, err := ParseSIDFlag(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSIDFlag(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}
