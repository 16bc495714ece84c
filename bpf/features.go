package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"
)

// Errors CheckFeatures and Load wrap, naming what the host lacks.
var (
	// ErrPermission: the process lacks CAP_BPF, CAP_NET_ADMIN or CAP_PERFMON (CAP_SYS_ADMIN
	// stands in for CAP_BPF and CAP_PERFMON). Without CAP_PERFMON the verifier refuses end_oam's
	// packet access.
	ErrPermission = errors.New("missing privileges: srv6oam needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (or CAP_SYS_ADMIN); run as root or grant them (systemd AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_PERFMON)")
	// ErrNoEndBPF: the kernel has no lwt_seg6local program type (CONFIG_IPV6_SEG6_BPF).
	ErrNoEndBPF = errors.New("kernel lacks seg6local End.BPF: BPF_PROG_TYPE_LWT_SEG6LOCAL is not supported (needs Linux >= 4.18 with CONFIG_IPV6_SEG6_LWTUNNEL=y and CONFIG_IPV6_SEG6_BPF=y)")
	// ErrNoBTF: the kernel exposes no BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF).
	ErrNoBTF = errors.New("kernel lacks BTF: /sys/kernel/btf/vmlinux is missing (needs CONFIG_DEBUG_INFO_BTF=y)")
)

// CheckFeatures reports, as an error wrapping ErrPermission, ErrNoEndBPF or ErrNoBTF, the first
// thing this host lacks to run end_oam; nil when it has everything.
func CheckFeatures() error {
	if err := checkCapabilities(); err != nil {
		return err
	}
	if err := features.HaveProgramType(ebpf.LWTSeg6Local); err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) {
			return fmt.Errorf("%w: %v", ErrNoEndBPF, err)
		}
		return fmt.Errorf("probe for lwt_seg6local programs: %w", classify(err))
	}
	if _, err := btf.LoadKernelSpec(); err != nil {
		return fmt.Errorf("%w: %v", ErrNoBTF, err)
	}
	return nil
}

func checkCapabilities() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read process capabilities: %w", err)
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	sysAdmin := has(unix.CAP_SYS_ADMIN)
	if !sysAdmin && !has(unix.CAP_BPF) {
		return fmt.Errorf("%w (CAP_BPF is not effective)", ErrPermission)
	}
	if !has(unix.CAP_NET_ADMIN) {
		return fmt.Errorf("%w (CAP_NET_ADMIN is not effective)", ErrPermission)
	}
	if !sysAdmin && !has(unix.CAP_PERFMON) {
		return fmt.Errorf("%w (CAP_PERFMON is not effective)", ErrPermission)
	}
	return nil
}

// classify wraps permission errors from the bpf syscall with ErrPermission.
func classify(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: %v", ErrPermission, err)
	}
	return err
}
