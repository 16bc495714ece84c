package testnet

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Behavior is a seg6local behaviour a SID is bound to.
type Behavior string

// The behaviours a lab can bind.
const (
	End    Behavior = "End"
	EndX   Behavior = "End.X"
	EndDT6 Behavior = "End.DT6"
	EndDX6 Behavior = "End.DX6"
	EndBPF Behavior = "End.BPF"
)

// PolicyMode is how a headend policy adds the segment list.
type PolicyMode string

// Headend modes (RFC 8986 §5, Linux seg6_iptunnel.c): H.Encaps (an outer
// IPv6 header with the whole segment list in an SRH), H.Encaps.Red (the
// first SID in the outer destination only: no SRH for one SID), H.Insert
// (the SRH inserted into the original packet, Linux "inline") and the L2
// forms, which encapsulate Ethernet frames.
const (
	Encap      PolicyMode = "encap"
	EncapRed   PolicyMode = "encap.red"
	Inline     PolicyMode = "inline"
	L2Encap    PolicyMode = "l2encap"
	L2EncapRed PolicyMode = "l2encap.red"
)

// Flavors of End and End.X (RFC 8986 §4.16, RFC 9800). Linux implements
// psp (End) and next-csid (End, End.X); it refuses usp and usd, which a
// topology may still name to find out.
const (
	FlavorPSP      = "psp"
	FlavorUSP      = "usp"
	FlavorUSD      = "usd"
	FlavorNextCSID = "next-csid"
)

// Default NEXT-C-SID lengths (Linux's): a 32-bit locator block and 16-bit
// node-and-function C-SIDs, the uSID form (RFC 9800).
const (
	DefaultLBLen = 32
	DefaultNFLen = 16
)

// MainTable is the Linux main routing table, the default of End.DT6.
const MainTable = 254

// Topology is a lab: nodes and the point-to-point links between them.
type Topology struct {
	// Name names the lab when Up is not given WithName.
	Name  string
	Nodes []Node
	Links []Link
	// File is where the topology was read from; it prefixes errors.
	File string
	// ICMPRateLimitMS is net.ipv6.icmp.ratelimit of every node that does
	// not set its own (Node.ICMPRateLimitMS), in milliseconds. The default
	// 0 means no limit: labs exist to test OAM tools (traceroute sends
	// bursts of probes that each need an ICMPv6 error back), while a new
	// namespace starts with 100 ms and a burst of 6. With 0 the node's ICMP
	// budget (net.ipv4.icmp_msgs_per_sec and icmp_msgs_burst, which also
	// govern ICMPv6) is raised to NoICMPLimitBudget; with a limit the
	// kernel's defaults stay, as on a real router.
	ICMPRateLimitMS int
	// ICMPRateLimitLine is the line of icmp_ratelimit_ms in File (0: none).
	ICMPRateLimitLine int
}

// MaxICMPRateLimitMS is the largest icmp_ratelimit_ms accepted (one hour).
const MaxICMPRateLimitMS = 3600000

// NoICMPLimitBudget is what net.ipv4.icmp_msgs_per_sec and
// net.ipv4.icmp_msgs_burst are set to in a node without ICMP rate limit
// (the kernel multiplies the rate by up to HZ jiffies in 32 bits, so it
// stays far below 2^32/1000).
const NoICMPLimitBudget = 1000000

// ICMPRateLimit is the ICMPv6 rate limit of n in milliseconds: its own
// ICMPRateLimitMS, or the lab's.
func (t *Topology) ICMPRateLimit(n *Node) int {
	if n.ICMPRateLimitMS != nil {
		return *n.ICMPRateLimitMS
	}
	return t.ICMPRateLimitMS
}

// Node is one network namespace.
type Node struct {
	// Name is 1–12 characters [a-z0-9], starting with a letter; it names
	// the namespace and the peers' interfaces ("to-<name>").
	Name string
	// Loopbacks are put on lo; the first one is the source of the node's
	// routes and of its encapsulated packets.
	Loopbacks []netip.Prefix
	// Locator is the node's SRv6 locator; every SID must lie inside it.
	Locator netip.Prefix
	// Plain makes a plain IPv6 router: seg6_enabled=0, no SIDs, no policies.
	Plain    bool
	SIDs     []SID
	Policies []Policy
	HMACKeys []HMACKey
	// Tables stand in for VRFs (a kernel without CONFIG_NET_VRF cannot
	// build End.DT46 with vrftable): see Table.
	Tables []Table
	// RequireHMAC sets seg6_require_hmac=1 on every interface of the node:
	// SRHs without a valid HMAC are dropped.
	RequireHMAC bool
	// ICMPRateLimitMS, when not nil, overrides Topology.ICMPRateLimitMS
	// for this node: net.ipv6.icmp.ratelimit in milliseconds, 0 for no
	// limit. Set it to reproduce a real router's behaviour (Linux's
	// default is 1000 ms, burst 6, per destination).
	ICMPRateLimitMS *int
	// IOAM, when set, turns IOAM on in the node (see IOAM).
	IOAM *IOAM
	// Line is the node's line in File (0 for Go values).
	Line int
}

// SID is a segment identifier bound to a seg6local behaviour.
type SID struct {
	Addr netip.Addr
	// Bits is the prefix length of the SID's route: 128 (the default) for
	// one SID, shorter for a block of them (a NEXT-C-SID node's /48 holds
	// every container whose next C-SID is the node's).
	Bits     int
	Behavior Behavior
	// Flavors of End and End.X: FlavorPSP, FlavorNextCSID (FlavorUSP and
	// FlavorUSD are passed to the kernel, which refuses them today).
	Flavors []string
	// LBLen and NFLen are the NEXT-C-SID locator block and node-function
	// lengths in bits (default DefaultLBLen and DefaultNFLen).
	LBLen, NFLen int
	// Via is the neighbour node an End.X or End.DX6 SID forwards to.
	Via string
	// Table is the routing table End.DT6 looks up (default MainTable).
	Table int
	// Program names the BPF program (supplied with WithProgram) of an
	// End.BPF SID.
	Program string
	Line    int
}

// Policy steers packets for a destination prefix through a segment list.
type Policy struct {
	To       netip.Prefix
	Mode     PolicyMode
	Segments []netip.Addr
	// Table puts the policy in that routing table instead of main (one of
	// the node's Tables: a VPN's headend).
	Table int
	// HMACKeyID, when not 0, adds an HMAC TLV computed with that key of
	// the node (which must be in its HMACKeys).
	HMACKeyID uint32
	Line      int
}

// Table is a routing table standing in for a VRF (an L3VPN site): packets
// that come from its Neighbours are routed by it (ip -6 rule iif … lookup
// ID), and it holds routes to the neighbours' loopbacks, the node's
// policies with this table, and an unreachable default, so that the site
// reaches nothing but what its policies steer. The lab's locators stay
// reachable from it (a rule before the iif rules), so that packets a
// policy encapsulated, or that a host sends to a SID itself, are forwarded.
// End.DT6 with this table decapsulates into it.
type Table struct {
	ID         int
	Neighbours []string
	Line       int
}

// FirstTableID and LastTableID bound the ids a lab's tables may use (the
// kernel's main, local and default tables are 253-255; 0 is unspecified).
const (
	FirstTableID = 1
	LastTableID  = 252
)

// HMACKey is an SRv6 HMAC key (RFC 8754 §2.1.2) known to a node.
type HMACKey struct {
	ID     uint32
	Secret string
	// Algorithm is "sha256" (default) or "sha1".
	Algorithm string
	Line      int
}

// Link is a veth link between nodes A and B.
type Link struct {
	A, B string
	// AAddr and BAddr are the interface addresses; when both are zero
	// link i (1-based) gets fd00:0:0:i::1/64 on A and fd00:0:0:i::2/64 on B.
	AAddr, BAddr netip.Prefix
	// MTU of both ends (default 1500).
	MTU int
	// Delay, when not 0, holds every frame for that long in each direction
	// (see DelayRecord).
	Delay time.Duration
	Line  int
}

// Error is a topology error: where it is and what is wrong.
type Error struct {
	File  string
	Line  int
	Where string // "node r1", "link r1-r2", "node r1: sid fc00:0:2::e"
	Err   error
}

func (e *Error) Error() string {
	pos := ""
	switch {
	case e.File != "" && e.Line > 0:
		pos = fmt.Sprintf("%s:%d: ", e.File, e.Line)
	case e.File != "":
		pos = e.File + ": "
	case e.Line > 0:
		pos = fmt.Sprintf("line %d: ", e.Line)
	}
	if e.Where != "" {
		return pos + e.Where + ": " + e.Err.Error()
	}
	return pos + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrInvalid is wrapped by every topology validation error.
var ErrInvalid = errors.New("invalid topology")

func (t *Topology) errorf(line int, where, format string, args ...any) error {
	return &Error{File: t.File, Line: line, Where: where, Err: fmt.Errorf(format+": %w", append(args, ErrInvalid)...)}
}

// Node returns the node called name, or nil.
func (t *Topology) Node(name string) *Node {
	for i := range t.Nodes {
		if t.Nodes[i].Name == name {
			return &t.Nodes[i]
		}
	}
	return nil
}

// LinkName is how links are called in errors and records: "a-b".
func (l Link) LinkName() string { return l.A + "-" + l.B }

func validName(s string) bool {
	if len(s) == 0 || len(s) > 12 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// autoLinkAddrs is the default addressing of link i (0-based).
func autoLinkAddrs(i int) (a, b netip.Prefix) {
	var x [16]byte
	x[0], x[1] = 0xfd, 0x00
	x[6], x[7] = byte((i+1)>>8), byte(i+1)
	x[15] = 1
	a = netip.PrefixFrom(netip.AddrFrom16(x), 64)
	x[15] = 2
	b = netip.PrefixFrom(netip.AddrFrom16(x), 64)
	return a, b
}

// Validate checks the topology and fills in defaults (link addresses,
// policy mode, End.DT6 table, HMAC algorithm). Errors are *Error values
// wrapping ErrInvalid.
func (t *Topology) Validate() error {
	if len(t.Nodes) == 0 {
		return t.errorf(0, "", "no nodes")
	}
	addrs := map[netip.Addr]string{} // every address, to find duplicates
	claim := func(a netip.Addr, line int, where, owner string) error {
		if prev, ok := addrs[a]; ok {
			return t.errorf(line, where, "duplicate address %s (already used by %s)", a, prev)
		}
		addrs[a] = owner
		return nil
	}
	if t.ICMPRateLimitMS < 0 || t.ICMPRateLimitMS > MaxICMPRateLimitMS {
		return t.errorf(t.ICMPRateLimitLine, "", "icmp_ratelimit_ms %d out of range 0-%d (0: no limit)", t.ICMPRateLimitMS, MaxICMPRateLimitMS)
	}
	names := map[string]bool{}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		where := "node " + n.Name
		if r := n.ICMPRateLimitMS; r != nil && (*r < 0 || *r > MaxICMPRateLimitMS) {
			return t.errorf(n.Line, where, "icmp_ratelimit_ms %d out of range 0-%d (0: no limit)", *r, MaxICMPRateLimitMS)
		}
		if !validName(n.Name) {
			return t.errorf(n.Line, where, "bad node name %q: want 1-12 characters [a-z0-9] starting with a letter", n.Name)
		}
		if names[n.Name] {
			return t.errorf(n.Line, where, "duplicate node name")
		}
		names[n.Name] = true
		if len(n.Loopbacks) == 0 {
			return t.errorf(n.Line, where, "no loopback address")
		}
		for _, lo := range n.Loopbacks {
			if !lo.IsValid() || !lo.Addr().Is6() || lo.Addr().Is4In6() {
				return t.errorf(n.Line, where, "loopback %s is not an IPv6 prefix", lo)
			}
			if err := claim(lo.Addr(), n.Line, where, where+" loopback"); err != nil {
				return err
			}
			// A loopback prefix is local to its node (the kernel adds it to lo): a node whose
			// prefix covers another node's addresses takes them for its own, and the two
			// cannot reach each other.
			for j := 0; j < i; j++ {
				for _, o := range t.Nodes[j].Loopbacks {
					if o.Overlaps(lo) {
						return t.errorf(n.Line, where, "loopback %s overlaps loopback %s of node %s: each would take the other's addresses for its own", lo, o, t.Nodes[j].Name)
					}
				}
			}
		}
		if n.Plain {
			if len(n.SIDs) > 0 || len(n.Policies) > 0 || len(n.HMACKeys) > 0 || n.RequireHMAC || n.Locator.IsValid() || len(n.Tables) > 0 {
				return t.errorf(n.Line, where, "plain IPv6 node (srv6: false) cannot have a locator, SIDs, policies, tables or HMAC")
			}
			continue
		}
		if n.Locator.IsValid() {
			if !n.Locator.Addr().Is6() || n.Locator.Addr().Is4In6() || n.Locator.Bits() > 128 {
				return t.errorf(n.Line, where, "locator %s is not an IPv6 prefix", n.Locator)
			}
			if n.Locator.Masked() != n.Locator {
				return t.errorf(n.Line, where, "locator %s has host bits set (want %s)", n.Locator, n.Locator.Masked())
			}
			for j := 0; j < i; j++ {
				o := t.Nodes[j].Locator
				if o.IsValid() && o.Overlaps(n.Locator) {
					return t.errorf(n.Line, where, "locator %s overlaps locator %s of node %s", n.Locator, o, t.Nodes[j].Name)
				}
			}
		}
		keys := map[uint32]bool{}
		for k := range n.HMACKeys {
			key := &n.HMACKeys[k]
			kw := fmt.Sprintf("%s: hmac key %d", where, key.ID)
			if key.ID == 0 {
				return t.errorf(key.Line, kw, "key id 0 is reserved")
			}
			if keys[key.ID] {
				return t.errorf(key.Line, kw, "duplicate key id")
			}
			keys[key.ID] = true
			if l := len(key.Secret); l == 0 || l > 64 {
				return t.errorf(key.Line, kw, "secret must be 1-64 bytes, got %d", l)
			}
			switch key.Algorithm {
			case "":
				key.Algorithm = "sha256"
			case "sha256", "sha1":
			default:
				return t.errorf(key.Line, kw, "unknown algorithm %q (want sha256 or sha1)", key.Algorithm)
			}
		}
		tables := map[int]bool{}
		for k := range n.Tables {
			tb := &n.Tables[k]
			tw := fmt.Sprintf("%s: table %d", where, tb.ID)
			if tb.ID < FirstTableID || tb.ID > LastTableID {
				return t.errorf(tb.Line, tw, "id out of range %d-%d", FirstTableID, LastTableID)
			}
			if tables[tb.ID] {
				return t.errorf(tb.Line, tw, "duplicate table")
			}
			tables[tb.ID] = true
			if len(tb.Neighbours) == 0 {
				return t.errorf(tb.Line, tw, "no neighbours (the nodes whose packets the table routes)")
			}
		}
		for s := range n.SIDs {
			sid := &n.SIDs[s]
			sw := fmt.Sprintf("%s: sid %s", where, sid.Addr)
			if sid.Bits != 0 && sid.Bits != 128 {
				sw = fmt.Sprintf("%s: sid %s/%d", where, sid.Addr, sid.Bits)
			}
			if !sid.Addr.IsValid() || !sid.Addr.Is6() || sid.Addr.Is4In6() {
				return t.errorf(sid.Line, sw, "not an IPv6 address")
			}
			if sid.Bits == 0 {
				sid.Bits = 128
			}
			if sid.Bits < 1 || sid.Bits > 128 {
				return t.errorf(sid.Line, sw, "prefix length %d out of range 1-128", sid.Bits)
			}
			if pr := netip.PrefixFrom(sid.Addr, sid.Bits); pr.Masked() != pr {
				return t.errorf(sid.Line, sw, "SID %s has host bits set (want %s)", pr, pr.Masked())
			}
			if !n.Locator.IsValid() {
				return t.errorf(sid.Line, sw, "node has SIDs but no locator")
			}
			if !n.Locator.Contains(sid.Addr) || sid.Bits < n.Locator.Bits() {
				return t.errorf(sid.Line, sw, "SID outside its locator %s", n.Locator)
			}
			if err := claim(sid.Addr, sid.Line, sw, where+" SID"); err != nil {
				return err
			}
			switch sid.Behavior {
			case End, EndDT6, EndBPF:
				if sid.Via != "" {
					return t.errorf(sid.Line, sw, "%s takes no via", sid.Behavior)
				}
			case EndX, EndDX6:
				if sid.Via == "" {
					return t.errorf(sid.Line, sw, "%s needs via: <neighbour node>", sid.Behavior)
				}
			default:
				return t.errorf(sid.Line, sw, "unknown behaviour %q (want End, End.X, End.DT6, End.DX6 or End.BPF)", sid.Behavior)
			}
			if sid.Behavior == EndDT6 && sid.Table == 0 {
				sid.Table = MainTable
			}
			if sid.Behavior != EndDT6 && sid.Table != 0 {
				return t.errorf(sid.Line, sw, "table is only for End.DT6")
			}
			if sid.Behavior == EndDT6 && sid.Table != MainTable && !tables[sid.Table] {
				return t.errorf(sid.Line, sw, "table %d is not one of the node's tables", sid.Table)
			}
			if (sid.Behavior == EndBPF) != (sid.Program != "") {
				return t.errorf(sid.Line, sw, "program is required for End.BPF and only for it")
			}
			if err := t.validateFlavors(sid, sw); err != nil {
				return err
			}
		}
		for p := range n.Policies {
			pol := &n.Policies[p]
			pw := fmt.Sprintf("%s: policy to %s", where, pol.To)
			if !pol.To.IsValid() || !pol.To.Addr().Is6() || pol.To.Addr().Is4In6() {
				return t.errorf(pol.Line, pw, "to: not an IPv6 prefix")
			}
			if pol.To.Masked() != pol.To {
				return t.errorf(pol.Line, pw, "to: host bits set (want %s)", pol.To.Masked())
			}
			switch pol.Mode {
			case "":
				pol.Mode = Encap
			case Encap, EncapRed, Inline, L2Encap, L2EncapRed:
			default:
				return t.errorf(pol.Line, pw, "unknown mode %q (want encap, encap.red, inline, l2encap or l2encap.red)", pol.Mode)
			}
			if pol.Table != 0 && !tables[pol.Table] {
				return t.errorf(pol.Line, pw, "table %d is not one of the node's tables", pol.Table)
			}
			if len(pol.Segments) == 0 {
				return t.errorf(pol.Line, pw, "no segments")
			}
			if len(pol.Segments) > 64 {
				return t.errorf(pol.Line, pw, "%d segments, at most 64", len(pol.Segments))
			}
			for _, s := range pol.Segments {
				if !s.IsValid() || !s.Is6() || s.Is4In6() {
					return t.errorf(pol.Line, pw, "segment %s is not an IPv6 address", s)
				}
			}
			if pol.HMACKeyID != 0 && !keys[pol.HMACKeyID] {
				return t.errorf(pol.Line, pw, "hmac key %d is not a key of the node", pol.HMACKeyID)
			}
		}
	}

	pairs := map[[2]string]bool{}
	neighbours := map[[2]string]bool{}
	for i := range t.Links {
		l := &t.Links[i]
		where := "link " + l.LinkName()
		for _, end := range []string{l.A, l.B} {
			if !names[end] {
				return t.errorf(l.Line, where, "unknown node %q", end)
			}
		}
		if l.A == l.B {
			return t.errorf(l.Line, where, "link from a node to itself")
		}
		key := [2]string{min(l.A, l.B), max(l.A, l.B)}
		if pairs[key] {
			return t.errorf(l.Line, where, "duplicate link (one link per pair of nodes)")
		}
		pairs[key] = true
		neighbours[[2]string{l.A, l.B}] = true
		neighbours[[2]string{l.B, l.A}] = true
		if l.AAddr.IsValid() != l.BAddr.IsValid() {
			return t.errorf(l.Line, where, "give both a_addr and b_addr or neither")
		}
		if !l.AAddr.IsValid() {
			l.AAddr, l.BAddr = autoLinkAddrs(i)
		}
		for _, p := range []netip.Prefix{l.AAddr, l.BAddr} {
			if !p.Addr().Is6() || p.Addr().Is4In6() {
				return t.errorf(l.Line, where, "address %s is not IPv6", p)
			}
		}
		if l.AAddr.Masked() != l.BAddr.Masked() {
			return t.errorf(l.Line, where, "addresses %s and %s are not in the same subnet", l.AAddr, l.BAddr)
		}
		if err := claim(l.AAddr.Addr(), l.Line, where, where+" "+l.A); err != nil {
			return err
		}
		if err := claim(l.BAddr.Addr(), l.Line, where, where+" "+l.B); err != nil {
			return err
		}
		if l.MTU != 0 && (l.MTU < 1280 || l.MTU > 65535) {
			return t.errorf(l.Line, where, "mtu %d out of range 1280-65535 (IPv6 minimum is 1280)", l.MTU)
		}
		if l.Delay < 0 || l.Delay > 10*time.Second {
			return t.errorf(l.Line, where, "delay %s out of range 0-10s", l.Delay)
		}
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		for _, sid := range n.SIDs {
			if sid.Via != "" && !neighbours[[2]string{n.Name, sid.Via}] {
				return t.errorf(sid.Line, fmt.Sprintf("node %s: sid %s", n.Name, sid.Addr), "via %q is not a neighbour", sid.Via)
			}
		}
		for _, tb := range n.Tables {
			for _, nb := range tb.Neighbours {
				if !neighbours[[2]string{n.Name, nb}] {
					return t.errorf(tb.Line, fmt.Sprintf("node %s: table %d", n.Name, tb.ID), "neighbour %q is not a neighbour", nb)
				}
			}
		}
	}
	return t.validateIOAM(neighbours)
}

// validateFlavors checks a SID's flavors and NEXT-C-SID lengths by the
// kernel's own rules (seg6_local.c: psp for End; next-csid for End and
// End.X; each length a multiple of 8, 8 to 120 bits, together at most 128).
func (t *Topology) validateFlavors(sid *SID, sw string) error {
	csid := false
	seen := map[string]bool{}
	for _, f := range sid.Flavors {
		if seen[f] {
			return t.errorf(sid.Line, sw, "flavor %s given twice", f)
		}
		seen[f] = true
		switch f {
		case FlavorNextCSID:
			csid = true
			if sid.Behavior != End && sid.Behavior != EndX {
				return t.errorf(sid.Line, sw, "flavor next-csid is for End and End.X, not %s", sid.Behavior)
			}
		case FlavorPSP, FlavorUSP, FlavorUSD:
			if sid.Behavior != End && sid.Behavior != EndX {
				return t.errorf(sid.Line, sw, "flavor %s is for End and End.X, not %s", f, sid.Behavior)
			}
		default:
			return t.errorf(sid.Line, sw, "unknown flavor %q (want psp, usp, usd or next-csid)", f)
		}
	}
	if !csid {
		if sid.LBLen != 0 || sid.NFLen != 0 {
			return t.errorf(sid.Line, sw, "lblen and nflen are for the next-csid flavor")
		}
		return nil
	}
	if sid.LBLen == 0 {
		sid.LBLen = DefaultLBLen
	}
	if sid.NFLen == 0 {
		sid.NFLen = DefaultNFLen
	}
	for _, l := range []struct {
		name string
		v    int
	}{{"lblen", sid.LBLen}, {"nflen", sid.NFLen}} {
		if l.v < 8 || l.v > 120 || l.v%8 != 0 {
			return t.errorf(sid.Line, sw, "%s %d: want a multiple of 8 from 8 to 120 bits", l.name, l.v)
		}
	}
	if sid.LBLen+sid.NFLen > 128 {
		return t.errorf(sid.Line, sw, "lblen %d + nflen %d: more than 128 bits", sid.LBLen, sid.NFLen)
	}
	return nil
}
