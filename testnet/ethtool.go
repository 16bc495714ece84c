package testnet

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// disableTxChecksum turns TX checksum offload off on the named interface
// in the calling thread's namespace (ethtool -K <ifname> tx off, through
// the SIOCETHTOOL ioctl). Without checksum offload the kernel also drops
// the segmentation offloads that depend on it (TSO), so the device is
// handed whole, finished frames: checksums computed in software, no
// segment larger than the MTU.
func disableTxChecksum(ifname string) error {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: socket for ethtool ioctl: %w", ifname, err)
	}
	defer unix.Close(fd)
	// struct ethtool_value, and struct ifreq with ifr_data pointing at it.
	val := struct{ cmd, data uint32 }{cmd: unix.ETHTOOL_STXCSUM, data: 0}
	var req struct {
		name [unix.IFNAMSIZ]byte
		data uintptr
		_    [16]byte // rest of the ifreq union
	}
	copy(req.name[:unix.IFNAMSIZ-1], ifname)
	req.data = uintptr(unsafe.Pointer(&val))
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&req))); errno != 0 {
		if errors.Is(errno, unix.EPERM) {
			return fmt.Errorf("%s: turn TX checksum offload off (ETHTOOL_STXCSUM): %w (needs CAP_NET_ADMIN)", ifname, errno)
		}
		return fmt.Errorf("%s: turn TX checksum offload off (ETHTOOL_STXCSUM): %w", ifname, errno)
	}
	runtime.KeepAlive(&val)
	return nil
}
