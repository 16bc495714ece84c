package testnet

import (
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NodeStatus is what the kernel says about one node of a running lab.
type NodeStatus struct {
	Node       string
	Namespace  string
	Interfaces []InterfaceStatus
	SIDs       []string // "fc00:0:2::e End", "fc00:0:2::e1 End.X nh6 fd00:0:0:2::2"
	Policies   []string // "fc00:0:4::100/128 encap segs [...]"
	// IOAMNodeID is net.ipv6.ioam6_id; IOAMEnabled the interfaces with ioam6_enabled=1 (none:
	// the node fills no IOAM trace).
	IOAMNodeID  uint32
	IOAMEnabled []string
}

// InterfaceStatus is one interface and its global addresses.
type InterfaceStatus struct {
	Name  string
	Up    bool
	Addrs []netip.Prefix
}

// Status reads a running lab back from the kernel (it needs no Lab value,
// so it works from another process): interfaces, addresses, SIDs and
// headend policies of every node.
func Status(lab string) ([]NodeStatus, error) {
	labs, err := Labs()
	if err != nil {
		return nil, err
	}
	nodes, ok := labs[lab]
	if !ok {
		return nil, fmt.Errorf("lab %s: not running (no namespaces %s%s-*)", lab, NamespacePrefix, lab)
	}
	var out []NodeStatus
	for _, node := range nodes {
		if node == relayNode {
			continue
		}
		st, err := nodeStatus(lab, node)
		if err != nil {
			return nil, fmt.Errorf("lab %s: node %s: %w", lab, node, err)
		}
		out = append(out, st)
	}
	return out, nil
}

func nodeStatus(lab, node string) (NodeStatus, error) {
	st := NodeStatus{Node: node, Namespace: nsName(lab, node)}
	ns, err := netns.GetFromPath(filepath.Join(netnsDir, st.Namespace))
	if err != nil {
		return st, fmt.Errorf("open namespace: %w", err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return st, fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return st, fmt.Errorf("list links: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		a := l.Attrs()
		names[a.Index] = a.Name
		is := InterfaceStatus{Name: a.Name, Up: a.Flags&unix.IFF_UP != 0}
		addrs, err := h.AddrList(l, unix.AF_INET6)
		if err != nil {
			return st, fmt.Errorf("list addresses of %s: %w", a.Name, err)
		}
		for _, ad := range addrs {
			if ad.Scope != unix.RT_SCOPE_UNIVERSE {
				continue
			}
			ip, _ := netip.AddrFromSlice(ad.IP)
			bits, _ := ad.Mask.Size()
			is.Addrs = append(is.Addrs, netip.PrefixFrom(ip, bits))
		}
		st.Interfaces = append(st.Interfaces, is)
	}
	sort.Slice(st.Interfaces, func(i, j int) bool { return st.Interfaces[i].Name < st.Interfaces[j].Name })
	var routes []rawRoute
	if err := execIn(ns, func() (err error) {
		st.IOAMNodeID, st.IOAMEnabled = readIOAM(st.Interfaces)
		routes, err = listRoutes6()
		return err
	}); err != nil {
		return st, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		switch r.encapType {
		case nl.LWTUNNEL_ENCAP_SEG6_LOCAL:
			st.SIDs = append(st.SIDs, sidString(r.dst.Addr(), r.encap))
		case nl.LWTUNNEL_ENCAP_SEG6:
			e, err := decodeSeg6Encap(r.encap)
			if err != nil {
				// Show the route rather than fail the whole status.
				st.Policies = append(st.Policies, fmt.Sprintf("%s seg6 (cannot decode: %v)", r.dst, err))
				continue
			}
			st.Policies = append(st.Policies, r.dst.String()+" "+e.String())
		}
	}
	return st, nil
}

// StartIn starts cmd inside node of a running lab, by namespace name (no
// Lab value needed: the CLI's exec). The caller waits for cmd.
func StartIn(lab, node string, cmd *exec.Cmd) error {
	path := filepath.Join(netnsDir, nsName(lab, node))
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("lab %s has no node %s (%s): %w", lab, node, path, err)
	}
	defer ns.Close()
	return execIn(ns, cmd.Start)
}

// ExecIn replaces this process with the program at path, run with argv and env inside node of
// a running lab, as `ip netns exec` does: the calling thread enters the node's namespace and
// execs, so the program keeps this process's id. Signals sent to it (SIGINT, SIGTERM, SIGHUP,
// and a terminal's Ctrl-C, Ctrl-Z) reach the program itself, and its exit status, or the signal
// it died of, is what the caller sees; no wrapper is left to outlive it or to be killed
// without it. It returns only when the program could not be run: an *fs.PathError of Op
// "exec" when execve(2) failed (its errno says why), another error when the node could not be
// entered.
func ExecIn(lab, node, path string, argv, env []string) error {
	nsPath := filepath.Join(netnsDir, nsName(lab, node))
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("lab %s has no node %s (%s): %w", lab, node, nsPath, err)
	}
	defer ns.Close() // opened O_CLOEXEC: the program does not inherit it
	return execIn(ns, func() error {
		if err := unix.Exec(path, argv, env); err != nil {
			return &fs.PathError{Op: "exec", Path: path, Err: err}
		}
		return nil
	})
}

// Graph renders the topology as Graphviz DOT ("dot") or Mermaid
// ("mermaid"): nodes with loopbacks and SIDs, links with addresses, delay
// and MTU.
func Graph(t *Topology, format string) (string, error) {
	var b strings.Builder
	label := func(n *Node) []string {
		lines := []string{n.Name}
		for _, lo := range n.Loopbacks {
			lines = append(lines, lo.Addr().String())
		}
		if n.Plain {
			lines = append(lines, "(plain IPv6)")
		}
		for _, s := range n.SIDs {
			l := fmt.Sprintf("%s %s", s.Addr, s.Behavior)
			if s.Via != "" {
				l += " → " + s.Via
			}
			lines = append(lines, l)
		}
		return lines
	}
	linkLabel := func(l *Link) string {
		parts := []string{l.AAddr.Masked().String()}
		if l.Delay > 0 {
			parts = append(parts, "delay "+l.Delay.String())
		}
		if l.MTU > 0 {
			parts = append(parts, fmt.Sprintf("mtu %d", l.MTU))
		}
		return strings.Join(parts, ", ")
	}
	switch format {
	case "dot":
		fmt.Fprintf(&b, "graph %q {\n  node [shape=box, fontname=monospace];\n", t.Name)
		for i := range t.Nodes {
			n := &t.Nodes[i]
			style := ""
			if n.Plain {
				style = ", style=dashed"
			}
			fmt.Fprintf(&b, "  %s [label=%q%s];\n", n.Name, strings.Join(label(n), "\n"), style)
		}
		for i := range t.Links {
			l := &t.Links[i]
			fmt.Fprintf(&b, "  %s -- %s [label=%q];\n", l.A, l.B, linkLabel(l))
		}
		b.WriteString("}\n")
	case "mermaid":
		b.WriteString("graph LR\n")
		for i := range t.Nodes {
			n := &t.Nodes[i]
			fmt.Fprintf(&b, "  %s[\"%s\"]\n", n.Name, strings.Join(label(n), "<br/>"))
		}
		for i := range t.Links {
			l := &t.Links[i]
			fmt.Fprintf(&b, "  %s ---|\"%s\"| %s\n", l.A, linkLabel(l), l.B)
		}
	default:
		return "", fmt.Errorf("graph format %q: want dot or mermaid", format)
	}
	return b.String(), nil
}

// HasDelay reports whether any link of t has a delay (and so needs the
// process that built the lab to stay alive).
func (t *Topology) HasDelay() bool {
	for _, l := range t.Links {
		if l.Delay > 0 {
			return true
		}
	}
	return false
}

// readIOAM reads the IOAM sysctls of the calling thread's namespace; a kernel without IOAM
// reads as IOAM off.
func readIOAM(ifs []InterfaceStatus) (id uint32, enabled []string) {
	if b, err := os.ReadFile("/proc/sys/net/ipv6/ioam6_id"); err == nil {
		v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
		id = uint32(v)
	}
	for _, ifc := range ifs {
		if b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + ifc.Name + "/ioam6_enabled"); err == nil && strings.TrimSpace(string(b)) == "1" {
			enabled = append(enabled, ifc.Name)
		}
	}
	return id, enabled
}
