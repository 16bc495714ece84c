#!/usr/bin/env bash
# vmtest.sh: run commands as root inside a virtual machine whose kernel has what srv6oam's lab
# tests need (seg6local and seg6 encap routes, End.BPF, SRH HMAC), for hosts whose own kernel was
# built without them (CONFIG_IPV6_SEG6_LWTUNNEL off). The guest runs Debian's kernel
# (linux-image-amd64, from Debian's packages) and sees the host's root filesystem through 9p:
# the same tools, Go toolchain, module cache and work tree, with a private /tmp, /run and /dev.
#
#   scripts/vmtest.sh [--] COMMAND [ARG...]      run COMMAND in the guest, in the current
#                                                directory; exit with its status
#   scripts/vmtest.sh --check                    exit 0 when the host kernel needs no VM
#
# KVM is used when it works; otherwise qemu emulates the CPU (TCG), which is slower but needs
# nothing of the host. Environment: SRV6OAM_VM_CACHE (default ~/.cache/srv6oam-vm),
# SRV6OAM_VM_MEM (MiB, default 4096), SRV6OAM_VM_CPUS (default: the host's).
set -euo pipefail

host_has_seg6() {
	local cfg=/proc/config.gz
	[ -r "$cfg" ] || return 0 # unknown: assume the host kernel is fine
	zcat "$cfg" | grep -q '^CONFIG_IPV6_SEG6_LWTUNNEL=y' &&
		zcat "$cfg" | grep -q '^CONFIG_IPV6_SEG6_BPF=y'
}

if [ "${1:-}" = "--check" ]; then
	host_has_seg6
	exit
fi
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "usage: $0 [--] COMMAND [ARG...] | --check" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "vmtest: must run as root (the guest mounts the host's root filesystem)" >&2; exit 2; }

cache=${SRV6OAM_VM_CACHE:-$HOME/.cache/srv6oam-vm}
mem=${SRV6OAM_VM_MEM:-4096}
cpus=${SRV6OAM_VM_CPUS:-$(nproc)}
mkdir -p "$cache"

need() { # install Debian packages that are missing
	local missing=""
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
	if [ -n "$missing" ]; then
		echo "vmtest: installing$missing" >&2
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
	fi
}
need qemu-system-x86 busybox-static kmod cpio

# The kernel: the package linux-image-amd64 depends on, downloaded and unpacked once. Debian's
# newest for this release by default (bookworm-backports: 6.12, which has NEXT-C-SID, TCX and
# the rest the lab tests use; SRV6OAM_VM_SUITE picks another suite), through an apt
# configuration of its own so that the host's sources are not touched; the release's own
# kernel (6.1) when the suite cannot be reached.
suite=${SRV6OAM_VM_SUITE-bookworm-backports}
aptopts=()
pkg=""
if [ -n "$suite" ]; then
	aptdir="$cache/apt-$suite"
	mkdir -p "$aptdir/lists/partial" "$aptdir/archives/partial"
	echo "deb http://deb.debian.org/debian $suite main" >"$aptdir/sources.list"
	aptopts=(-o "Dir::Etc::SourceList=$aptdir/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache::Archives=$aptdir/archives")
	if [ -z "$(find "$aptdir/lists" -maxdepth 1 -name '*Packages*' -mtime -7 2>/dev/null)" ]; then
		apt-get "${aptopts[@]}" update -qq >/dev/null 2>&1 || true
	fi
	pkg=$(apt-cache "${aptopts[@]}" depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	if [ -z "$pkg" ]; then
		echo "vmtest: no kernel from $suite; using the release's own" >&2
		aptopts=()
	fi
fi
if [ -z "$pkg" ]; then
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
if [ -z "$pkg" ]; then
	apt-get update -qq
	pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
kver=${pkg#linux-image-}
root="$cache/$kver"
if [ ! -f "$root/ready" ]; then
	echo "vmtest: fetching $pkg" >&2
	rm -rf "$root" && mkdir -p "$root/deb"
	(cd "$root/deb" && apt-get "${aptopts[@]}" download "$pkg" >/dev/null 2>&1)
	dpkg -x "$root"/deb/*.deb "$root/x"
	rm -rf "$root/deb"
	depmod -b "$root/x" "$kver"
	# initramfs: busybox, the modules that reach the host's filesystem over 9p, and an init
	# that mounts it and hands over to the guest side of this script.
	ir="$root/initramfs"
	mkdir -p "$ir/bin" "$ir/mod"
	cp /bin/busybox "$ir/bin/busybox"
	: >"$ir/mod/order"
	for m in virtio_pci 9pnet_virtio 9p; do
		modprobe --show-depends -d "$root/x" -S "$kver" "$m" | awk '$1 == "insmod" {print $2}'
	done | awk '!seen[$0]++' | while read -r ko; do
		cp "$ko" "$ir/mod/"
		basename "$ko" >>"$ir/mod/order"
	done
	cat >"$ir/init" <<'EOF'
#!/bin/busybox sh
B=/bin/busybox
$B mkdir -p /proc /sys /dev /host
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
for m in $($B cat /mod/order); do $B insmod /mod/$m || { echo "vmtest: insmod $m failed"; $B poweroff -f; }; done
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576,cache=loose hostroot /host || { echo "vmtest: mount hostroot failed"; $B poweroff -f; }
S=$($B sed -n 's/.*vmtest.script=\([^ ]*\).*/\1/p' /proc/cmdline)
for d in proc sys dev; do $B mount --move /$d /host/$d; done
exec $B switch_root /host /bin/bash "$S"
EOF
	chmod +x "$ir/init"
	(cd "$ir" && find . | cpio -o -H newc 2>/dev/null | gzip >"$root/initramfs.gz")
	touch "$root/ready"
fi

# The run: a directory of the host the guest writes the command, its status and the modules
# into, and the guest script that sets up and runs it.
run=$(mktemp -d "$cache/run.XXXXXX")
trap 'rm -rf "$run"' EXIT
printf '%q ' "$@" >"$run/cmd"
printf '%s' "$PWD" >"$run/cwd"
env | grep -E '^(CI|GOFLAGS|GOCACHE|GOPATH|GOMODCACHE|HOME|PATH|SRV6OAM_[A-Z_]*)=' | grep -v '^SRV6OAM_VM_' >"$run/env" || true
cat >"$run/guest.sh" <<EOF
#!/bin/bash
# Guest side: private /tmp, /run, /dev/pts and /dev/shm, the guest kernel's modules, then COMMAND.
# The host's /tmp stays reachable at /mnt, and a directory under it that the command runs in (a
# clone in /tmp/ci, say) is bound back into the guest's own /tmp.
mount --bind /tmp /mnt
mount -t tmpfs tmpfs /tmp; mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /var/tmp
case "\$(cat $run/cwd)" in
/tmp/?*)
	top="\$(cat $run/cwd)"; top="\${top#/tmp/}"; top="\${top%%/*}"
	mkdir -p "/tmp/\$top" && mount --bind "/mnt/\$top" "/tmp/\$top" ;;
esac
mkdir -p /dev/pts /dev/shm /run/netns; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /dev/shm
# The kernel loads modules (veth, sch_netem, nf_tables, ...) with this modprobe, from the
# unpacked package: the host's /lib/modules is not touched.
printf '#!/bin/sh\nexec /sbin/modprobe -d %s "\$@"\n' "$root/x" >/run/vmtest-modprobe
chmod +x /run/vmtest-modprobe; echo /run/vmtest-modprobe >/proc/sys/kernel/modprobe
mount -t bpf bpf /sys/fs/bpf 2>/dev/null; mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
ip link set lo up
hostname vmtest
# Static keys the tests would switch on and off thousands of times are held on for the whole
# run: socket timestamps (netstamp_needed_key, by a socket with SO_TIMESTAMPNS) and the tc
# ingress and egress hooks (a clsact qdisc). Linux flips a static key by patching its code
# through an int3 breakpoint, and under multi-threaded TCG another vCPU can still execute the
# int3 once the patch is done: "Oops: int3" in __netif_receive_skb_core killed one full run.
python3 -c 'import socket, time; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, 35, 1); time.sleep(1e9)' </dev/null >/dev/null 2>&1 &
ip link add vmtest-hold type veth peer name vmtest-hold1 2>/dev/null && tc qdisc add dev vmtest-hold clsact 2>/dev/null
set -a; . $run/env; set +a
cd "\$(cat $run/cwd)"
echo "vmtest: guest kernel \$(uname -r), \$(nproc) CPUs" >&2
: >$run/out
bash -c "\$(cat $run/cmd)" </dev/null >>$run/out 2>&1 &
pid=\$!
tail -n +1 -f $run/out --pid=\$pid > /dev/ttyS0 &
wait \$pid; echo \$? >$run/status
sleep 0.5; sync
echo o >/proc/sysrq-trigger
sleep 10
EOF
chmod +x "$run/guest.sh"

accel="tcg,thread=multi"
if [ -w /dev/kvm ] && timeout 10 qemu-system-x86_64 -accel kvm -cpu host -m 64 -display none -no-reboot \
	-kernel "$root/x/boot/vmlinuz-$kver" -append "panic=-1 console=ttyS0 rdinit=/nonexistent" -serial stdio \
	-initrd "$root/initramfs.gz" 2>/dev/null | grep -q 'Kernel panic'; then
	accel=kvm
fi
echo "vmtest: $kver under qemu ($accel), $cpus CPUs, $mem MiB" >&2
cpu="max"
[ "$accel" = kvm ] && cpu=host
qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -smp "$cpus" -m "$mem" -display none -no-reboot -nodefaults \
	-serial stdio -kernel "$root/x/boot/vmlinuz-$kver" -initrd "$root/initramfs.gz" \
	-append "console=ttyS0 quiet panic=-1 loglevel=3 vmtest.script=$run/guest.sh" \
	-virtfs "local,path=/,mount_tag=hostroot,security_model=passthrough,multidevs=remap" \
	</dev/null | sed -u 's/\r$//'
if [ ! -s "$run/status" ]; then
	echo "vmtest: the guest ended without the command's status (see its console above)" >&2
	exit 2
fi
exit "$(cat "$run/status")"
