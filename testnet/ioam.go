package testnet

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"
)

// IOAM turns Linux's IOAM (RFC 9197 Pre-allocated Trace in IPv6 Hop-by-Hop, net/ipv6/ioam6.c)
// on in a node as an operator does: the node's ids (net.ipv6.ioam6_id, ioam6_id_wide), the
// namespaces it knows (ip ioam namespace add), each interface's ids (net.ipv6.conf.IF.ioam6_id,
// ioam6_id_wide) and ioam6_enabled on the interfaces whose ingress traffic it fills traces
// of. Linux fills an entry for a packet that arrives on an enabled interface with a trace of
// a namespace the node knows.
type IOAM struct {
	// NodeID is the node's short id (24 bits), NodeIDWide its wide one (56 bits); default the
	// node's number in the topology (1 for the first node).
	NodeID     uint32
	NodeIDWide uint64
	// Namespaces the node knows; default namespace 0 only (RFC 9197's default namespace).
	Namespaces []IOAMNamespace
	// Interfaces gives the interface towards a peer its id (short 16 bits and wide 32 bits
	// alike); an interface not listed gets the number of its link (1 for the first link).
	Interfaces map[string]uint32
	// Disabled lists the peers whose interface does not fill traces of what it receives
	// (ioam6_enabled stays 0); every other interface of the node has it on.
	Disabled []string
	Line     int
}

// IOAMNamespace is an IOAM namespace a node knows, with the data it writes in the namespace
// data fields (nil: Linux's default, all ones, "unavailable").
type IOAMNamespace struct {
	ID       uint16
	Data     *uint32
	DataWide *uint64
	Line     int
}

// MaxIOAMNodeID is the largest short node id (24 bits); MaxIOAMNodeIDWide the largest wide.
const (
	MaxIOAMNodeID     = 1<<24 - 1
	MaxIOAMNodeIDWide = 1<<56 - 1
)

func (p *parser) ioam(v *yaml.Node, where string, n *Node) error {
	io := &IOAM{Line: v.Line}
	if v.Kind == yaml.ScalarNode && (v.Value == "true" || v.Value == "on") {
		n.IOAM = io
		return nil
	}
	where += ": ioam"
	err := p.mapping(v, where, map[string]func(*yaml.Node) error{
		"id": func(v *yaml.Node) error {
			return p.integer(v, where, "id", 24, func(x uint64) { io.NodeID = uint32(x) })
		},
		"id_wide": func(v *yaml.Node) error {
			return p.integer(v, where, "id_wide", 56, func(x uint64) { io.NodeIDWide = x })
		},
		"namespaces": func(v *yaml.Node) error {
			return p.seq(v, where, "namespaces", func(e *yaml.Node) error {
				ns := IOAMNamespace{Line: e.Line}
				defer func() { io.Namespaces = append(io.Namespaces, ns) }()
				if e.Kind == yaml.ScalarNode {
					return p.integer(e, where, "namespaces", 16, func(x uint64) { ns.ID = uint16(x) })
				}
				return p.mapping(e, where+": namespace", map[string]func(*yaml.Node) error{
					"id": func(v *yaml.Node) error {
						return p.integer(v, where, "id", 16, func(x uint64) { ns.ID = uint16(x) })
					},
					"data": func(v *yaml.Node) error {
						return p.integer(v, where, "data", 32, func(x uint64) { d := uint32(x); ns.Data = &d })
					},
					"data_wide": func(v *yaml.Node) error {
						return p.integer(v, where, "data_wide", 64, func(x uint64) { ns.DataWide = &x })
					},
				})
			})
		},
		"interfaces": func(v *yaml.Node) error {
			if v.Kind != yaml.MappingNode {
				return p.t.errorf(v.Line, where, "interfaces: expected a mapping of peer node to interface id")
			}
			io.Interfaces = map[string]uint32{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				peer := v.Content[i].Value
				if err := p.integer(v.Content[i+1], where, "interfaces: "+peer, 16, func(x uint64) { io.Interfaces[peer] = uint32(x) }); err != nil {
					return err
				}
			}
			return nil
		},
		"disabled": func(v *yaml.Node) error {
			return p.seq(v, where, "disabled", func(e *yaml.Node) error {
				peer, err := p.scalar(e, where, "disabled")
				io.Disabled = append(io.Disabled, peer)
				return err
			})
		},
	})
	n.IOAM = io
	return err
}

// validateIOAM checks the IOAM settings of every node once links are known, and fills the
// defaults (ids from the topology's numbering, namespace 0).
func (t *Topology) validateIOAM(neighbours map[[2]string]bool) error {
	for i := range t.Nodes {
		n := &t.Nodes[i]
		io := n.IOAM
		if io == nil {
			continue
		}
		where := "node " + n.Name + ": ioam"
		if io.NodeID == 0 {
			io.NodeID = uint32(i + 1)
		}
		if io.NodeIDWide == 0 {
			io.NodeIDWide = uint64(io.NodeID)
		}
		if len(io.Namespaces) == 0 {
			io.Namespaces = []IOAMNamespace{{ID: 0, Line: io.Line}}
		}
		seen := map[uint16]bool{}
		for _, ns := range io.Namespaces {
			if seen[ns.ID] {
				return t.errorf(ns.Line, where, "namespace %d listed twice", ns.ID)
			}
			seen[ns.ID] = true
		}
		for peer := range io.Interfaces {
			if !neighbours[[2]string{n.Name, peer}] {
				return t.errorf(io.Line, where, "interfaces: %q is not a neighbour", peer)
			}
		}
		for _, peer := range io.Disabled {
			if !neighbours[[2]string{n.Name, peer}] {
				return t.errorf(io.Line, where, "disabled: %q is not a neighbour", peer)
			}
		}
	}
	return nil
}

// IOAMInterfaceID is the IOAM id of node n's interface towards peer: the one its IOAM settings
// give, else the number of their link (1-based); 0 when they are not linked.
func (t *Topology) IOAMInterfaceID(n *Node, peer string) uint32 {
	if n.IOAM != nil {
		if id, ok := n.IOAM.Interfaces[peer]; ok {
			return id
		}
	}
	for i, l := range t.Links {
		if (l.A == n.Name && l.B == peer) || (l.B == n.Name && l.A == peer) {
			return uint32(i + 1)
		}
	}
	return 0
}

// IOAM generic netlink (include/uapi/linux/ioam6_genl.h).
const (
	ioam6GenlName          = "IOAM6"
	ioam6GenlVersion       = 1
	ioam6CmdAddNamespace   = 1
	ioam6AttrNamespaceID   = 1 // u16
	ioam6AttrNamespaceData = 2 // u32
	ioam6AttrNamespaceWide = 3 // u64
	ioam6Enabled           = "ioam6_enabled"
)

// ioam configures IOAM in a node whose links are up: sysctls, then namespaces through the
// IOAM6 generic netlink family (what ip ioam namespace add sends). All of it lives in the
// node's namespace and goes with it.
func (b *builder) ioam(ln *labNode) error {
	io := ln.node.IOAM
	if io == nil {
		return nil
	}
	disabled := map[string]bool{}
	for _, p := range io.Disabled {
		disabled[p] = true
	}
	kv := []string{
		"ipv6/ioam6_id", strconv.FormatUint(uint64(io.NodeID), 10),
		"ipv6/ioam6_id_wide", strconv.FormatUint(io.NodeIDWide, 10),
	}
	peers := make([]string, 0, len(ln.ifaces))
	for peer := range ln.ifaces {
		peers = append(peers, peer)
	}
	sort.Strings(peers)
	for _, peer := range peers {
		ifc := ln.ifaces[peer]
		id := strconv.FormatUint(uint64(b.lab.topo.IOAMInterfaceID(ln.node, peer)), 10)
		enabled := "1"
		if disabled[peer] {
			enabled = "0"
		}
		kv = append(kv, "ipv6/conf/"+ifc.Name+"/ioam6_id", id, "ipv6/conf/"+ifc.Name+"/ioam6_id_wide", id,
			"ipv6/conf/"+ifc.Name+"/"+ioam6Enabled, enabled)
	}
	return execIn(ln.ns, func() error {
		if err := writeSysctls(kv...); err != nil {
			return fmt.Errorf("ioam: %w", err)
		}
		fam, err := netlink.GenlFamilyGet(ioam6GenlName)
		if err != nil {
			return fmt.Errorf("ioam: generic netlink family %s: %w (a kernel without IPv6 IOAM)", ioam6GenlName, err)
		}
		for _, ns := range io.Namespaces {
			req := nl.NewNetlinkRequest(int(fam.ID), unix.NLM_F_ACK)
			req.AddData(&nl.Genlmsg{Command: ioam6CmdAddNamespace, Version: ioam6GenlVersion})
			req.AddData(nl.NewRtAttr(ioam6AttrNamespaceID, nl.Uint16Attr(ns.ID)))
			if ns.Data != nil {
				req.AddData(nl.NewRtAttr(ioam6AttrNamespaceData, nl.Uint32Attr(*ns.Data)))
			}
			if ns.DataWide != nil {
				req.AddData(nl.NewRtAttr(ioam6AttrNamespaceWide, nl.Uint64Attr(*ns.DataWide)))
			}
			if _, err := req.Execute(unix.NETLINK_GENERIC, 0); err != nil {
				return fmt.Errorf("ioam: add namespace %d: %w", ns.ID, err)
			}
		}
		return nil
	})
}
