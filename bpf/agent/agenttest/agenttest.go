// Package agenttest runs srv6-agent in a testnet lab for tests: in-process, in a node's
// network namespace, until the test ends.
package agenttest

import (
	"context"
	"testing"

	"github.com/srv6oam/srv6oam/bpf/agent"
	"github.com/srv6oam/srv6oam/testnet"
)

// Start creates an agent with cfg in node's namespace and runs it until the test ends or stop
// is called. stop cancels Run, waits for it (the agent has removed its routes and program by
// then) and returns its error; if the test did not call stop, a Run error fails the test.
func Start(t testing.TB, lab *testnet.Lab, node string, cfg agent.Config) (a *agent.Agent, stop func() error) {
	t.Helper()
	err := lab.Exec(node, func() error {
		var err error
		a, err = agent.New(cfg, nil)
		return err
	})
	if err != nil {
		t.Fatalf("start srv6-agent on %s: %v", node, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped, runErr := false, error(nil)
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			runErr = <-done
		}
		return runErr
	}
	t.Cleanup(func() {
		if stopped {
			return // the test has Run's error
		}
		if err := stop(); err != nil {
			t.Errorf("srv6-agent on %s: %v", node, err)
		}
	})
	return a, stop
}

// SID is an End.OAM SID for an agent on Node.
type SID struct {
	Node, SID, Device string // the SID is bound to Device (the interface toward the next node)
	NodeID            uint32
}

// Line4 are the End.OAM SIDs of the bundled line4 lab on r1, r2 and h2 (fc00:0:N::b0 is left
// free for srv6-agent on node N).
var Line4 = []SID{
	{"r1", "fc00:0:2::b0", "to-r2", 2},
	{"r2", "fc00:0:3::b0", "to-h2", 3},
	{"h2", "fc00:0:4::b0", "to-r2", 4},
}

// StartAll runs an agent for each of sids, reporting to collectors at up to rate records/s
// per collector (0: the agent's default), until the test ends; the agents by node.
func StartAll(t testing.TB, lab *testnet.Lab, sids []SID, collectors []string, rate float64) map[string]*agent.Agent {
	return startAll(t, lab, sids, collectors, nil, rate)
}

// StartAllTrusting is StartAll with every collector trusted for captures and next hops
// (srv6-trace --agent-nexthops needs it).
func StartAllTrusting(t testing.TB, lab *testnet.Lab, sids []SID, collectors []string, rate float64) map[string]*agent.Agent {
	return startAll(t, lab, sids, collectors, collectors, rate)
}

func startAll(t testing.TB, lab *testnet.Lab, sids []SID, collectors, trusted []string, rate float64) map[string]*agent.Agent {
	t.Helper()
	agents := map[string]*agent.Agent{}
	for _, s := range sids {
		agents[s.Node], _ = Start(t, lab, s.Node, agent.Config{NodeID: s.NodeID,
			SIDs: []agent.SIDConfig{{SID: s.SID, Device: s.Device}}, Collectors: collectors, TrustedCollectors: trusted, ReportRate: rate})
	}
	return agents
}
