package cli

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/srv6oam/srv6oam/cmd/internal/output"
	"github.com/srv6oam/srv6oam/testnet"
	"golang.org/x/sys/unix"
)

// addTopology labels every address of every node of a testnet topology with the node's name
// and records each SID's behaviour.
func addTopology(names *output.Names, nameOrPath string) error {
	topo, err := testnet.Load(nameOrPath)
	if err != nil {
		return err
	}
	for _, n := range topo.Nodes {
		for _, lo := range n.Loopbacks {
			names.AddNode(n.Name, lo.Addr())
		}
		for _, s := range n.SIDs {
			names.AddSID(s.Addr, string(s.Behavior), n.Name)
		}
		if n.IOAM != nil {
			names.AddIOAMNode(uint64(n.IOAM.NodeID), n.Name)
		}
	}
	for _, l := range topo.Links {
		names.AddNode(l.A, l.AAddr.Addr())
		names.AddNode(l.B, l.BAddr.Addr())
	}
	return nil
}

// addRunningLab labels addresses and SIDs from a running srv6-testnet lab, read back from the
// kernel (testnet.Status): every global address of every node, every seg6local SID.
func addRunningLab(names *output.Names, lab string) error {
	nodes, err := testnet.Status(lab)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if len(n.IOAMEnabled) > 0 {
			names.AddIOAMNode(uint64(n.IOAMNodeID), n.Node)
		}
		for _, ifc := range n.Interfaces {
			for _, p := range ifc.Addrs {
				names.AddNode(n.Node, p.Addr())
			}
		}
		for _, s := range n.SIDs {
			// "fc00:0:2::e End" or "fc00:0:2::e1 End.X nh6 fd00:0:0:2::2"
			f := strings.Fields(s)
			if len(f) < 2 {
				continue
			}
			if a, err := netip.ParseAddr(f[0]); err == nil {
				names.AddSID(a, f[1], n.Node)
			}
		}
	}
	return nil
}

// currentLab returns the srv6-testnet lab whose namespace this process runs in ("" when none):
// the entry of /run/netns that is the same namespace as /proc/self/ns/net.
func currentLab() string {
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &self); err != nil {
		return ""
	}
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return ""
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, testnet.NamespacePrefix) {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(filepath.Join("/run/netns", name), &st) != nil {
			continue
		}
		if st.Ino == self.Ino && st.Dev == self.Dev {
			rest := strings.TrimPrefix(name, testnet.NamespacePrefix)
			if i := strings.LastIndexByte(rest, '-'); i > 0 {
				return rest[:i]
			}
		}
	}
	return ""
}

// LabelFrom fills names from --topology, --lab, or the lab this process runs in (labSet: --lab
// was given, perhaps empty to say none).
func LabelFrom(names *output.Names, topology, lab string, labSet bool) error {
	switch {
	case topology != "":
		if err := addTopology(names, topology); err != nil {
			return fmt.Errorf("--topology: %w", err)
		}
	case labSet && lab != "":
		if err := addRunningLab(names, lab); err != nil {
			return fmt.Errorf("--lab: %w", err)
		}
	case !labSet:
		// Inside a lab node (srv6-testnet exec) the lab's names are known: use them. A lab
		// that cannot be read back only costs the labels.
		if l := currentLab(); l != "" {
			_ = addRunningLab(names, l)
		}
	}
	return nil
}
