#!/usr/bin/env bash
# Fails when the committed bpf2go outputs under bpf/ differ from what `go generate ./bpf/...`
# produces from the committed C sources. Regenerates in a temporary copy of the module, so the
# work tree is never touched. Needs clang, llvm and libbpf-dev (make deps).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Copy the module (sources only; generated files included, so the diff shows what changed).
(cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$tmp" 2>/dev/null || true)
cd "$tmp"
go generate ./bpf/...

status=0
for f in $(cd "$root" && ls bpf/*_bpfel.go bpf/*_bpfel.o); do
	if ! cmp -s "$root/$f" "$tmp/$f"; then
		echo "stale generated file: $f (run 'make generate' and commit the result)" >&2
		status=1
	fi
done
for f in $(cd "$tmp" && ls bpf/*_bpfel.go bpf/*_bpfel.o); do
	if [ ! -e "$root/$f" ]; then
		echo "generated file not committed: $f (run 'make generate' and commit it)" >&2
		status=1
	fi
done
[ "$status" -eq 0 ] && echo "bpf2go outputs are fresh"
exit "$status"
