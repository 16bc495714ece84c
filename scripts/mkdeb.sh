#!/usr/bin/env bash
# mkdeb.sh BINDIR OUTDIR VERSION — build OUTDIR/srv6oam_VERSION_ARCH.deb with dpkg-deb from the
# commands in BINDIR (static: `make build`), the systemd units and examples in deploy/ and the
# docs. `make deb` runs it; deploy/deb_test.go installs the result with dpkg.
set -euo pipefail
if [ $# -ne 3 ]; then
	echo "usage: $0 BINDIR OUTDIR VERSION" >&2
	exit 2
fi
bin=$1 out=$2 version=$3
top=$(cd "$(dirname "$0")/.." && pwd)
cmds=(srv6-agent srv6-monitor srv6-ping srv6-testnet srv6-trace)
for c in "${cmds[@]}"; do
	[ -x "$bin/$c" ] || { echo "mkdeb: $bin/$c missing: run make build" >&2; exit 1; }
done
case $(go env GOARCH 2>/dev/null || uname -m) in
amd64 | x86_64) arch=amd64 ;;
arm64 | aarch64) arch=arm64 ;;
*) arch=$(dpkg --print-architecture) ;;
esac

root=$(mktemp -d)
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT
doc=$root/usr/share/doc/srv6oam
install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$doc/examples" "$root/etc/srv6oam"
for c in "${cmds[@]}"; do install -m 0755 "$bin/$c" "$root/usr/bin/"; done
# Each command's manual page and completions, made by the command from its own flags.
install -d "$root/usr/share/man/man8" "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions"
for c in "${cmds[@]}"; do
	"$bin/$c" --man-page | gzip -9n >"$root/usr/share/man/man8/$c.8.gz"
	"$bin/$c" --completion bash >"$root/usr/share/bash-completion/completions/$c"
	"$bin/$c" --completion zsh >"$root/usr/share/zsh/vendor-completions/_$c"
	chmod 0644 "$root/usr/share/man/man8/$c.8.gz" "$root/usr/share/bash-completion/completions/$c" "$root/usr/share/zsh/vendor-completions/_$c"
done
install -m 0644 "$top"/deploy/srv6-agent.service "$top"/deploy/srv6-monitor.service "$root/lib/systemd/system/"
install -m 0644 "$top"/deploy/examples/*.yaml "$doc/examples/"
install -m 0644 "$top/README.md" "$top"/docs/*.md "$doc/"
{
	echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
	echo "Upstream-Name: srv6oam"
	echo "Source: https://github.com/srv6oam/srv6oam"
	echo
	echo "Files: *"
	echo "License: see below"
	echo
	sed 's/^$/./; s/^/ /' "$top/LICENSE"
} >"$doc/copyright"
chmod 0644 "$doc/copyright"
for s in postinst prerm postrm; do install -m 0755 "$top/deploy/debian/$s" "$root/DEBIAN/"; done

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: srv6oam
Version: $version
Architecture: $arch
Maintainer: srv6oam developers <srv6oam@users.noreply.github.com>
Installed-Size: $size
Recommends: iproute2, libcap2-bin
Suggests: prometheus
Section: net
Priority: optional
Homepage: https://github.com/srv6oam/srv6oam
Description: OAM toolkit for IPv6 Segment Routing (SRv6)
 srv6oam checks SRv6 segment lists segment by segment: is each segment alive,
 how long does it take one way, and does traffic go where the list says.
 .
  * srv6-ping, srv6-trace: ping and traceroute along a segment list (IOAM,
    Path Tracing, STAMP, path MTU per segment, a live view like mtr)
  * srv6-agent: in-kernel End.OAM timestamping (seg6local End.BPF), a STAMP
    reflector and Path Tracing midpoints on each node
  * srv6-monitor: scheduled delay and liveness jobs for Prometheus
  * srv6-testnet: SRv6 labs of network namespaces from YAML
 .
 The agent and the monitor run as systemd services once /etc/srv6oam/agent.yaml
 or monitor.yaml exists (examples in /usr/share/doc/srv6oam/examples).
CONTROL
(cd "$root" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/srv6oam_${version}_${arch}.deb"
# Reproducible: file times clamped to the last commit's (dpkg-deb reads SOURCE_DATE_EPOCH).
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)} \
	dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
