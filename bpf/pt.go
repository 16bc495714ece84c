package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/srv6oam/srv6oam/oam/pt"
)

// PTProgramName is the name of pt_midpoint in the kernel (bpftool prog show, bpftool net).
const PTProgramName = "pt_midpoint"

// ErrNoTCX: the kernel cannot attach a BPF program to an interface's egress with TCX (Linux
// 6.6 or later with CONFIG_NET_XGRESS).
var ErrNoTCX = errors.New("kernel lacks TCX: BPF_LINK_TYPE_TCX is not supported (needs Linux >= 6.6 with CONFIG_NET_XGRESS=y)")

// PTOptions say what one interface's Path Tracing midpoint writes.
type PTOptions struct {
	// InterfaceID is the interface's id in the MCDs this midpoint pushes: 1 to 4095 (12
	// bits; 0 would read as "no midpoint").
	InterfaceID uint16
	// Template is the timestamp template; 0 means pt.DefaultTemplate.
	Template pt.Template
}

// PTMidpoint is pt_midpoint loaded for one interface and attached to its egress (TCX). Close
// detaches and releases it: the attachment is a BPF link owned by this process, so nothing is
// left on the interface when the process ends, however it ends.
type PTMidpoint struct {
	objs PTMidpointObjects
	link link.Link
	opts PTOptions
}

// PTCounters are pt_midpoint's per-CPU counters, summed over CPUs.
type PTCounters struct {
	Probes      uint64 // PT packets that got this hop's MCD
	Malformed   uint64 // PT options the program could not use, forwarded untouched
	StoreFailed uint64 // packet reads or writes the kernel refused
}

// AttachPT loads pt_midpoint with opts and attaches it to the egress of the interface with
// index ifindex in the calling thread's network namespace. The caller closes the result.
func AttachPT(ifindex int, opts PTOptions) (*PTMidpoint, error) {
	if opts.InterfaceID == 0 || opts.InterfaceID > pt.MaxInterfaceID {
		return nil, fmt.Errorf("path tracing midpoint: interface id %d: want 1 to %d", opts.InterfaceID, pt.MaxInterfaceID)
	}
	if opts.Template == 0 {
		opts.Template = pt.DefaultTemplate
	}
	if !opts.Template.Valid() {
		return nil, fmt.Errorf("path tracing midpoint: timestamp template %d: want 1 to 4", opts.Template)
	}
	spec, err := LoadPTMidpoint()
	if err != nil {
		return nil, fmt.Errorf("load %s: parse embedded object: %w", PTProgramName, err)
	}
	for name, value := range map[string]any{
		"interface_id": opts.InterfaceID,
		"tts_shift":    uint8(opts.Template.Shift()),
	} {
		v, ok := spec.Variables[name]
		if !ok {
			return nil, fmt.Errorf("load %s: variable %s missing from the object", PTProgramName, name)
		}
		if err := v.Set(value); err != nil {
			return nil, fmt.Errorf("load %s: set %s: %w", PTProgramName, name, err)
		}
	}
	p := &PTMidpoint{opts: opts}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("load %s: verifier rejected the program: %+v", PTProgramName, verr)
		}
		return nil, fmt.Errorf("load %s: %w", PTProgramName, classify(err))
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: p.objs.PtMidpoint, Attach: ebpf.AttachTCXEgress})
	if err != nil {
		p.objs.Close()
		if errors.Is(err, ebpf.ErrNotSupported) {
			return nil, fmt.Errorf("attach %s to interface %d: %w: %v", PTProgramName, ifindex, ErrNoTCX, err)
		}
		return nil, fmt.Errorf("attach %s to interface %d egress: %w", PTProgramName, ifindex, classify(err))
	}
	p.link = l
	return p, nil
}

// Options returns what the midpoint was attached with, defaults filled in.
func (p *PTMidpoint) Options() PTOptions { return p.opts }

// SetLoad sets the load the midpoint writes in its MCDs (0 to 15).
func (p *PTMidpoint) SetLoad(load uint8) error {
	if load > pt.MaxLoad {
		return fmt.Errorf("path tracing load %d: want 0 to %d", load, pt.MaxLoad)
	}
	if err := p.objs.PtLoad.Update(uint32(0), uint32(load), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("set path tracing load: %w", err)
	}
	return nil
}

// Counters reads and sums the per-CPU counters.
func (p *PTMidpoint) Counters() (PTCounters, error) {
	var perCPU []PTMidpointPtCounters
	if err := p.objs.Counters.Lookup(uint32(0), &perCPU); err != nil {
		return PTCounters{}, fmt.Errorf("read %s counters: %w", PTProgramName, err)
	}
	var c PTCounters
	for _, x := range perCPU {
		c.Probes += x.Probes
		c.Malformed += x.Malformed
		c.StoreFailed += x.StoreFailed
	}
	return c, nil
}

// Close detaches the midpoint from its interface and releases the program and maps.
func (p *PTMidpoint) Close() error {
	err := p.link.Close()
	if cerr := p.objs.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("close %s: %w", PTProgramName, err)
	}
	return nil
}
