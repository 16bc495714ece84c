package testnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NamespacePrefix starts the name of every namespace a lab creates:
// "s6t-<lab>-<node>", and "s6t-<lab>-_relay" for the middle of delay links.
const NamespacePrefix = "s6t-"

const (
	netnsDir    = "/run/netns"
	relayNode   = "_relay"
	defaultRing = 16384
)

// ErrNotPermitted is wrapped when the caller lacks the privileges a lab needs.
var ErrNotPermitted = errors.New("building a lab needs root (CAP_SYS_ADMIN to create and mount network namespaces, CAP_NET_ADMIN to configure them)")

// Option configures Up.
type Option func(*options)

type options struct {
	name      string
	programs  map[string]int
	hook      func(step string) error
	recordCap int
	spin      time.Duration
}

// WithName names the lab (default: the topology's name). Lab names are
// 1-40 characters [a-z0-9-], starting with a letter or digit.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithProgram supplies the BPF program (an fd of a loaded lwt_seg6local
// program) that End.BPF SIDs with "program: name" bind. The caller keeps
// the fd open until Up returns; the kernel holds its own reference after.
func WithProgram(name string, fd int) Option {
	return func(o *options) {
		if o.programs == nil {
			o.programs = map[string]int{}
		}
		o.programs[name] = fd
	}
}

// WithStepHook calls fn before every build step ("namespace h1",
// "link r1-r2", "routes r1", ...); an error from fn aborts Up as a failure
// there would. Tests use it to inject a failure halfway.
func WithStepHook(fn func(step string) error) Option { return func(o *options) { o.hook = fn } }

// WithDelayRecords sets how many per-frame records each direction of a
// delay link keeps (default 16384; the oldest are overwritten).
func WithDelayRecords(n int) Option { return func(o *options) { o.recordCap = n } }

// WithDelaySpin sets how long before each frame's deadline the delay relay
// stops sleeping and spins (default DefaultDelaySpin). Longer absorbs later
// wake-ups on a loaded machine at the price of CPU: the relay spins for up
// to this long per frame.
func WithDelaySpin(d time.Duration) Option { return func(o *options) { o.spin = d } }

// Lab is a running topology. Its methods are safe for concurrent use.
type Lab struct {
	name  string
	topo  *Topology
	nodes map[string]*labNode
	order []string // node names in topology order

	relayNS netns.NsHandle // -1 when the lab has no delay link
	relayH  *netlink.Handle
	created []string // namespace names, in creation order

	relays []*delayLink
	relay  *relayProc

	mu     sync.Mutex
	cmds   []*exec.Cmd
	closed bool
}

type labNode struct {
	node   *Node
	nsName string
	ns     netns.NsHandle
	h      *netlink.Handle
	ifaces map[string]*Interface // by peer node name
	anyIf  int                   // an interface index to hang SID and policy routes on
}

// Interface is one end of a link inside a node.
type Interface struct {
	Name     string // "to-<peer>"
	Index    int
	Addr     netip.Prefix
	Peer     string     // peer node
	PeerAddr netip.Addr // the peer's address on this link (a static neighbour)
	Link     *Link
	// HardwareAddr is this end's MAC address.
	HardwareAddr net.HardwareAddr
}

// Name is the lab's name.
func (l *Lab) Name() string { return l.name }

// Topology is the validated topology the lab was built from.
func (l *Lab) Topology() *Topology { return l.topo }

// NamespaceName is the name of node's namespace ("s6t-<lab>-<node>").
func (l *Lab) NamespaceName(node string) string { return nsName(l.name, node) }

// NamespacePath is the bind mount of node's namespace under /run/netns.
func (l *Lab) NamespacePath(node string) string { return filepath.Join(netnsDir, nsName(l.name, node)) }

// Interface returns node's interface towards peer.
func (l *Lab) Interface(node, peer string) (Interface, error) {
	n, err := l.node(node)
	if err != nil {
		return Interface{}, err
	}
	ifc, ok := n.ifaces[peer]
	if !ok {
		return Interface{}, fmt.Errorf("lab %s: node %s has no link to %s", l.name, node, peer)
	}
	return *ifc, nil
}

// Interfaces lists node's link interfaces, sorted by name.
func (l *Lab) Interfaces(node string) ([]Interface, error) {
	n, err := l.node(node)
	if err != nil {
		return nil, err
	}
	out := make([]Interface, 0, len(n.ifaces))
	for _, ifc := range n.ifaces {
		out = append(out, *ifc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Loopback is node's first loopback address.
func (l *Lab) Loopback(node string) (netip.Addr, error) {
	n, err := l.node(node)
	if err != nil {
		return netip.Addr{}, err
	}
	return n.node.Loopbacks[0].Addr(), nil
}

// Handle is a netlink handle inside node's namespace, owned by the lab
// (do not close it).
func (l *Lab) Handle(node string) (*netlink.Handle, error) {
	n, err := l.node(node)
	if err != nil {
		return nil, err
	}
	return n.h, nil
}

func (l *Lab) node(name string) (*labNode, error) {
	n, ok := l.nodes[name]
	if !ok {
		return nil, fmt.Errorf("lab %s: no node %q", l.name, name)
	}
	return n, nil
}

func nsName(lab, node string) string { return NamespacePrefix + lab + "-" + node }

func validLabName(s string) bool {
	if len(s) == 0 || len(s) > 40 || s[0] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// Up builds topo. On error everything created so far is removed. The lab
// must be closed with Close. ctx bounds the build only.
func Up(ctx context.Context, topo *Topology, opts ...Option) (*Lab, error) {
	o := options{recordCap: defaultRing, spin: DefaultDelaySpin}
	for _, opt := range opts {
		opt(&o)
	}
	if err := topo.Validate(); err != nil {
		return nil, err
	}
	name := o.name
	if name == "" {
		name = topo.Name
	}
	if !validLabName(name) {
		return nil, fmt.Errorf("lab name %q: want 1-40 characters [a-z0-9-], not starting with '-'", name)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("lab %s: %w; run as root", name, ErrNotPermitted)
	}
	if existing, _ := labNamespaces(name); len(existing) > 0 {
		return nil, fmt.Errorf("lab %s already exists (%d namespaces %s%s-*); remove it with `srv6-testnet down %s`",
			name, len(existing), NamespacePrefix, name, name)
	}
	for i := range topo.Nodes {
		for _, sid := range topo.Nodes[i].SIDs {
			if sid.Behavior == EndBPF {
				if _, ok := o.programs[sid.Program]; !ok {
					return nil, fmt.Errorf("node %s: sid %s: End.BPF program %q not supplied (use testnet.WithProgram)",
						topo.Nodes[i].Name, sid.Addr, sid.Program)
				}
			}
		}
	}

	lab := &Lab{name: name, topo: topo, nodes: map[string]*labNode{}, relayNS: -1}
	b := builder{lab: lab, o: &o, ctx: ctx}
	if err := b.build(); err != nil {
		err = fmt.Errorf("lab %s: %w", name, err)
		if cerr := lab.Close(); cerr != nil {
			err = fmt.Errorf("%w (and cleaning up: %v)", err, cerr)
		}
		return nil, err
	}
	return lab, nil
}

type builder struct {
	lab  *Lab
	o    *options
	ctx  context.Context
	dist map[string]map[string]int
}

func (b *builder) step(format string, args ...any) error {
	if err := b.ctx.Err(); err != nil {
		return fmt.Errorf("build cancelled: %w", err)
	}
	if b.o.hook != nil {
		s := fmt.Sprintf(format, args...)
		if err := b.o.hook(s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

func (b *builder) build() error {
	l := b.lab
	t := l.topo
	for i := range t.Nodes {
		n := &t.Nodes[i]
		if err := b.step("namespace %s", n.Name); err != nil {
			return err
		}
		ns, err := l.newNamespace(nsName(l.name, n.Name))
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		ln := &labNode{node: n, nsName: nsName(l.name, n.Name), ns: ns, ifaces: map[string]*Interface{}}
		l.nodes[n.Name] = ln
		l.order = append(l.order, n.Name)
		if ln.h, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE); err != nil {
			return fmt.Errorf("node %s: netlink handle: %w", n.Name, err)
		}
		if err := b.nodeBase(ln); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	for i := range t.Links {
		lk := &t.Links[i]
		if err := b.step("link %s", lk.LinkName()); err != nil {
			return err
		}
		if err := b.link(i, lk); err != nil {
			return fmt.Errorf("link %s: %w", lk.LinkName(), err)
		}
	}
	for _, name := range l.order {
		ln := l.nodes[name]
		if ln.node.IOAM == nil {
			continue
		}
		if err := b.step("ioam %s", name); err != nil {
			return err
		}
		if err := b.ioam(ln); err != nil {
			return fmt.Errorf("node %s: %w", name, err)
		}
	}
	for _, name := range l.order {
		ln := l.nodes[name]
		if err := b.step("routes %s", name); err != nil {
			return err
		}
		if err := b.routes(ln); err != nil {
			return fmt.Errorf("node %s: routes: %w", name, err)
		}
		if err := b.step("srv6 %s", name); err != nil {
			return err
		}
		if err := b.srv6(ln); err != nil {
			return fmt.Errorf("node %s: %w", name, err)
		}
	}
	if len(l.relays) > 0 {
		if err := b.step("delay relays"); err != nil {
			return err
		}
		rp, err := startRelayProc(l.relays, b.o.recordCap, b.o.spin)
		if err != nil {
			return err
		}
		l.relay = rp
	}
	return nil
}

// newNamespace creates and mounts a named namespace and records it for
// Close before anything else can fail.
func (l *Lab) newNamespace(name string) (netns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return -1, fmt.Errorf("get current namespace: %w", err)
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name)
	// NewNamed leaves this thread in the new namespace (or, failing
	// halfway, maybe in an unnamed one): always go back.
	if serr := netns.Set(orig); serr != nil {
		// The thread is in the wrong namespace; keep it locked so the
		// runtime throws it away instead of reusing it.
		runtime.LockOSThread()
		return -1, fmt.Errorf("restore namespace: %w", serr)
	}
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, os.ErrPermission) {
			return -1, fmt.Errorf("create namespace %s: %w: %w", name, err, ErrNotPermitted)
		}
		return -1, fmt.Errorf("create namespace %s: %w", name, err)
	}
	l.created = append(l.created, name)
	return ns, nil
}

// Exec runs fn on an OS thread switched into node's namespace and switches
// back afterwards. fn must not start goroutines that expect to be in the
// namespace: only the calling thread is.
func (l *Lab) Exec(node string, fn func() error) error {
	n, err := l.node(node)
	if err != nil {
		return err
	}
	return execIn(n.ns, fn)
}

// InNamespace runs fn on a thread switched into ns, as Lab.Exec does for a node (for
// namespaces a test makes itself).
func InNamespace(ns netns.NsHandle, fn func() error) error { return execIn(ns, fn) }

func execIn(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter namespace: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: the runtime kills it when this
		// goroutine exits rather than run others in the wrong namespace.
		return errors.Join(ferr, fmt.Errorf("restore namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// Start starts cmd inside node's namespace (the child is forked from a
// thread in that namespace, so it and its children live there). The lab
// kills it on Close if it is still running; the caller should Wait for it.
func (l *Lab) Start(node string, cmd *exec.Cmd) error {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return fmt.Errorf("lab %s is closed", l.name)
	}
	if err := l.Exec(node, cmd.Start); err != nil {
		return fmt.Errorf("node %s: start %s: %w", node, cmd.Path, err)
	}
	l.mu.Lock()
	l.cmds = append(l.cmds, cmd)
	l.mu.Unlock()
	return nil
}

// Run starts cmd in node's namespace and waits for it.
func (l *Lab) Run(node string, cmd *exec.Cmd) error {
	if err := l.Start(node, cmd); err != nil {
		return err
	}
	return cmd.Wait()
}

// Output runs a program in node's namespace and returns its standard
// output; on failure the error includes standard error.
func (l *Lab) Output(ctx context.Context, node, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	var stdout strings.Builder
	cmd.Stdout = &stdout
	err := l.Run(node, cmd)
	if err != nil {
		return []byte(stdout.String()), fmt.Errorf("node %s: %s %s: %w: %s", node, name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return []byte(stdout.String()), nil
}

// Close stops the delay relays, kills programs started with Start that
// still run, stops any other process in the lab's namespaces (SIGTERM, then
// SIGKILL after StopGrace), and deletes every namespace the lab created
// (which deletes their links, routes and SIDs). It is safe to call more than
// once.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	cmds := l.cmds
	l.mu.Unlock()

	var errs []error
	if l.relay != nil {
		if err := l.relay.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range l.relays {
		r.close()
	}
	for _, cmd := range cmds {
		if cmd.Process != nil && cmd.ProcessState == nil {
			_ = cmd.Process.Kill() // it may have exited already: that is fine
		}
	}
	// Processes that entered the namespaces otherwise (srv6-testnet exec while `up` runs in
	// the foreground) would keep them, and what they added, alive after the names are gone.
	inodes := map[uint64]bool{}
	for _, h := range l.handles() {
		var st unix.Stat_t
		if unix.Fstat(int(h), &st) == nil {
			inodes[st.Ino] = true
		}
	}
	stopProcessesIn(inodes, StopGrace)
	for _, n := range l.nodes {
		if n.h != nil {
			n.h.Close()
		}
		_ = n.ns.Close()
	}
	if l.relayH != nil {
		l.relayH.Close()
	}
	if l.relayNS >= 0 {
		_ = l.relayNS.Close()
	}
	for i := len(l.created) - 1; i >= 0; i-- {
		if err := netns.DeleteNamed(l.created[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w", l.created[i], err))
		}
	}
	return errors.Join(errs...)
}

// handles are the lab's open namespace handles: its nodes' and the relay's.
func (l *Lab) handles() []netns.NsHandle {
	var hs []netns.NsHandle
	for _, n := range l.nodes {
		if n.ns >= 0 {
			hs = append(hs, n.ns)
		}
	}
	if l.relayNS >= 0 {
		hs = append(hs, l.relayNS)
	}
	return hs
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func ip(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }
