package monitor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/oam/collect"
	"github.com/srv6oam/srv6oam/testnet"
)

// fastPair is two network namespaces of their own joined by a veth pair: the monitor's ("m",
// fd00::1) and the far end's ("f", fd00::2), where the SIDs fc00:0:2::e and fc00:0:3::e and
// the targets fc00:0:4::1000+i are local addresses. A probe to a local SID with Segments Left
// > 0 is processed by the kernel's own SRH code (End: the next segment becomes the
// destination), so the far end needs no seg6local route and this runs on kernels without
// them, natively, where a lab would need the VM.
type fastPair struct {
	m, f  netns.NsHandle
	names [2]string
	veth  string // the far end's side
}

func sysctl(path, v string) error {
	return os.WriteFile("/proc/sys/net/ipv6/"+path, []byte(v), 0o644)
}

func newFastPair(b *testing.B, targets int) *fastPair {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("root needed: network namespaces")
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	p := &fastPair{names: [2]string{"s6fast-m-" + hex.EncodeToString(id[:]), "s6fast-f-" + hex.EncodeToString(id[:])}}
	orig, err := netns.Get()
	if err != nil {
		b.Fatal(err)
	}
	defer orig.Close()
	runtime.LockOSThread()
	for i, name := range p.names {
		ns, err := netns.NewNamed(name) // switches this thread to it
		if err != nil {
			_ = netns.Set(orig)
			runtime.UnlockOSThread()
			b.Fatal(err)
		}
		if i == 0 {
			p.m = ns
		} else {
			p.f = ns
		}
	}
	_ = netns.Set(orig)
	runtime.UnlockOSThread()
	b.Cleanup(func() {
		for _, n := range p.names {
			_ = netns.DeleteNamed(n)
		}
		p.m.Close()
		p.f.Close()
	})
	p.veth = "fast-f"
	must := func(err error) {
		if err != nil {
			b.Helper()
			b.Fatal(err)
		}
	}
	must(testnet.InNamespace(p.m, func() error {
		la := netlink.NewLinkAttrs()
		la.Name = "fast-m"
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: p.veth, PeerNamespace: netlink.NsFd(int(p.f))}); err != nil {
			return fmt.Errorf("veth: %w", err)
		}
		return nil
	}))
	addr := func(link netlink.Link, a string) error {
		pfx := netip.MustParsePrefix(a)
		return netlink.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: pfx.Addr().AsSlice(), Mask: net.CIDRMask(pfx.Bits(), 128)},
			Flags: unix.IFA_F_NODAD})
	}
	must(testnet.InNamespace(p.m, func() error {
		lo, _ := netlink.LinkByName("lo")
		m, err := netlink.LinkByName("fast-m")
		if err != nil {
			return err
		}
		for _, err := range []error{netlink.LinkSetUp(lo), addr(m, "fd00::1/64"), netlink.LinkSetUp(m)} {
			if err != nil {
				return err
			}
		}
		_, dst, _ := net.ParseCIDR("fc00::/16")
		return netlink.RouteAdd(&netlink.Route{LinkIndex: m.Attrs().Index, Dst: dst, Gw: net.ParseIP("fd00::2")})
	}))
	must(testnet.InNamespace(p.f, func() error {
		lo, _ := netlink.LinkByName("lo")
		f, err := netlink.LinkByName(p.veth)
		if err != nil {
			return err
		}
		for _, err := range []error{netlink.LinkSetUp(lo), addr(f, "fd00::2/64"), netlink.LinkSetUp(f),
			sysctl("conf/all/seg6_enabled", "1"), sysctl("conf/"+p.veth+"/seg6_enabled", "1"), sysctl("conf/lo/seg6_enabled", "1"),
			addr(lo, "fc00:0:2::e/128"), addr(lo, "fc00:0:3::e/128")} {
			if err != nil {
				return err
			}
		}
		for i := range targets {
			if err := addr(lo, fmt.Sprintf("fc00:0:4::%x/128", 0x1000+i)); err != nil {
				return err
			}
		}
		return nil
	}))
	return p
}

// BenchmarkFastLiveness runs 1,000 segment lists (SRV6_MONITOR_FAST_JOBS overrides) at 100 Hz
// each (interval 10 ms, timeout 10 ms, detect multiplier 3: BFD-like 30 ms) from one monitor,
// every probe through two SIDs (fc00:0:2::e, fc00:0:3::e) to a target of its own, over a veth
// pair between two namespaces of its own (fastPair). Over a window it measures the CPU of the
// whole process (getrusage: user + system, as a fraction of one core; the system time includes
// the kernel's SRH processing and echo replies of the far end, done in the sender's context),
// how late probes left (p99) and the loss; then it takes the far end of the veth down (netlink;
// the time taken just before the call) and reports, per job, the time from that cut to the
// job's DOWN transition: p50, p99 and max over the jobs, and how many probes the monitor's
// receive sockets dropped (the receiver fell behind).
func BenchmarkFastLiveness(b *testing.B) {
	b.ReportAllocs()
	jobs := envJobs(b, "SRV6_MONITOR_FAST_JOBS", 1000)
	window := 10 * time.Second
	for range b.N {
		p := newFastPair(b, jobs)
		var cfg strings.Builder
		cfg.WriteString("defaults:\n  interval: 10ms\n  timeout: 10ms\n  detect_multiplier: 3\njobs:\n")
		for i := range jobs {
			fmt.Fprintf(&cfg, "  - name: fast-%04d\n    target: fc00:0:4::%x\n    segments: [fc00:0:2::e, fc00:0:3::e]\n", i, 0x1000+i)
		}
		c, err := ParseConfig([]byte(cfg.String()), "fast.yaml")
		if err != nil {
			b.Fatal(err)
		}
		m, err := New(c, Options{Exec: func(fn func() error) error { return testnet.InNamespace(p.m, fn) }})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		time.Sleep(2 * time.Second) // every job started and up

		w := measureWindow(b, m, window)
		up := 0
		m.mu.Lock()
		for _, rj := range m.jobs {
			rj.mu.Lock()
			if rj.segs[0].live.State == collect.LiveUp {
				up++
			}
			rj.mu.Unlock()
		}
		m.mu.Unlock()

		// What the monitor's receive sockets dropped (their buffer full: the receiver fell
		// behind), from the kernel's per-socket counters.
		drops := 0
		_ = testnet.InNamespace(p.m, func() error {
			bs, err := os.ReadFile("/proc/thread-self/net/raw6")
			for _, l := range strings.Split(string(bs), "\n")[1:] {
				if fs := strings.Fields(l); len(fs) > 0 {
					n, _ := strconv.Atoi(fs[len(fs)-1])
					drops += n
				}
			}
			return err
		})
		// The cut.
		var cutAt time.Time
		if err := testnet.InNamespace(p.f, func() error {
			l, err := netlink.LinkByName(p.veth)
			if err != nil {
				return err
			}
			cutAt = time.Now()
			return netlink.LinkSetDown(l)
		}); err != nil {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		var detect []time.Duration
		notDown := 0
		m.mu.Lock()
		for _, rj := range m.jobs {
			rj.mu.Lock()
			s := &rj.segs[0]
			if s.live.State == collect.LiveDown && s.changedAt.After(cutAt) {
				detect = append(detect, s.changedAt.Sub(cutAt))
			} else {
				notDown++
			}
			rj.mu.Unlock()
		}
		m.mu.Unlock()
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
		slices.Sort(detect)
		q := func(f float64) float64 {
			if len(detect) == 0 {
				return 0
			}
			return float64(detect[min(len(detect)-1, int(f*float64(len(detect))))]) / 1e6
		}
		b.Logf("%d jobs, %d up before the cut; %d not down 2 s after the cut", jobs, up, notDown)
		b.ReportMetric(w.cores, "cores")
		b.ReportMetric(w.pps, "probes/s")
		if w.pps > 0 {
			b.ReportMetric(w.lossPct, "loss-%")
		}
		b.ReportMetric(float64(w.lat.P99)/1e6, "lateness-p99-ms")
		b.ReportMetric(q(0.5), "detect-p50-ms")
		b.ReportMetric(q(0.99), "detect-p99-ms")
		b.ReportMetric(q(1), "detect-max-ms")
		b.ReportMetric(float64(notDown), "not-down")
		b.ReportMetric(float64(drops), "socket-drops")
	}
}
