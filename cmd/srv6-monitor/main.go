// Command srv6-monitor runs scheduled SRv6 delay and liveness jobs and exports them to
// Prometheus. See docs/srv6-monitor.md.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/srv6oam/srv6oam/probes/monitor"
)

func main() {
	app := &cli.App{
		Name:            "srv6-monitor",
		Usage:           "run scheduled SRv6 delay and liveness jobs, export them to Prometheus",
		UsageText:       "srv6-monitor --config monitor.yaml [--listen [::]:9471] [--results FILE|-]",
		HideHelpCommand: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Required: true, Usage: "jobs `FILE` (YAML, see docs/srv6-monitor.md); re-read on SIGHUP"},
			&cli.StringFlag{Name: "listen", Value: "[::]:9471", Usage: "`ADDRESS` of the HTTP server: /metrics, /healthz, /api/v1/jobs"},
			&cli.StringFlag{Name: "results", Usage: "write every probe as JSON Lines to `FILE` (- for standard output)"},
			&cli.StringFlag{Name: "interface", Usage: "bind the probe sockets to `IFACE`"},
			&cli.BoolFlag{Name: "check", Usage: "validate the config and exit"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "`LEVEL` of the log on standard error: debug, info, warn, error"},
		},
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "srv6-monitor:", err)
		os.Exit(1)
	}
}

func run(c *cli.Context) error {
	if c.Bool("check") {
		cfg, err := monitor.LoadConfig(c.String("config"))
		if err != nil {
			return err
		}
		fmt.Printf("%s: %d jobs OK\n", cfg.File, len(cfg.Jobs))
		return nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.String("log-level"))
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
