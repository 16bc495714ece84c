// Command srv6-monitor runs scheduled SRv6 delay and liveness jobs and exports them to
// Prometheus. See docs/srv6-monitor.md.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	s6cli "github.com/srv6oam/srv6oam/cmd/internal/cli"

	"github.com/srv6oam/srv6oam/probes/monitor"
)

// Exit statuses: 0 stopped by SIGINT or SIGTERM, or --check found the config valid; 1 the
// config does not validate (--check, or at start), or the monitor could not start or failed;
// 2 a mistake in the command line.
func main() { s6cli.Main(newApp(), s6cli.ExitFailure) }

func newApp() *cli.App {
	return &cli.App{
		Name:            "srv6-monitor",
		Version:         s6cli.Version,
		Usage:           "run scheduled SRv6 delay and liveness jobs, export them to Prometheus",
		UsageText:       "srv6-monitor --config monitor.yaml [--listen [::]:9471] [--results FILE|-] [--interface IFACE] [--check]",
		HideHelpCommand: true,
		Flags: []cli.Flag{
			// Not Required: urfave/cli would print the whole help for it. run names it.
			&cli.StringFlag{Name: "config", Usage: "jobs `FILE` (YAML, see docs/srv6-monitor.md), required; re-read on SIGHUP"},
			&cli.StringFlag{Name: "listen", Value: "[::]:9471", Usage: "`ADDRESS` of the HTTP server: /metrics, /healthz, /api/v1/jobs"},
			&cli.StringFlag{Name: "results", Usage: "write every probe as JSON Lines to `FILE` (- for standard output)"},
			&cli.StringFlag{Name: "interface", Usage: "bind the probe sockets to `IFACE`"},
			&cli.BoolFlag{Name: "check", Usage: "validate the flags and the config as the monitor does at start, and exit (0: it would start)"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "`LEVEL` of the log on standard error: debug, info, warn, error"},
		},
		Action: run,
	}
}

func run(c *cli.Context) error {
	if err := s6cli.NoArgs(c); err != nil {
		return err
	}
	if c.String("config") == "" {
		return s6cli.Usage("--config FILE is required (the jobs; docs/srv6-monitor.md)")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return s6cli.Usage("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	if _, _, err := net.SplitHostPort(c.String("listen")); err != nil {
		return s6cli.Usage("--listen %q: want HOST:PORT, e.g. [::]:9471: %v", c.String("listen"), err)
	}
	// The config is checked by what the monitor loads at start (monitor.LoadConfig validates
	// every job as its engine will), so "OK" means the monitor would take it.
	if c.Bool("check") {
		cfg, err := monitor.LoadConfig(c.String("config"))
		if err != nil {
			return err
		}
		if cfg.Shard != nil {
			fmt.Printf("%s: %d jobs OK; shard %d of %d runs %d of them\n", cfg.File, cfg.Total, cfg.Shard.Index, cfg.Shard.Count, len(cfg.Jobs))
		} else {
			fmt.Printf("%s: %d jobs OK\n", cfg.File, len(cfg.Jobs))
		}
		return nil
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	opts := monitor.DaemonOptions{ConfigPath: c.String("config"), Listen: c.String("listen")}
	opts.Interface = c.String("interface")
	opts.Logger = log
	switch path := c.String("results"); path {
	case "":
	case "-":
		opts.Results = os.Stdout
	default:
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("--results: %w", err)
		}
		defer f.Close()
		opts.Results = io.Writer(f)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-hup:
				log.Info("SIGHUP: reloading", "config", opts.ConfigPath)
				select {
				case reload <- struct{}{}:
				default:
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return monitor.Serve(ctx, opts, reload)
}
