package trace

import (
	"context"
	"math"
	"net/netip"
	"time"

	"github.com/srv6oam/srv6oam/oam"
)

// Confidence is the probability with which ECMP discovery finds every next hop of a hop: the
// Multipath Detection Algorithm's stopping rule at 95% (Veitch, Augustin, Friedman, Teixeira,
// "Failure control in multipath route tracing", INFOCOM 2009).
const Confidence = 0.95

// maxStoppingK bounds the table; beyond it float64 inclusion–exclusion loses precision, and no
// lab or real router fans out that wide on one hop.
const maxStoppingK = 32

// StoppingPoint returns n_k: how many probes with distinct flows must have reached a hop, all of
// them answered by the same k next hops, before the algorithm concludes that there is no
// (k+1)-th at the given confidence. It is the smallest n for which n probes spread uniformly
// over k+1 next hops miss at least one of them with probability at most 1-confidence
// (inclusion–exclusion over the missed hops). At 95%: 6, 11, 16, 21, 27, 33, 38, 44, 51, 57, …
func StoppingPoint(k int, confidence float64) int {
	if k < 1 {
		return 0
	}
	k = min(k, maxStoppingK)
	alpha := 1 - confidence
	for n := 1; ; n++ {
		if missProbability(k+1, n) <= alpha {
			return n
		}
	}
}

// missProbability is the probability that n uniform draws over m outcomes leave at least one
// outcome undrawn.
func missProbability(m, n int) float64 {
	p := 0.0
	for i := 1; i < m; i++ {
		term := binomial(m, i) * math.Pow(float64(m-i)/float64(m), float64(n))
		if i%2 == 1 {
			p += term
		} else {
			p -= term
		}
	}
	return p
}

func binomial(n, k int) float64 {
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return r
}

// flowLabel returns the i-th flow label of an ECMP discovery: the base first, then labels far
// apart so that any hash tells them apart.
func flowLabel(base uint32, i int) uint32 {
	return (base + uint32(i)*0x9e3b) & 0xfffff
}

// endHopOfFlow is endHop over the outcomes of one flow.
func endHopOfFlow(out []outcome, flow uint32) int {
	end := 0
	for i := range out {
		if out[i].spec.flow == flow && terminal(&out[i]) {
			if h := int(out[i].spec.hopLimit); end == 0 || h < end {
				end = h
			}
		}
	}
	return end
}

// neededPerFlow: a flow's probes matter up to the hop where that flow's path ended (branches
// may differ in length).
func neededPerFlow(out []outcome) func(i int) bool {
	ends := map[uint32]int{}
	for i := range out {
		if terminal(&out[i]) {
			f, h := out[i].spec.flow, int(out[i].spec.hopLimit)
			if e, ok := ends[f]; !ok || h < e {
				ends[f] = h
			}
		}
	}
	return func(i int) bool {
		end := ends[out[i].spec.flow]
		return end == 0 || int(out[i].spec.hopLimit) <= end
	}
}

func (t *Tracer) runECMP(ctx context.Context, rep *Report) error {
	// First the path length, with the first flow, in waves as a plain trace does.
	var all []outcome
	first := flowLabel(t.opts.FlowLabel, 0)
	for lo := t.opts.FirstHop; lo <= t.opts.MaxHops; lo += t.opts.Wave {
		hi := min(lo+t.opts.Wave-1, t.opts.MaxHops)
		var specs []probeSpec
		for h := lo; h <= hi; h++ {
			specs = append(specs, probeSpec{hopLimit: uint8(h), flow: first})
		}
		out, err := t.eng.batch(ctx, specs, t.waits(), neededBelowEnd, nil)
		all = append(all, out...)
		if err != nil {
			return err
		}
		if endHop(all) != 0 || ctx.Err() != nil {
			break
		}
	}
	// Other branches may be a little longer than the first: probe two hops beyond its end, when
	// the destination answered it. A path that ended with an error (!N at an unbound SID, a
	// decapsulating SID without a route) ends there on every branch that reaches that node, and
	// probes beyond it would only spend the node's ICMPv6 rate limit, leaving the flows that
	// matter silent at the end hop.
	hi := t.opts.MaxHops
	if end := endHop(all); end != 0 {
		hi = min(end+2, t.opts.MaxHops)
		if endsWithError(all, end) {
			hi = end
		}
	}
	flows := []uint32{first}
	t.progress(rep, all, len(flows))
	retried := map[probeSpec]int{}
	for ctx.Err() == nil {
		add := 0
		var retry []int
		for h := t.opts.FirstHop; h <= hi; h++ {
			responders, answered := hopStats(all, h)
			need := StoppingPoint(len(responders), Confidence) - answered
			if need <= 0 {
				continue
			}
			if !t.opts.NoRetry && len(responders) > 0 {
				for _, i := range silentAt(all, h) {
					if need > 0 && retried[all[i].spec] < maxECMPRetries {
						retry = append(retry, i)
						need--
					}
				}
			}
			add = max(add, need)
		}
		if len(retry) > 0 {
			// A hop that answers some flows and not others is most likely spending its ICMPv6
			// rate limit (Linux: a burst of 6 per destination, then one per
			// net.ipv6.icmp.ratelimit). New flows would only spend the budget the silent ones
			// need: ask those again once it refilled, and add flows only when no hop is waiting.
			if err := t.retryECMP(ctx, all, retry, retried); err != nil {
				return err
			}
			t.progress(rep, all, len(flows))
			continue
		}
		add = min(add, t.opts.MaxFlows-len(flows))
		if add <= 0 {
			break
		}
		var specs []probeSpec
		for j := 0; j < add; j++ {
			f := flowLabel(t.opts.FlowLabel, len(flows))
			flows = append(flows, f)
			for h := t.opts.FirstHop; h <= hi; h++ {
				specs = append(specs, probeSpec{hopLimit: uint8(h), flow: f})
			}
		}
		out, err := t.eng.batch(ctx, specs, t.waits(), neededPerFlow, nil)
		all = append(all, out...)
		t.progress(rep, all, len(flows))
		if err != nil {
			return err
		}
	}
	rep.Flows = len(flows)
	rep.Branches = t.branches(all, flows)
	if len(rep.Branches) > 0 {
		rep.Hops = rep.Branches[0].Hops
		rep.Reached = true
		for _, b := range rep.Branches {
			rep.Reached = rep.Reached && reached(b.Hops)
		}
	}
	return ctx.Err()
}

// maxECMPRetries bounds how often ECMP discovery asks one probe again: a router that refills
// one error a second answers within two.
const maxECMPRetries = 2

// silentAt returns the probes at hop limit h that went unanswered, of flows whose path had not
// ended before h.
func silentAt(all []outcome, h int) []int {
	var idx []int
	for i := range all {
		o := &all[i]
		if int(o.spec.hopLimit) != h || o.answered || !o.sentOK {
			continue
		}
		if end := endHopOfFlow(all, o.spec.flow); end != 0 && end < h {
			continue
		}
		idx = append(idx, i)
	}
	return idx
}

// retryECMP probes all[idx] again after RetryDelay and puts the new outcomes in their place.
func (t *Tracer) retryECMP(ctx context.Context, all []outcome, idx []int, retried map[probeSpec]int) error {
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(t.opts.RetryDelay):
	}
	specs := make([]probeSpec, len(idx))
	for j, i := range idx {
		specs[j] = all[i].spec
		retried[all[i].spec]++
	}
	out, err := t.eng.batch(ctx, specs, t.waits(), nil, nil)
	for j, o := range out {
		if o.sentOK {
			all[idx[j]] = o
		}
	}
	return err
}

func (t *Tracer) progress(rep *Report, all []outcome, flows int) {
	if t.opts.Progress == nil {
		return
	}
	p := Progress{Flows: flows, Probes: t.eng.sentProbes}
	for i := range all {
		if all[i].answered {
			p.Answers++
		}
	}
	p.Hops = endHop(all)
	t.opts.Progress(p)
}

// hopStats returns the distinct responders at hop limit h and how many probes they answered,
// counting only probes of flows whose path had not ended before h.
func hopStats(all []outcome, h int) (responders []netip.Addr, answered int) {
	for i := range all {
		o := &all[i]
		if int(o.spec.hopLimit) != h || !o.answered {
			continue
		}
		if end := endHopOfFlow(all, o.spec.flow); end != 0 && end < h {
			continue
		}
		answered++
		if !contains(responders, o.from) {
			responders = append(responders, o.from)
		}
	}
	return responders, answered
}

// branches groups flows by the path they took. A hop a flow got no answer for matches any
// address, so that one lost probe does not make a branch of its own.
func (t *Tracer) branches(all []outcome, flows []uint32) []Branch {
	byFlow := map[uint32][]outcome{}
	for _, o := range all {
		byFlow[o.spec.flow] = append(byFlow[o.spec.flow], o)
	}
	var out []Branch
	var keys [][]netip.Addr
	for _, f := range flows {
		hops := t.buildHops(byFlow[f], 1)
		key := make([]netip.Addr, len(hops))
		for i, h := range hops {
			if r := h.Responders(); len(r) > 0 {
				key[i] = r[0]
			}
		}
		found := -1
		for b, k := range keys {
			if sameKey(k, key) {
				found = b
				break
			}
		}
		if found < 0 {
			keys = append(keys, key)
			out = append(out, Branch{Flows: []uint32{f}, Hops: hops})
			continue
		}
		br := &out[found]
		br.Flows = append(br.Flows, f)
		// Fill the branch's unanswered hops from this flow, and keep every probe for the RTTs.
		for i := range br.Hops {
			if i < len(hops) {
				if !keys[found][i].IsValid() && key[i].IsValid() {
					keys[found][i] = key[i]
					probes := br.Hops[i].Probes
					br.Hops[i] = hops[i] // what this flow's answer says of the hop
					br.Hops[i].Probes = probes
				}
				br.Hops[i].Probes = append(br.Hops[i].Probes, hops[i].Probes...)
			}
		}
	}
	return out
}

// sameKey reports whether two flows' hops may be one branch: no hop answered by different
// addresses, and where one is longer, nothing answered in its extra hops. Silence is not a
// path: a rate-limited router or a lost probe leaves a hop (or the end of a flow) unanswered,
// and that alone must not make a branch of its own.
func sameKey(a, b []netip.Addr) bool {
	if len(a) < len(b) {
		a, b = b, a
	}
	for i := range a {
		if i >= len(b) {
			if a[i].IsValid() {
				return false
			}
			continue
		}
		if a[i].IsValid() && b[i].IsValid() && a[i] != b[i] {
			return false
		}
	}
	return true
}

// endsWithError reports whether the probes that ended the path at hop end were answered by an
// error (not an Echo Reply from the destination).
func endsWithError(all []outcome, end int) bool {
	for i := range all {
		if int(all[i].spec.hopLimit) == end && terminal(&all[i]) && all[i].kind == oam.KindReply {
			return false
		}
	}
	return true
}
