package bpf

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Default TLV type codes of docs/wire-format.md.
const (
	DefaultProbeTLVType = 124
	DefaultSlotsTLVType = 252
)

// ProgramName is the name of end_oam in the kernel (bpftool prog show) and in its seg6local
// routes (ip -6 route: "endpoint bpf end_oam").
const ProgramName = "end_oam"

// Options are the load-time constants of end_oam.
type Options struct {
	// NodeID is written into every timestamp slot this node fills; 0 is reserved for "unwritten"
	// and refused.
	NodeID uint32
	// ProbeTLVType and SlotsTLVType override the TLV type codes; 0 keeps the default.
	ProbeTLVType uint8
	SlotsTLVType uint8
	// RingBytes is the size of the event ring buffer shared by all CPUs: a power of two and a
	// multiple of the page size; 0 means DefaultRingBytes.
	RingBytes int
}

// DefaultRingBytes is the default size of the event ring buffer.
const DefaultRingBytes = 1 << 20

// EndOAM is end_oam loaded into the kernel, with its counters and event maps. Close releases the
// program; routes bound to it keep it alive in the kernel until they are removed.
type EndOAM struct {
	objs EndOAMObjects
}

// Counters are end_oam's per-CPU counters, summed over CPUs.
type Counters struct {
	Packets     uint64 // packets through an end_oam SID
	Probes      uint64 // well-formed probes
	Malformed   uint64 // probe TLVs end_oam could not use, forwarded untouched
	EventsLost  uint64 // events not written because the ring buffer was full
	StoreFailed uint64 // slot writes the kernel refused
	// Ambiguous counts packets with more than one routing header whose first has Segments Left
	// 0: the header the kernel processed cannot be told from a stale one, so none is touched.
	Ambiguous uint64
}

// Load loads end_oam with opts. The caller closes the result.
func Load(opts Options) (*EndOAM, error) {
	if opts.NodeID == 0 {
		return nil, errors.New("load end_oam: node id: 0 is reserved for unwritten slots")
	}
	if opts.ProbeTLVType == 0 {
		opts.ProbeTLVType = DefaultProbeTLVType
	}
	if opts.SlotsTLVType == 0 {
		opts.SlotsTLVType = DefaultSlotsTLVType
	}
	if opts.ProbeTLVType == opts.SlotsTLVType {
		return nil, fmt.Errorf("load end_oam: probe and slots TLV types are both %d", opts.ProbeTLVType)
	}
	if opts.ProbeTLVType == 5 || opts.SlotsTLVType == 5 {
		return nil, errors.New("load end_oam: TLV type 5 is the HMAC TLV")
	}
	if opts.RingBytes == 0 {
		opts.RingBytes = DefaultRingBytes
	}
	page := os.Getpagesize()
	if opts.RingBytes < page || opts.RingBytes&(opts.RingBytes-1) != 0 {
		return nil, fmt.Errorf("load end_oam: ring size %d: want a power of two of at least the page size (%d)", opts.RingBytes, page)
	}
	spec, err := LoadEndOAM()
	if err != nil {
		return nil, fmt.Errorf("load end_oam: parse embedded object: %w", err)
	}
	spec.Maps["events"].MaxEntries = uint32(opts.RingBytes)
	for name, value := range map[string]any{
		"node_id":        opts.NodeID,
		"probe_tlv_type": opts.ProbeTLVType,
		"slots_tlv_type": opts.SlotsTLVType,
		"wakeup_bytes":   uint64(opts.RingBytes / 4),
	} {
		v, ok := spec.Variables[name]
		if !ok {
			return nil, fmt.Errorf("load end_oam: variable %s missing from the object", name)
		}
		if err := v.Set(value); err != nil {
			return nil, fmt.Errorf("load end_oam: set %s: %w", name, err)
		}
	}
	var e EndOAM
	if err := spec.LoadAndAssign(&e.objs, nil); err != nil {
		var verr *ebpf.VerifierError
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("load end_oam: %w: %v", ErrPermission, err)
		}
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("load end_oam: verifier rejected the program: %+v", verr)
		}
		return nil, fmt.Errorf("load end_oam: %w", classify(err))
	}
	return &e, nil
}

// Program is the loaded end_oam program.
func (e *EndOAM) Program() *ebpf.Program { return e.objs.EndOam }

// Events is the ring buffer end_oam reports probes on (records of EventSize bytes, followed by
// captured packet bytes when the probe asked for them); read it with ringbuf.NewReader. end_oam
// wakes readers only once a quarter of the ring is full: poll it (ringbuf.Reader.Flush).
func (e *EndOAM) Events() *ebpf.Map { return e.objs.Events }

// Counters reads and sums the per-CPU counters.
func (e *EndOAM) Counters() (Counters, error) {
	var perCPU []EndOAMOamCounters
	if err := e.objs.Counters.Lookup(uint32(0), &perCPU); err != nil {
		return Counters{}, fmt.Errorf("read end_oam counters: %w", err)
	}
	var c Counters
	for _, p := range perCPU {
		c.Packets += p.Packets
		c.Probes += p.Probes
		c.Malformed += p.Malformed
		c.EventsLost += p.EventsLost
		c.StoreFailed += p.StoreFailed
		c.Ambiguous += p.Ambiguous
	}
	return c, nil
}

// Close releases the program and maps.
func (e *EndOAM) Close() error {
	if err := e.objs.Close(); err != nil {
		return fmt.Errorf("close end_oam: %w", err)
	}
	return nil
}
