package testnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

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
// such as the leftovers of a crashed run: it kills the processes still
// running in the lab's namespaces and deletes the namespaces, which deletes
// their links, routes and SIDs. It returns the namespaces removed.
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
	killIn(inodes)
	var errs []error
	for _, n := range names {
		if err := netns.DeleteNamed(n); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// killIn kills every process whose network namespace is one of inodes
// (programs a crashed run left inside its nodes keep them alive).
func killIn(inodes map[uint64]bool) {
	if len(inodes) == 0 {
		return
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	self := os.Getpid()
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
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}
