// Package monitor runs srv6-monitor's scheduled jobs: a YAML file of jobs (a segment list, a
// target, a probe kind, an interval), validated at load with errors that name the file, line,
// job and field; one scheduler that sends every job's probes on its own jittered schedule over
// ONE shared raw socket pair (replies are demultiplexed by ICMPv6 echo identifier and
// sequence); per-job, per-segment liveness with a detect multiplier; Prometheus metrics
// (classic and native histograms); an HTTP server with /metrics, /healthz and /api/v1/jobs;
// optional raw results as JSON Lines; and a Reload that keeps the state of unchanged jobs.
//
// Echo jobs share the monitor's one probes.Conn. Timestamped jobs run a probes/delay Prober
// each (that engine opens its own return and report sockets: see docs/srv6-monitor.md).
package monitor
