package agent

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/oam/srh"
)

// fakeFIB answers RouteGetWithOptions from a table, and counts the calls.
type fakeFIB struct {
	routes  map[netip.Addr][]netlink.Route
	errs    map[netip.Addr]error
	noMatch bool  // answer EINVAL to FIB-match requests, as a kernel before 4.13 would
	iifErr  error // the answer to input lookups (an ingress interface set), when set
	calls   int
	links   int // LinkByIndex calls
	opts    []netlink.RouteGetOptions
}

func (f *fakeFIB) RouteGetWithOptions(dst net.IP, o *netlink.RouteGetOptions) ([]netlink.Route, error) {
	f.calls++
	f.opts = append(f.opts, *o)
	a, _ := netip.AddrFromSlice(dst)
	if f.noMatch && o.FIBMatch {
		return nil, unix.EINVAL
	}
	if f.iifErr != nil && o.IifIndex != 0 {
		return nil, f.iifErr
	}
	if err := f.errs[a]; err != nil {
		return nil, err
	}
	return f.routes[a], nil
}

func (f *fakeFIB) LinkByIndex(i int) (netlink.Link, error) {
	f.links++
	return &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: i, Name: "eth" + string(rune('0'+i))}}, nil
}

// ipv6Capture is the first 40 bytes of a probe as forwarded toward dst.
func ipv6Capture(dst netip.Addr) []byte {
	b := make([]byte, 40)
	b[0] = 0x60
	d := dst.As16()
	copy(b[24:], d[:])
	return b
}

var (
	nextSID   = netip.MustParseAddr("fc00:0:5::b0")
	nowhere   = netip.MustParseAddr("fc00:99::1")
	multipath = netlink.Route{Type: unix.RTN_UNICAST, Table: 254,
		Dst: &net.IPNet{IP: net.ParseIP("fc00:0:5::"), Mask: net.CIDRMask(48, 128)},
		MultiPath: []*netlink.NexthopInfo{
			{LinkIndex: 2, Gw: net.ParseIP("fd00:0:0:2::2")},
			{LinkIndex: 3, Gw: net.ParseIP("fd00:0:0:3::2"), Hops: 1, Flags: unix.RTNH_F_LINKDOWN},
		}}
)

func newFake() *fakeFIB {
	return &fakeFIB{
		routes: map[netip.Addr][]netlink.Route{nextSID: {multipath}},
		errs:   map[netip.Addr]error{nowhere: unix.ENETUNREACH},
	}
}

func TestNextHopsMultipath(t *testing.T) {
	f := newFake()
	var st Stats
	r := newNextHopResolver(f, &st)
	got := r.resolve(ipv6Capture(nextSID), 7, 0)
	want := []oam.NextHop{
		{Gateway: netip.MustParseAddr("fd00:0:0:2::2"), Ifindex: 2, Ifname: "eth2", Weight: 1},
		{Gateway: netip.MustParseAddr("fd00:0:0:3::2"), Ifindex: 3, Ifname: "eth3", Weight: 2, LinkDown: true},
	}
	if got.Status != oam.NextHopsOK || got.Destination != nextSID || got.Prefix != netip.MustParsePrefix("fc00:0:5::/48") ||
		got.Table != 254 || got.SelectedOnly || len(got.Hops) != 2 || got.Hops[0] != want[0] || got.Hops[1] != want[1] {
		t.Fatalf("next hops %+v, want %v over fc00:0:5::/48", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	if o := f.opts[0]; !o.FIBMatch || o.IifIndex != 7 {
		t.Errorf("lookup options %+v, want FIB match from ingress interface 7", o)
	}
}

func TestNextHopsCacheAndBudget(t *testing.T) {
	f := newFake()
	var st Stats
	r := newNextHopResolver(f, &st)
	c := ipv6Capture(nextSID)
	for i := range 100 {
		if got := r.resolve(c, 7, int64(i)*1000); got.Status != oam.NextHopsOK {
			t.Fatalf("lookup %d: %v", i, got.Status)
		}
	}
	if f.calls != 1 || st.NextHopLookups.Load() != 1 || st.NextHopCacheHits.Load() != 99 {
		t.Fatalf("100 requests within 1 s: %d netlink calls, %d lookups, %d cache hits; want 1, 1, 99", f.calls, st.NextHopLookups.Load(), st.NextHopCacheHits.Load())
	}
	if r.resolve(c, 7, nextHopCacheNs+1); f.calls != 2 {
		t.Errorf("after the cache expired: %d netlink calls, want 2", f.calls)
	}
	// A flood of distinct destinations: at most the burst is looked up, the rest is "limited".
	limited := 0
	for i := range 1000 {
		a := netip.AddrFrom16([16]byte{0xfc, 0, 0, 0x42, 14: byte(i >> 8), 15: byte(i)})
		if r.resolve(ipv6Capture(a), 7, 2*nextHopCacheNs).Status == oam.NextHopsLimited {
			limited++
		}
	}
	if f.calls > 2+nextHopLookupBurst || limited < 1000-nextHopLookupBurst || st.NextHopLimited.Load() != uint64(limited) {
		t.Errorf("flood: %d netlink calls, %d limited (counter %d); want at most %d calls", f.calls, limited, st.NextHopLimited.Load(), 2+nextHopLookupBurst)
	}
	if len(r.cache) > nextHopCacheEntries {
		t.Errorf("cache holds %d entries, bound %d", len(r.cache), nextHopCacheEntries)
	}
}

func TestNextHopsStatuses(t *testing.T) {
	f := newFake()
	f.routes[netip.MustParseAddr("fc00:0:2::1")] = []netlink.Route{{Type: unix.RTN_LOCAL, LinkIndex: 1}}
	f.routes[netip.MustParseAddr("fc00:0:3::1")] = []netlink.Route{{Type: unix.RTN_UNREACHABLE}}
	f.routes[netip.MustParseAddr("fc00:0:2::e")] = []netlink.Route{{Type: unix.RTN_UNICAST, LinkIndex: 2,
		Encap: &netlink.SEG6LocalEncap{Action: nl.SEG6_LOCAL_ACTION_END}}}
	f.routes[netip.MustParseAddr("fc00:0:4::1")] = []netlink.Route{{Type: unix.RTN_UNICAST, LinkIndex: 4, Flags: unix.RTNH_F_ONLINK}}
	f.errs[netip.MustParseAddr("fc00:0:6::1")] = unix.ENOBUFS
	var st Stats
	r := newNextHopResolver(f, &st)
	for _, tc := range []struct {
		capture []byte
		want    oam.NextHopStatus
	}{
		{ipv6Capture(nowhere), oam.NextHopsNoRoute},
		{ipv6Capture(netip.MustParseAddr("fc00:0:2::1")), oam.NextHopsLocal},
		{ipv6Capture(netip.MustParseAddr("fc00:0:2::e")), oam.NextHopsLocal},
		{ipv6Capture(netip.MustParseAddr("fc00:0:3::1")), oam.NextHopsNoRoute},
		{ipv6Capture(netip.MustParseAddr("fc00:0:4::1")), oam.NextHopsOK},
		{ipv6Capture(netip.MustParseAddr("fc00:0:6::1")), oam.NextHopsError},
		{ipv6Capture(nextSID)[:39], oam.NextHopsNoDestination},
		{nil, oam.NextHopsNoDestination},
	} {
		got := r.resolve(tc.capture, 7, 0)
		if got.Status != tc.want {
			t.Errorf("capture %x: status %v, want %v", tc.capture, got.Status, tc.want)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("capture %x: %v", tc.capture, err)
		}
	}
	one := r.resolve(ipv6Capture(netip.MustParseAddr("fc00:0:4::1")), 7, 0)
	if len(one.Hops) != 1 || one.Hops[0].Gateway != netip.IPv6Unspecified() || !one.Hops[0].OnLink || one.Hops[0].Weight != 1 ||
		one.Prefix != netip.MustParsePrefix("::/0") {
		t.Errorf("single directly connected next hop: %+v", one)
	}
	if st.NextHopLookupErrors.Load() != 1 || st.NextHopNoDestination.Load() != 2 {
		t.Errorf("%d lookup errors, %d without destination; want 1, 2", st.NextHopLookupErrors.Load(), st.NextHopNoDestination.Load())
	}
}

// TestNextHopsWithoutFIBMatch: a kernel that refuses RTM_F_FIB_MATCH gets the plain lookup, and
// the answer says it is only the selected path.
func TestNextHopsWithoutFIBMatch(t *testing.T) {
	f := newFake()
	f.noMatch = true
	f.routes[nextSID] = []netlink.Route{{Type: unix.RTN_UNICAST, LinkIndex: 2, Gw: net.ParseIP("fd00:0:0:2::2"),
		Dst: &net.IPNet{IP: net.ParseIP("fc00:0:5::b0"), Mask: net.CIDRMask(128, 128)}}}
	var st Stats
	got := newNextHopResolver(f, &st).resolve(ipv6Capture(nextSID), 0, 0)
	if got.Status != oam.NextHopsOK || !got.SelectedOnly || len(got.Hops) != 1 || got.Hops[0].Ifname != "eth2" {
		t.Fatalf("next hops %+v, want the selected path only", got)
	}
}

// TestPipelineNextHops: a probe with N gets its next hops in its report record; one without N
// gets none and costs no lookup.
func TestPipelineNextHops(t *testing.T) {
	var fs fakeSender
	var st Stats
	f := newFake()
	p := newPipeline(trustingConfig(2, allowList, 1000, 100), &fs, &st, fixedClock)
	p.nextHops = newNextHopResolver(f, &st)
	c := ipv6Capture(nextSID)
	p.handle(sample(collector, 9000, 1, srh.ProbeReport|srh.ProbeCapture|srh.ProbeNextHops, c), 0)
	p.handle(sample(collector, 9000, 2, srh.ProbeReport|srh.ProbeCapture, c), 1)
	p.handle(sample(stranger, 9000, 3, srh.ProbeReport|srh.ProbeCapture|srh.ProbeNextHops, c), 2)
	p.flushAll()
	if len(fs.sent) != 1 {
		t.Fatalf("%d datagrams, want 1", len(fs.sent))
	}
	var r oam.Report
	if err := r.UnmarshalBinary(fs.sent[0].data); err != nil {
		t.Fatal(err)
	}
	if len(r.Records) != 2 || r.Records[0].NextHops == nil || len(r.Records[0].NextHops.Hops) != 2 || r.Records[1].NextHops != nil {
		t.Fatalf("records %+v: want next hops on the first only", r.Records)
	}
	if f.calls != 1 || st.NextHopRequests.Load() != 1 {
		t.Errorf("%d lookups, %d requests; want 1, 1 (the off-allow-list probe costs none)", f.calls, st.NextHopRequests.Load())
	}
}

// TestPipelineCountsRefusedRecord: a record the encoder refuses (here next hops whose route has
// an IPv4 prefix, which do not validate) is counted, not dropped silently; the others are sent.
func TestPipelineCountsRefusedRecord(t *testing.T) {
	var fs fakeSender
	var st Stats
	f := newFake()
	bad := netip.MustParseAddr("fc00:0:7::1")
	f.routes[bad] = []netlink.Route{{Type: unix.RTN_UNICAST, LinkIndex: 2,
		Dst: &net.IPNet{IP: net.IPv4(192, 0, 2, 0).To4(), Mask: net.CIDRMask(24, 32)}}}
	p := newPipeline(trustingConfig(2, allowList, 1000, 100), &fs, &st, fixedClock)
	p.nextHops = newNextHopResolver(f, &st)
	flags := srh.ProbeReport | srh.ProbeCapture | srh.ProbeNextHops
	p.handle(sample(collector, 9000, 1, flags, ipv6Capture(bad)), 0)
	p.handle(sample(collector, 9000, 2, flags, ipv6Capture(nextSID)), 1)
	p.flushAll()
	if st.RecordsDropped.Load() != 1 {
		t.Errorf("%d records dropped, want 1", st.RecordsDropped.Load())
	}
	if len(fs.sent) != 1 {
		t.Fatalf("%d datagrams, want 1", len(fs.sent))
	}
	var r oam.Report
	if err := r.UnmarshalBinary(fs.sent[0].data); err != nil {
		t.Fatal(err)
	}
	if len(r.Records) != 1 || r.Records[0].Sequence != 2 {
		t.Errorf("records %+v: want the second probe's only", r.Records)
	}
}

// ipv6CaptureFrom is ipv6Capture with a source address.
func ipv6CaptureFrom(src, dst netip.Addr) []byte {
	b := ipv6Capture(dst)
	s := src.As16()
	copy(b[8:], s[:])
	return b
}

// TestNextHopsSource: the lookup carries the probe's source (source-based rules and routes
// match), and answers for different sources are cached apart; interface names are cached by
// ifindex, not read per next hop.
func TestNextHopsSource(t *testing.T) {
	var st Stats
	f := newFake()
	r := newNextHopResolver(f, &st)
	a, b := netip.MustParseAddr("fc00:0:1::1"), netip.MustParseAddr("fc00:0:1::2")
	for i, src := range []netip.Addr{a, b, a, b} {
		if got := r.resolve(ipv6CaptureFrom(src, nextSID), 7, int64(i)); got.Status != oam.NextHopsOK || len(got.Hops) != 2 {
			t.Fatalf("from %v: %+v", src, got)
		}
	}
	if f.calls != 2 || st.NextHopCacheHits.Load() != 2 {
		t.Fatalf("%d lookups, %d cache hits; want 2, 2 (one per source)", f.calls, st.NextHopCacheHits.Load())
	}
	for i, want := range []netip.Addr{a, b} {
		if got, _ := netip.AddrFromSlice(f.opts[i].SrcAddr); got != want || f.opts[i].IifIndex != 7 {
			t.Errorf("lookup %d: source %v iif %d, want %v 7", i, f.opts[i].SrcAddr, f.opts[i].IifIndex, want)
		}
	}
	if f.links != 2 {
		t.Errorf("%d LinkByIndex calls for 2 lookups through the same 2 interfaces, want 2", f.links)
	}
	// Past the name cache's lifetime a name is read again (a renamed link shows).
	r.resolve(ipv6CaptureFrom(a, nextSID), 7, 2*ifnameCacheNs)
	if f.links != 4 {
		t.Errorf("%d LinkByIndex calls after the name cache expired, want 4", f.links)
	}
	// A capture without a source (::) looks up without one.
	r.resolve(ipv6Capture(nowhere), 7, 2*ifnameCacheNs)
	if last := f.opts[len(f.opts)-1]; last.SrcAddr != nil {
		t.Errorf("source %v for an unspecified source, want none", last.SrcAddr)
	}
}

// TestNextHopsOutputLookup: when the input lookup fails for another reason than no route (the
// ingress interface gone: ENODEV), the output lookup's answer is marked as such.
func TestNextHopsOutputLookup(t *testing.T) {
	var st Stats
	f := newFake()
	f.iifErr = unix.ENODEV
	r := newNextHopResolver(f, &st)
	got := r.resolve(ipv6Capture(nextSID), 7, 0)
	if got.Status != oam.NextHopsOK || !got.OutputLookup || f.calls != 2 || f.opts[1].IifIndex != 0 {
		t.Errorf("%+v after %d calls (%+v): want ok from an output lookup, marked", got, f.calls, f.opts)
	}
	if err := got.Validate(); err != nil {
		t.Error(err)
	}
	got = r.resolve(ipv6Capture(nowhere), 7, 0)
	if got.Status != oam.NextHopsNoRoute || !got.OutputLookup {
		t.Errorf("%+v: want no-route from an output lookup, marked", got)
	}
	f.iifErr = nil
	if got := r.resolve(ipv6Capture(nextSID), 8, 0); got.OutputLookup {
		t.Errorf("%+v: an input lookup that worked is marked as an output one", got)
	}
}

// TestNextHopsBlackholeOneCall: once a FIB-match lookup worked, EINVAL (an IPv6 blackhole
// route's answer) is "no route" after one netlink call, not three.
func TestNextHopsBlackholeOneCall(t *testing.T) {
	var st Stats
	f := newFake()
	hole := netip.MustParseAddr("fc00:0:8::1")
	f.errs[hole] = unix.EINVAL
	r := newNextHopResolver(f, &st)
	r.resolve(ipv6Capture(nextSID), 7, 0)
	calls := f.calls
	if got := r.resolve(ipv6Capture(hole), 7, 0); got.Status != oam.NextHopsNoRoute || got.OutputLookup || got.SelectedOnly {
		t.Errorf("%+v: want no-route", got)
	}
	if n := f.calls - calls; n != 1 {
		t.Errorf("blackhole: %d netlink calls, want 1", n)
	}
}
