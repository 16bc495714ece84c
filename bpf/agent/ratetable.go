package agent

import "net/netip"

// rateTable is one token bucket per address (a collector, a STAMP sender), at most max of
// them. It never refuses a new address for want of room: the least recently used bucket is
// evicted instead. A bucket idle for burst/rate has refilled and holds nothing an eviction
// could lose; one evicted before that gives its address a fresh burst when it returns, which
// is why the pipeline also keeps one budget for the whole agent. Not safe for concurrent use;
// no allocation once max entries exist (evicted entries are reused).
type rateTable struct {
	rate, burst float64 // tokens per nanosecond, bucket size
	max         int
	entries     map[netip.Addr]*rateEntry
	// The entries as a list from the most (head) to the least (tail) recently used.
	head, tail *rateEntry
	// evicted counts buckets evicted before they had refilled.
	evicted uint64
}

type rateEntry struct {
	addr       netip.Addr
	b          bucket
	prev, next *rateEntry
}

func newRateTable(ratePerSecond float64, burst float64, max int) *rateTable {
	return &rateTable{rate: ratePerSecond / 1e9, burst: burst, max: max, entries: make(map[netip.Addr]*rateEntry)}
}

// take spends one token of addr's bucket at monotonic time nowNs.
func (t *rateTable) take(addr netip.Addr, nowNs int64) bool {
	if e := t.head; e != nil && e.addr == addr {
		return e.b.take(nowNs, t.rate, t.burst) // the common case: the same address again
	}
	e := t.entries[addr]
	switch {
	case e != nil:
		t.unlink(e)
	case len(t.entries) < t.max:
		e = &rateEntry{}
		t.fresh(e, addr, nowNs)
	default:
		e = t.tail
		t.unlink(e)
		delete(t.entries, e.addr)
		if e.b.tokens+float64(nowNs-e.b.lastNs)*t.rate < t.burst {
			t.evicted++
		}
		t.fresh(e, addr, nowNs)
	}
	t.pushFront(e)
	return e.b.take(nowNs, t.rate, t.burst)
}

func (t *rateTable) fresh(e *rateEntry, addr netip.Addr, nowNs int64) {
	*e = rateEntry{addr: addr, b: bucket{tokens: t.burst, lastNs: nowNs}}
	t.entries[addr] = e
}

func (t *rateTable) len() int { return len(t.entries) }

func (t *rateTable) unlink(e *rateEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		t.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		t.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (t *rateTable) pushFront(e *rateEntry) {
	e.next = t.head
	if t.head != nil {
		t.head.prev = e
	}
	t.head = e
	if t.tail == nil {
		t.tail = e
	}
}
