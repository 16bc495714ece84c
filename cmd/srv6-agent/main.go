// Command srv6-agent runs on an SRv6 node: it binds SIDs to the End.OAM BPF function, which
// timestamps srv6oam probes in the kernel, and reports those probes to allow-listed collectors.
// See docs/srv6-agent.md.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	s6cli "github.com/srv6oam/srv6oam/cmd/internal/cli"

	"github.com/srv6oam/srv6oam/bpf"
	"github.com/srv6oam/srv6oam/bpf/agent"
)

// Exit statuses: 0 stopped by SIGINT or SIGTERM, routes and program removed; 1 could not start
// (a configuration file that does not validate, a kernel or privilege that is missing) or
// stopped on an error; 2 a mistake in the command line, or a SID another live agent has bound
// (without --take-over).
func main() { s6cli.Main(newApp(), s6cli.ExitFailure) }

func newApp() *cli.App {
	return &cli.App{
		Name:            "srv6-agent",
		Version:         s6cli.Version,
		Usage:           "timestamp srv6oam probes in the kernel (End.BPF) and report them to collectors",
		UsageText:       "srv6-agent [--config FILE] [--node-id N --sid SID,dev=IFACE ... --collector PREFIX ...] [--stamp-listen ADDR --stamp-sender PREFIX ...] [--pt dev=IFACE,id=N ...]",
		HideHelpCommand: true,
		// --sid values contain commas (SID,dev=IFACE); repeat the flag instead of comma lists.
		DisableSliceFlagSeparator: true,
		Flags: []cli.Flag{
			&cli.PathFlag{Name: "config", Usage: "YAML `FILE` (docs/srv6-agent.md); flags given as well override its values"},
			&cli.UintFlag{Name: "node-id", Usage: "`ID` written into timestamp slots and reports (not 0)", DefaultText: "none"},
			&cli.StringSliceFlag{Name: "sid", Usage: "bind `SID,dev=IFACE[,table=N]` to End.OAM (repeatable)"},
			&cli.StringSliceFlag{Name: "collector", Usage: "allow reports to `PREFIX` (repeatable); probes naming other collectors are not reported"},
			&cli.StringSliceFlag{Name: "trusted-collector", Usage: "let probes naming a collector within `PREFIX` ask for captures and next hops (repeatable; within --collector)", DefaultText: "none"},
			&cli.Float64Flag{Name: "report-rate", Usage: "report `RECORDS` per second to any one collector address", DefaultText: "1000"},
			&cli.IntFlag{Name: "report-burst", Usage: "token bucket `SIZE` per collector address", DefaultText: "the rate"},
			&cli.Float64Flag{Name: "report-rate-total", Usage: "report `RECORDS` per second to all collectors together", DefaultText: "10 × --report-rate"},
			&cli.BoolFlag{Name: "take-over", Usage: "bind the SIDs even where another live srv6-agent has bound them"},
			&cli.StringFlag{Name: "on-sid-lost", Usage: "when a SID's route disappears: `ACTION` rebind (bind it again) or exit", DefaultText: "rebind"},
			&cli.StringFlag{Name: "metrics-listen", Usage: "`ADDRESS` for Prometheus /metrics, e.g. [::1]:9470 (empty: off)"},
			&cli.UintFlag{Name: "probe-tlv-type", Usage: "Probe TLV type `CODE`", DefaultText: "124"},
			&cli.UintFlag{Name: "slots-tlv-type", Usage: "Timestamp Slots TLV type `CODE`", DefaultText: "252"},
			&cli.IntFlag{Name: "ring-buffer-bytes", Usage: "End.OAM event ring buffer `BYTES` (a power of two, shared by all CPUs)", DefaultText: "1048576"},
			&cli.StringFlag{Name: "stamp-listen", Usage: "run the STAMP reflector on `ADDRESS`, e.g. [::]:862"},
			&cli.StringSliceFlag{Name: "stamp-sender", Usage: "allow STAMP test packets from `PREFIX` (repeatable)", DefaultText: "the --collector prefixes"},
			&cli.Float64Flag{Name: "stamp-rate", Usage: "STAMP `REPLIES` per second to any one sender", DefaultText: "100"},
			&cli.IntFlag{Name: "stamp-burst", Usage: "STAMP token bucket `SIZE` per sender", DefaultText: "the rate"},
			&cli.StringFlag{Name: "stamp-timestamps", Usage: "STAMP reply timestamps in `FORMAT` ptp (PTPv2, CLOCK_TAI) or ntp (RFC 8762's default, UTC); test packets are read in either", DefaultText: "ptp"},
			&cli.StringFlag{Name: "stamp-mode", Usage: "STAMP reflector `MODE`: stateless (a reply's sequence number is its test packet's) or stateful (per session: own sequence numbers and the counts the Direct Measurement TLV returns)", DefaultText: "stateless"},
			&cli.StringFlag{Name: "stamp-hmac-key-file", Usage: "`FILE` holding the key (at least 16 bytes) that verifies test packets' HMAC TLV and seals the replies' (RFC 8972); without it an HMAC TLV comes back flagged U"},
			&cli.StringFlag{Name: "stamp-auth-key-file", Usage: "authenticated mode (RFC 8762 §4.4): answer only 112-octet test packets whose HMAC verifies under the key in `FILE` (at least 16 bytes), with authenticated replies; TLVs are not read in this mode"},
			&cli.StringSliceFlag{Name: "stamp-return-sid", Usage: "a SID `PREFIX` a STAMP Return Path TLV's segment list may name (repeatable; default: none, segment lists refused)"},
			&cli.IntSliceFlag{Name: "stamp-dscp", Usage: "a `DSCP` a Class of Service TLV may ask for the reply (repeatable; default: any); others come back with RP set"},
			&cli.StringFlag{Name: "stamp-sync-source", Usage: "what the Timestamp Information TLV says the clock follows: `SOURCE` ntp, ptp, gnss, ssu or free-running", DefaultText: "ntp when the kernel says the clock is synchronised, else free-running"},
			&cli.BoolFlag{Name: "stamp-reflect-ioam", Usage: "return a test packet's IOAM trace in the reply's Hop-by-Hop header, for the hops on the way back to go on filling (srv6-ping --stamp --ioam; needs CAP_NET_RAW)"},
			&cli.StringSliceFlag{Name: "pt", Usage: "attach an SRv6 Path Tracing midpoint to the egress of an interface: `dev=IFACE,id=N[,template=T][,rate=BPS]` (id 1-4095; template 1-4, default 3; rate the interface's bits per second for the load, default its speed) (repeatable)"},
			&cli.BoolFlag{Name: "debug", Usage: "log at debug level"},
		},
		Action: run,
	}
}

func run(c *cli.Context) error {
	cfg, err := config(c)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if c.Bool("debug") {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	a, err := agent.New(cfg, log)
	if err != nil {
		return sidOwned(err)
	}
	log.Info("srv6-agent running", "node_id", cfg.NodeID, "sids", len(cfg.SIDs), "reflector", cfg.Reflector != nil, "path_tracing", len(cfg.PathTracing), "metrics", a.MetricsAddr())
	if err := a.Run(ctx); err != nil {
		return sidOwned(err)
	}
	log.Info("srv6-agent stopped; routes and program removed")
	return nil
}

// sidOwned gives a SID bound by another live agent exit status 2: not a failure of this node,
// the operator's choice between two agents.
func sidOwned(err error) error {
	if errors.Is(err, bpf.ErrSIDOwned) {
		return cli.Exit(err.Error()+"; stop the other agent, or start this one with --take-over", s6cli.ExitUsage)
	}
	return err
}

// config merges the configuration file and the flags. A mistake in the flags is a usage error;
// so is a configuration made of flags alone that does not validate, while one read from a file
// that does not is an error of the file (exit 1).
func config(c *cli.Context) (agent.Config, error) {
	var cfg agent.Config
	if err := s6cli.NoArgs(c); err != nil {
		return cfg, err
	}
	if path := c.Path("config"); path != "" {
		var err error
		if cfg, err = agent.LoadConfig(path); err != nil {
			return cfg, err
		}
	}
	if c.IsSet("node-id") {
		if c.Uint("node-id") > 0xffffffff {
			return cfg, s6cli.Usage("--node-id %d: larger than 32 bits", c.Uint("node-id"))
		}
		cfg.NodeID = uint32(c.Uint("node-id"))
	}
	if c.IsSet("sid") {
		cfg.SIDs = nil
		for _, s := range c.StringSlice("sid") {
			sc, err := agent.ParseSIDFlag(s)
			if err != nil {
				return cfg, &s6cli.UsageError{Err: err}
			}
			cfg.SIDs = append(cfg.SIDs, sc)
		}
	}
	if c.IsSet("collector") {
		cfg.Collectors = c.StringSlice("collector")
	}
	if c.IsSet("trusted-collector") {
		cfg.TrustedCollectors = c.StringSlice("trusted-collector")
	}
	if c.IsSet("report-rate") {
		cfg.ReportRate = c.Float64("report-rate")
	}
	if c.IsSet("report-rate-total") {
		cfg.ReportRateTotal = c.Float64("report-rate-total")
	}
	if c.IsSet("take-over") {
		cfg.TakeOver = c.Bool("take-over")
	}
	if c.IsSet("on-sid-lost") {
		cfg.OnSIDLost = c.String("on-sid-lost")
	}
	if c.IsSet("report-burst") {
		cfg.ReportBurst = c.Int("report-burst")
	}
	if c.IsSet("metrics-listen") {
		cfg.MetricsListen = c.String("metrics-listen")
	}
	for _, f := range []struct {
		name string
		dst  *uint8
	}{{"probe-tlv-type", &cfg.ProbeTLVType}, {"slots-tlv-type", &cfg.SlotsTLVType}} {
		if c.IsSet(f.name) {
			if c.Uint(f.name) > 255 {
				return cfg, s6cli.Usage("--%s %d: a TLV type is 0-255", f.name, c.Uint(f.name))
			}
			*f.dst = uint8(c.Uint(f.name))
		}
	}
	if c.IsSet("ring-buffer-bytes") {
		cfg.RingBufferBytes = c.Int("ring-buffer-bytes")
	}
	if c.IsSet("stamp-listen") || c.IsSet("stamp-sender") || c.IsSet("stamp-rate") || c.IsSet("stamp-burst") || c.IsSet("stamp-reflect-ioam") || c.IsSet("stamp-timestamps") ||
		c.IsSet("stamp-mode") || c.IsSet("stamp-hmac-key-file") || c.IsSet("stamp-dscp") || c.IsSet("stamp-sync-source") || c.IsSet("stamp-auth-key-file") || c.IsSet("stamp-return-sid") {
		if cfg.Reflector == nil {
			cfg.Reflector = &agent.ReflectorConfig{}
		}
		if c.IsSet("stamp-listen") {
			cfg.Reflector.Listen = c.String("stamp-listen")
		}
		if c.IsSet("stamp-sender") {
			cfg.Reflector.Senders = c.StringSlice("stamp-sender")
		}
		if c.IsSet("stamp-rate") {
			cfg.Reflector.Rate = c.Float64("stamp-rate")
		}
		if c.IsSet("stamp-burst") {
			cfg.Reflector.Burst = c.Int("stamp-burst")
		}
		if c.IsSet("stamp-reflect-ioam") {
			cfg.Reflector.ReflectIOAM = c.Bool("stamp-reflect-ioam")
		}
		if c.IsSet("stamp-timestamps") {
			cfg.Reflector.Timestamps = c.String("stamp-timestamps")
		}
		if c.IsSet("stamp-mode") {
			cfg.Reflector.Mode = c.String("stamp-mode")
		}
		if c.IsSet("stamp-hmac-key-file") {
			cfg.Reflector.HMACKeyFile = c.String("stamp-hmac-key-file")
		}
		if c.IsSet("stamp-dscp") {
			cfg.Reflector.DSCP = c.IntSlice("stamp-dscp")
		}
		if c.IsSet("stamp-sync-source") {
			cfg.Reflector.SyncSource = c.String("stamp-sync-source")
		}
		if c.IsSet("stamp-return-sid") {
			cfg.Reflector.ReturnSIDs = c.StringSlice("stamp-return-sid")
		}
		if c.IsSet("stamp-auth-key-file") {
			cfg.Reflector.AuthKeyFile = c.String("stamp-auth-key-file")
		}
	}
	if c.IsSet("pt") {
		cfg.PathTracing = nil
		for _, s := range c.StringSlice("pt") {
			p, err := agent.ParsePTFlag(s)
			if err != nil {
				return cfg, &s6cli.UsageError{Err: err}
			}
			cfg.PathTracing = append(cfg.PathTracing, p)
		}
	}
	// Checked here, before anything is loaded, to tell the two kinds of mistake apart.
	if err := cfg.Validate(); err != nil {
		if c.IsSet("config") {
			return cfg, fmt.Errorf("config %s: %w", c.Path("config"), err)
		}
		return cfg, &s6cli.UsageError{Err: err}
	}
	return cfg, nil
}
