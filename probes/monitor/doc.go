// Package monitor runs srv6-monitor's scheduled jobs: a YAML file of jobs (a segment list, a
// target, a probe kind, an interval), validated at load with errors that name the file, line,
// job and field; every job kind run by an engine of the probes packages through one table
// (probers.go, as blackbox_exporter's Probers map); per-job, per-segment liveness by
// oam/collect's machine; Prometheus metrics (classic and native histograms); an HTTP server with
// /metrics, /healthz and /api/v1/jobs; optional raw results as JSON Lines; and a Reload that
// keeps the state of unchanged jobs.
//
// Echo jobs are ping sessions (probes/ping) on one probes.Loop: one goroutine, one timer heap
// and one raw socket pair for all of them, replies demultiplexed by echo identifier, each job on
// its own jittered schedule. Timestamped jobs run a probes/delay Prober each, on one shared set
// of timestamped sockets (delay.Mux; docs/srv6-monitor.md).
package monitor
