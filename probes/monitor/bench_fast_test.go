package monitor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
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
// each (interval 10 ms, timeout 10 ms, detect multiplier 3: BFD's 30 ms) from one monitor, every
// probe through two SIDs (fc00:0:2::e, fc00:0:3::e) to a target of its own, over a veth pair
// between two namespaces of its own (fastPair). The monitor is confined to one CPU
// (pinMonitor: CPU 0, GOMAXPROCS 1; SRV6_MONITOR_FAST_PIN=0 leaves it free and the far end
// inline), the far end's work and the receive path of the replies steered to the other.
// Over a window it measures the monitor's CPU (getrusage: user + system of the process, as a
// fraction of one core; "cpu0-busy" is CPU 0 as a whole from /proc/stat, whatever ran there),
// how late probes left (p99), the loss, and the liveness changes while nothing was cut (each a
// false alarm); then it takes the far end of the veth down (from another process on the other
// CPU, the time taken when it is told to) and reports, per job, the time from that cut to the
// job's DOWN transition: p50, p99 and max over the jobs, and how many replies the monitor's
// receive socket dropped (the receiver fell behind).
func BenchmarkFastLiveness(b *testing.B) {
	b.ReportAllocs()
	jobs := envJobs(b, "SRV6_MONITOR_FAST_JOBS", 1000)
	window := 10 * time.Second
	pin := os.Getenv("SRV6_MONITOR_FAST_PIN") != "0"
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
		unpin := func() {}
		if pin {
			unpin = pinMonitor(b, p)
		}
		// Every job started and up: the first probes wait for neighbour discovery, which
		// loses its first solicitation now and then (a retry a second later), so wait for
		// every job to be up, then a second more.
		for deadline := time.Now().Add(10 * time.Second); upJobs(m) < jobs && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(time.Second)

		flaps0 := transitions(m)
		busy0, steal0 := cpuBusy(b)
		t0 := time.Now()
		w := measureWindow(b, m, window)
		// Liveness changes during the window, when nothing was cut: each is a false alarm.
		flaps := transitions(m) - flaps0
		busy1, steal1 := cpuBusy(b)
		secs := time.Since(t0).Seconds() * 100 // USER_HZ
		up := upJobs(m)

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
		// The cut, by another process on the other CPU (ip -batch, started before and waiting
		// for its command): made from this one it would take the monitor's only P (and
		// thread) for the netlink calls, holding the monitor up just before the cut.
		cutAt := p.cut(b, pin)
		time.Sleep(2 * time.Second)
		unpin()
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
		if pin {
			b.ReportMetric((busy1[0]-busy0[0])/secs, "cpu0-busy")
		}
		b.ReportMetric((steal1-steal0)/secs, "steal-cores")
		b.ReportMetric(w.pps, "probes/s")
		if w.pps > 0 {
			b.ReportMetric(w.lossPct, "loss-%")
		}
		b.ReportMetric(float64(w.lat.P99)/1e6, "lateness-p99-ms")
		b.ReportMetric(q(0.5), "detect-p50-ms")
		b.ReportMetric(q(0.99), "detect-p99-ms")
		b.ReportMetric(q(1), "detect-max-ms")
		b.ReportMetric(float64(notDown), "not-down")
		b.ReportMetric(float64(flaps), "false-transitions")
		b.ReportMetric(float64(drops), "socket-drops")
	}
}

// pinMonitor confines this process, the monitor, to CPU 0 (every thread, and GOMAXPROCS 1, as
// the Go runtime would choose under taskset) and steers the veth pair's receive work by RPS:
// what the far end receives to CPU 1 (its SRH processing and echo replies: another host's work
// on a real network), what the monitor's side receives back to CPU 0 (the monitor host's
// receive path). CPU 0 is then the monitor's one core, and its busy time (/proc/stat: user,
// system, irq and softirq) what the monitor cost. It returns the undoing.
func pinMonitor(b *testing.B, p *fastPair) func() {
	b.Helper()
	if runtime.NumCPU() < 2 {
		b.Skip("pinning needs two CPUs")
	}
	rps := func(ns, dev, mask string) {
		b.Helper()
		out, err := exec.Command("ip", "netns", "exec", ns, "sh", "-c",
			"for q in /sys/class/net/"+dev+"/queues/rx-*/rps_cpus; do echo "+mask+" > $q || exit 1; done").CombinedOutput()
		if err != nil {
			b.Fatalf("rps_cpus of %s: %v: %s", dev, err, out)
		}
	}
	rps(p.names[1], p.veth, "2")
	rps(p.names[0], "fast-m", "2")
	var one, all unix.CPUSet
	one.Set(0)
	if err := unix.SchedGetaffinity(0, &all); err != nil { // to put back as it was
		b.Fatal(err)
	}
	setAll := func(set *unix.CPUSet) error {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, _ := strconv.Atoi(t.Name())
			if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
				return fmt.Errorf("thread %d: %w", tid, err)
			}
		}
		return nil
	}
	procs := runtime.GOMAXPROCS(1)
	if err := setAll(&one); err != nil {
		b.Fatal(err)
	}
	return func() {
		_ = setAll(&all)
		runtime.GOMAXPROCS(procs)
	}
}

// cpuBusy is each CPU's busy time so far and the steal time of all, in USER_HZ ticks
// (/proc/stat). Tick-based: a CPU that only wakes for softirqs between ticks shows as idle.
func cpuBusy(b *testing.B) (busy []float64, steal float64) {
	b.Helper()
	bs, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(bs), "\n") {
		fs := strings.Fields(l)
		if len(fs) < 9 || !strings.HasPrefix(fs[0], "cpu") || fs[0] == "cpu" {
			continue
		}
		var v [8]float64
		for i := range v {
			v[i], _ = strconv.ParseFloat(fs[i+1], 64)
		}
		// user nice system idle iowait irq softirq steal
		busy = append(busy, v[0]+v[1]+v[2]+v[5]+v[6])
		steal += v[7]
	}
	return busy, steal
}

// transitions is the number of liveness changes of every job so far.
func transitions(m *Monitor) int { return sumJobs(m, func(s *segState) int { return s.transitions }) }

// cut takes the far end of the veth down and returns the time it asked to: with pinned, from an
// ip -batch process on CPU 1, already running and waiting for its command when the time is
// taken; otherwise from this process.
func (p *fastPair) cut(b *testing.B, pinned bool) time.Time {
	b.Helper()
	if !pinned {
		var at time.Time
		if err := testnet.InNamespace(p.f, func() error {
			l, err := netlink.LinkByName(p.veth)
			if err != nil {
				return err
			}
			at = time.Now()
			return netlink.LinkSetDown(l)
		}); err != nil {
			b.Fatal(err)
		}
		return at
	}
	cmd := exec.Command("taskset", "-c", "1", "ip", "-n", p.names[1], "-batch", "-")
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out := new(strings.Builder)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // ip is up and reading
	at := time.Now()
	if _, err := io.WriteString(in, "link set dev "+p.veth+" down\n"); err != nil {
		b.Fatal(err)
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		b.Fatalf("ip -batch: %v: %s", err, out)
	}
	return at
}

// upJobs is the number of jobs up.
func upJobs(m *Monitor) int {
	return sumJobs(m, func(s *segState) int {
		if s.live.State == collect.LiveUp {
			return 1
		}
		return 0
	})
}

// sumJobs sums f over every job's (first) segment.
func sumJobs(m *Monitor, f func(*segState) int) int {
	n := 0
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, rj := range m.jobs {
		rj.mu.Lock()
		n += f(&rj.segs[0])
		rj.mu.Unlock()
	}
	return n
}
