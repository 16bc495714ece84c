package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// DaemonOptions configure Serve, what srv6-monitor runs.
type DaemonOptions struct {
	// ConfigPath is the jobs file, read at start and again on every reload.
	ConfigPath string
	// Listen is the HTTP address for /metrics, /healthz and /api/v1/jobs.
	Listen string
	// Ready, when set, is called with the address the HTTP server listens on once it does.
	Ready func(addr net.Addr)
	Options
}

// Serve loads the config, starts the monitor and its HTTP server, reloads the config each
// time reload delivers (SIGHUP in srv6-monitor; a reload that fails keeps the jobs running
// and is logged) and shuts down gracefully when ctx is done.
func Serve(ctx context.Context, o DaemonOptions, reload <-chan struct{}) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg, err := LoadConfig(o.ConfigPath)
	if err != nil {
		return err
	}
	m, err := New(cfg, o.Options)
	if err != nil {
		return err
	}
	var ln net.Listener
	exec := o.Exec
	if exec == nil {
		exec = func(fn func() error) error { return fn() }
	}
	if err := exec(func() error {
		var err error
		ln, err = net.Listen("tcp", o.Listen)
		return err
	}); err != nil {
		m.demux.Close()
		return fmt.Errorf("monitor: listen on %s: %w", o.Listen, err)
	}
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "jobs", len(cfg.Jobs))
	if cfg.Shard != nil {
		log.Info("shard", "index", cfg.Shard.Index, "count", cfg.Shard.Count, "jobs", len(cfg.Jobs), "of", cfg.Total)
	}
	if o.Ready != nil {
		o.Ready(ln.Addr())
	}
	runErr := make(chan error, 1)
	go func() { runErr <- m.Run(ctx) }()

	var result error
loop:
	for {
		select {
		case <-reload:
			next, err := LoadConfig(o.ConfigPath)
			if err == nil {
				_, err = m.Reload(next)
			}
			if err != nil {
				m.noteReload(false)
				log.Error("reload refused, jobs unchanged", "err", err)
			}
		case err := <-httpErr:
			if !errors.Is(err, http.ErrServerClosed) {
				result = fmt.Errorf("monitor: HTTP server: %w", err)
			}
			break loop
		case err := <-runErr:
			runErr <- err
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	cancel()
	shutCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	_ = srv.Shutdown(shutCtx)
	if err := <-runErr; err != nil && result == nil {
		result = err
	}
	log.Info("stopped", "err", result)
	return result
}
