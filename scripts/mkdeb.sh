#!/usr/bin/env bash
# mkdeb.sh BINDIR OUTDIR VERSION — build OUTDIR/srv6oam_VERSION_ARCH.deb with nfpm from
# deploy/nfpm.yaml: the commands in BINDIR (static: `make build`), the systemd units, examples
# and maintainer scripts in deploy/, the docs, and what this script generates: each command's
# manual page and bash/zsh completions (printed by the command from its own flags), the
# copyright file and the changelog. `make deb` runs it; deploy/deb_test.go installs the result with dpkg.
# nfpm comes from the Go module proxy at a pinned version (Go 1.26.4 or newer builds it),
# installed once into bin/ (`mkdeb.sh --tools` does only that: make test runs it on the host,
# before tests that may run in a VM without network); NFPM names another nfpm binary to run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
nfpm_version=v2.48.0
nfpm_bin=$top/bin/nfpm-$nfpm_version/nfpm
case "${1:-}" in
--tools) ;;
*)
	if [ $# -ne 3 ]; then
		echo "usage: $0 BINDIR OUTDIR VERSION  (or $0 --tools: install nfpm only)" >&2
		exit 2
	fi
	;;
esac
if [ -z "${NFPM:-}" ] && [ ! -x "$nfpm_bin" ]; then
	echo "mkdeb: installing nfpm $nfpm_version into $(dirname "$nfpm_bin")" >&2
	GOFLAGS= GOBIN=$(dirname "$nfpm_bin") go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$nfpm_version"
fi
NFPM=${NFPM:-$nfpm_bin}
[ "$1" = --tools ] && exit 0
bin=$(cd "$1" && pwd) out=$2 version=$3
cmds=(srv6-agent srv6-monitor srv6-ping srv6-testnet srv6-trace)
for c in "${cmds[@]}"; do
	[ -x "$bin/$c" ] || { echo "mkdeb: $bin/$c missing: run make build" >&2; exit 1; }
done
case $(go env GOARCH 2>/dev/null || uname -m) in
amd64 | x86_64) arch=amd64 ;;
arm64 | aarch64) arch=arm64 ;;
*) arch=$(dpkg --print-architecture) ;;
esac

# Reproducible: file and archive times are the last commit's (nfpm reads SOURCE_DATE_EPOCH).
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/man8" "$stage/bash" "$stage/zsh"
for c in "${cmds[@]}"; do
	"$bin/$c" --man-page | gzip -9n >"$stage/man8/$c.8.gz"
	"$bin/$c" --completion bash >"$stage/bash/$c"
	"$bin/$c" --completion zsh >"$stage/zsh/_$c"
done
{
	echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
	echo "Upstream-Name: srv6oam"
	echo "Source: https://github.com/srv6oam/srv6oam"
	echo
	echo "Files: *"
	echo "Copyright: $(date -u -d "@$SOURCE_DATE_EPOCH" +%Y) srv6oam developers"
	echo "License: Apache-2.0"
	echo " On Debian systems, the full text of the Apache License, Version 2.0, is in"
	echo " /usr/share/common-licenses/Apache-2.0."
} >"$stage/copyright"
# A native package's changelog (Debian policy 12.7): this build, from which commit.
commit=$(git -C "$top" log -1 --format=%h 2>/dev/null || echo unknown)
{
	echo "srv6oam ($version) unstable; urgency=medium"
	echo
	echo "  * Built from commit $commit of https://github.com/srv6oam/srv6oam."
	echo
	echo " -- srv6oam developers <srv6oam@users.noreply.github.com>  $(date -R -u -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$stage/changelog.gz"

mkdir -p "$out"
out=$(cd "$out" && pwd)
deb="$out/srv6oam_${version}_${arch}.deb"
# nfpm runs in the repository's top (deploy/nfpm.yaml names files from there) and expands these.
(cd "$top" && BINDIR=$bin STAGE=$stage VERSION=$version ARCH=$arch \
	"$NFPM" package --config deploy/nfpm.yaml --packager deb --target "$deb" >&2)
echo "$deb"
