package agent

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSIDFlag parses the command-line form of a SID to bind: "SID,dev=IFACE[,table=N]", e.g.
// "fc00:0:2::b0,dev=eth1" or "fc00:0:2::b0/128,dev=eth1,table=100".
func ParseSIDFlag(s string) (SIDConfig, error) {
	parts := strings.Split(s, ",")
	sc := SIDConfig{SID: strings.TrimSpace(parts[0])}
	if sc.SID == "" {
		return SIDConfig{}, fmt.Errorf("--sid %q: no SID before the first comma", s)
	}
	for _, kv := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return SIDConfig{}, fmt.Errorf("--sid %q: %q is not key=value (want dev=IFACE or table=N)", s, kv)
		}
		switch k {
		case "dev":
			sc.Device = v
		case "table":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return SIDConfig{}, fmt.Errorf("--sid %q: table %q: not a table number", s, v)
			}
			sc.Table = n
		default:
			return SIDConfig{}, fmt.Errorf("--sid %q: unknown key %q (want dev or table)", s, k)
		}
	}
	if sc.Device == "" {
		return SIDConfig{}, fmt.Errorf("--sid %q: dev=IFACE is required", s)
	}
	return sc, nil
}
