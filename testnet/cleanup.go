package testnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// splitNamespace splits "s6t-<lab>-<node>" (node names have no '-').
func splitNamespace(ns string) (lab, node string, ok bool) {
	rest, ok := strings.CutPrefix(ns, NamespacePrefix)
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// Labs lists the labs that have namespaces under /run/netns, with their
// namespaces (nodes, and "_relay" for delay links), sorted.
func Labs() (map[string][]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return map[string][]string{}, nil
		}
		return nil, fmt.Errorf("list %s: %w", netnsDir, err)
	}
	labs := map[string][]string{}
	for _, e := range entries {
		if lab, node, ok := splitNamespace(e.Name()); ok {
			labs[lab] = append(labs[lab], node)
		}
	}
	for _, nodes := range labs {
		sort.Strings(nodes)
	}
	return labs, nil
}

func labNamespaces(lab string) ([]string, error) {
	labs, err := Labs()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, node := range labs[lab] {
		out = append(out, nsName(lab, node))
	}
	return out, nil
}

// Down removes a lab that is not (or no longer) owned by a live Lab value,
// such as a lab `srv6-testnet up` left running or the leftovers of a crashed
// run: it stops the processes still running in the lab's namespaces (SIGTERM,
// then SIGKILL after StopGrace) and deletes the namespaces, which deletes their
// links, routes and SIDs. It returns the namespaces removed.
func Down(lab string) ([]string, error) {
	if !validLabName(lab) {
		return nil, fmt.Errorf("lab name %q: want 1-40 characters [a-z0-9-]", lab)
	}
	names, err := labNamespaces(lab)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("lab %s: no namespaces %s%s-* under %s", lab, NamespacePrefix, lab, netnsDir)
	}
	return names, removeNamespaces(names)
}

// DownAll removes every lab (every namespace named s6t-*-*) and returns
// the namespaces removed.
func DownAll() ([]string, error) {
	labs, err := Labs()
	if err != nil {
		return nil, err
	}
	var names []string
	for lab, nodes := range labs {
		for _, node := range nodes {
			names = append(names, nsName(lab, node))
		}
	}
	sort.Strings(names)
	return names, removeNamespaces(names)
}

func removeNamespaces(names []string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("remove namespaces: %w", ErrNotPermitted)
	}
	inodes := map[uint64]bool{}
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(netnsDir, n), &st); err == nil {
			inodes[st.Ino] = true
		}
	}
	stopProcessesIn(inodes, StopGrace)
	var errs []error
	for _, n := range names {
		if err := netns.DeleteNamed(n); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// StopGrace is how long Down, DownAll and Lab.Close wait, after SIGTERM, for the processes
// left in a lab's namespaces (`srv6-testnet exec`'s, a crashed run's) to exit, before they
// SIGKILL those still there.
const StopGrace = 5 * time.Second

// stopProcessesIn stops every process whose network namespace is one of inodes, before the
// namespaces are deleted (a process keeps its namespace, and whatever it added there, alive):
// SIGTERM first, so that a program can undo what it did outside the namespace's own objects
// (srv6-agent unloads its End.BPF program) and finish its output (srv6-ping's statistics);
// SIGKILL for those still running after grace. It returns once none is left, or a second after
// the SIGKILL.
func stopProcessesIn(inodes map[uint64]bool, grace time.Duration) {
	if len(inodes) == 0 {
		return
	}
	termed := map[int]bool{}
	deadline := time.Now().Add(grace)
	for {
		pids := processesIn(inodes)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
			break
		}
		// Children started during the grace period are in the namespace too: they get
		// their SIGTERM when they are first seen.
		for _, pid := range pids {
			if !termed[pid] {
				termed[pid] = true
				_ = unix.Kill(pid, unix.SIGTERM)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for end := time.Now().Add(time.Second); time.Now().Before(end) && len(processesIn(inodes)) > 0; {
		time.Sleep(20 * time.Millisecond)
	}
}

// processesIn lists the processes (other than this one) whose network namespace is one of
// inodes. An exited process waiting to be reaped has no namespace any more and is not listed.
func processesIn(inodes map[uint64]bool) []int {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(filepath.Join("/proc", p.Name(), "ns/net"), &st) != nil {
			continue
		}
		if inodes[st.Ino] {
			pids = append(pids, pid)
		}
	}
	return pids
}
