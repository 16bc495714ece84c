package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/srv6oam/srv6oam/bpf"
	"github.com/srv6oam/srv6oam/oam/pt"
)

// PTConfig is one interface with an SRv6 Path Tracing midpoint on its egress (docs/per-hop.md).
type PTConfig struct {
	// Device is the interface.
	Device string `yaml:"device"`
	// ID is its interface id in the MCDs it pushes: 1 to 4095, unique on this node.
	ID uint16 `yaml:"id"`
	// Template is the timestamp template, 1 to 4 (0: 3, the default of SAI, SONiC and VPP).
	Template int `yaml:"template"`
	// Rate is the interface's rate in bits per second, against which the agent turns the
	// transmit rate it measures into the MCD's load. 0: the rate the kernel reports for the
	// interface (its speed), and when it reports none (veth, most virtual links), load 0.
	Rate uint64 `yaml:"rate"`
}

// ParsePTFlag parses the command-line form of a Path Tracing interface:
// "dev=IFACE,id=N[,template=T][,rate=BPS]", the rate with an optional k, M or G suffix.
func ParsePTFlag(s string) (PTConfig, error) {
	var c PTConfig
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return PTConfig{}, fmt.Errorf("--pt %q: %q is not key=value (want dev, id, template or rate)", s, kv)
		}
		switch k {
		case "dev":
			c.Device = v
		case "id":
			n, err := strconv.ParseUint(v, 0, 16)
			if err != nil {
				return PTConfig{}, fmt.Errorf("--pt %q: id %q: not a number of 16 bits", s, v)
			}
			c.ID = uint16(n)
		case "template":
			t, err := pt.ParseTemplate(v)
			if err != nil {
				return PTConfig{}, fmt.Errorf("--pt %q: %w", s, err)
			}
			c.Template = int(t)
		case "rate":
			r, err := parseRate(v)
			if err != nil {
				return PTConfig{}, fmt.Errorf("--pt %q: rate %q: %w", s, v, err)
			}
			c.Rate = r
		default:
			return PTConfig{}, fmt.Errorf("--pt %q: unknown key %q (want dev, id, template or rate)", s, k)
		}
	}
	if err := c.validate("--pt"); err != nil {
		return PTConfig{}, err
	}
	return c, nil
}

// parseRate reads bits per second: a number with an optional k, M or G (powers of 1000).
func parseRate(s string) (uint64, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1e9, strings.TrimSuffix(s, "G")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || f*mult > math.MaxUint64/2 {
		return 0, errors.New("want bits per second, e.g. 10G, 100M or 1500000")
	}
	return uint64(f * mult), nil
}

func (c PTConfig) validate(where string) error {
	if c.Device == "" {
		return fmt.Errorf("%s: device: required", where)
	}
	if c.ID == 0 || c.ID > pt.MaxInterfaceID {
		return fmt.Errorf("%s: id %d: want 1 to %d (12 bits)", where, c.ID, pt.MaxInterfaceID)
	}
	if c.Template != 0 && !pt.Template(c.Template).Valid() {
		return fmt.Errorf("%s: template %d: want 1 to 4", where, c.Template)
	}
	return nil
}

func validatePT(list []PTConfig) []error {
	var errs []error
	devs, ids := map[string]int{}, map[uint16]int{}
	for i, c := range list {
		where := fmt.Sprintf("path_tracing[%d]", i)
		if err := c.validate(where); err != nil {
			errs = append(errs, err)
			continue
		}
		if j, dup := devs[c.Device]; dup {
			errs = append(errs, fmt.Errorf("%s: device %s already has a midpoint (path_tracing[%d])", where, c.Device, j))
		}
		if j, dup := ids[c.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: id %d already names path_tracing[%d]'s interface: a path would not say which", where, c.ID, j))
		}
		devs[c.Device], ids[c.ID] = i, i
	}
	return errs
}

// ptMeterInterval is how often the load meter reads the interfaces' transmit counters.
const ptMeterInterval = time.Second

// ptPort is one interface's midpoint and what the load meter knows of it.
type ptPort struct {
	cfg     PTConfig
	ifindex int
	rate    uint64 // bits per second the load is measured against; 0: unknown
	mid     *bpf.PTMidpoint
	lastTx  uint64
	lastAt  time.Time
	load    uint8
}

// attachPT attaches a midpoint to every configured interface, in the namespace of h.
func attachPT(h *netlink.Handle, list []PTConfig, log *slog.Logger) ([]*ptPort, error) {
	var ports []*ptPort
	for _, c := range list {
		l, err := h.LinkByName(c.Device)
		if err != nil {
			closePT(ports)
			return nil, fmt.Errorf("path tracing on %s: %w", c.Device, err)
		}
		p := &ptPort{cfg: c, ifindex: l.Attrs().Index, rate: c.Rate}
		if p.rate == 0 {
			p.rate = linkSpeed(c.Device, p.ifindex)
		}
		if p.mid, err = bpf.AttachPT(p.ifindex, bpf.PTOptions{InterfaceID: c.ID, Template: pt.Template(c.Template)}); err != nil {
			closePT(ports)
			return nil, fmt.Errorf("path tracing on %s: %w", c.Device, err)
		}
		if s := l.Attrs().Statistics; s != nil {
			p.lastTx, p.lastAt = s.TxBytes, time.Now()
		}
		ports = append(ports, p)
		rate := "unknown: load 0"
		if p.rate > 0 {
			rate = strconv.FormatUint(p.rate, 10) + " bit/s"
		}
		log.Info("path tracing midpoint attached", "device", c.Device, "id", c.ID, "template", int(p.mid.Options().Template), "rate", rate)
	}
	return ports, nil
}

// linkSpeed is the interface's speed in bits per second as sysfs reports it, 0 when it reports
// none (veth says -1) or when the sysfs mounted here belongs to another network namespace (its
// ifindex differs).
func linkSpeed(dev string, ifindex int) uint64 {
	idx, err := os.ReadFile("/sys/class/net/" + dev + "/ifindex")
	if err != nil || strings.TrimSpace(string(idx)) != strconv.Itoa(ifindex) {
		return 0
	}
	b, err := os.ReadFile("/sys/class/net/" + dev + "/speed")
	if err != nil {
		return 0
	}
	mbps, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || mbps <= 0 {
		return 0
	}
	return uint64(mbps) * 1e6
}

// Load is the MCD load for a transmit rate against the interface's rate: sixteenths of it,
// rounded down, 15 for anything from 15/16 up (also above the rate); 0 when the rate is unknown.
func Load(txBitsPerSecond float64, rate uint64) uint8 {
	if rate == 0 || txBitsPerSecond <= 0 {
		return 0
	}
	return uint8(min(pt.MaxLoad, math.Floor(16*txBitsPerSecond/float64(rate))))
}

// meterPT measures each port's transmit rate every interval and sets its load, until ctx ends.
// h is the meter's own netlink handle.
func meterPT(ctx context.Context, h *netlink.Handle, ports []*ptPort, interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			for _, p := range ports {
				if p.rate == 0 {
					continue
				}
				l, err := h.LinkByIndex(p.ifindex)
				if err != nil || l.Attrs().Statistics == nil {
					log.Debug("path tracing load: read interface statistics", "device", p.cfg.Device, "err", err)
					continue
				}
				tx := l.Attrs().Statistics.TxBytes
				if dt := now.Sub(p.lastAt).Seconds(); dt > 0 && tx >= p.lastTx {
					load := Load(float64(tx-p.lastTx)*8/dt, p.rate)
					if load != p.load {
						if err := p.mid.SetLoad(load); err != nil {
							log.Warn("path tracing load", "device", p.cfg.Device, "err", err)
						} else {
							p.load = load
						}
					}
				}
				p.lastTx, p.lastAt = tx, now
			}
		}
	}
}

func closePT(ports []*ptPort) error {
	var errs []error
	for _, p := range ports {
		if p.mid != nil {
			errs = append(errs, p.mid.Close())
		}
	}
	return errors.Join(errs...)
}

// PTCounters returns each Path Tracing interface's counters, by device.
func (a *Agent) PTCounters() (map[string]bpf.PTCounters, error) {
	out := make(map[string]bpf.PTCounters, len(a.pt))
	for _, p := range a.pt {
		c, err := p.mid.Counters()
		if err != nil {
			return nil, err
		}
		out[p.cfg.Device] = c
	}
	return out, nil
}
