// Package agent is srv6-agent, the node agent of srv6oam: it loads the End.OAM function
// (package bpf), binds the configured SIDs to it, reads the probes the function reports through
// its ring buffer, and sends them as agent reports (oam.Report) over UDP to the collectors the
// probes name, only when a collector is on the allow-list and within its per-destination rate
// limit, so the agent cannot be used as an amplifier. It exports Prometheus metrics, including
// the End function's own per-CPU counters.
//
// New sets everything up in the calling goroutine's network namespace and undoes what it did on
// failure; Agent.Run serves until its context ends and then removes the agent's routes and
// programs; Run does both.
package agent
