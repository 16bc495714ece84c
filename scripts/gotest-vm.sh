#!/usr/bin/env bash
# gotest-vm.sh [go test flags] PACKAGES...: `go test` with the test binaries built on the host
# and run, one package after the other, inside the VM of scripts/vmtest.sh (a kernel with the
# SRv6 features the lab tests need). Prints what `go test` prints: each package's output when it
# fails or with -v, and an ok/FAIL line per package; exits non-zero when any package failed.
# Flags are passed to every test binary (-run, -v, -count, -timeout, -short, ...).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
flags=()
pkgs=()
for a in "$@"; do
	case "$a" in
	-*) flags+=("-test.${a#-}") ;;
	*) pkgs+=("$a") ;;
	esac
done
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

# Outside /tmp: the guest has a /tmp of its own.
out="$root/bin/test"
rm -rf "$out" && mkdir -p "$out"
go test -c -o "$out/" "${pkgs[@]}"
: >"$out/list"
for p in $(go list "${pkgs[@]}"); do
	bin="$out/$(basename "$p").test"
	dir=$(go list -f '{{.Dir}}' "$p")
	if [ -e "$bin" ]; then
		echo "$p $dir $bin" >>"$out/list"
	else
		echo "?   	$p	[no test files]"
	fi
done
# Two packages of one name would overwrite each other's binary: refuse rather than test one twice.
dups=$(awk '{print $3}' "$out/list" | sort | uniq -d)
[ -z "$dups" ] || { echo "gotest-vm: test binaries collide: $dups" >&2; exit 2; }

verbose=0
for f in "${flags[@]}"; do [ "$f" = "-test.v" ] && verbose=1; done
runner="$out/run.sh"
{
	echo '#!/bin/bash'
	echo 'status=0'
	echo "flags=($(printf '%q ' "${flags[@]}"))"
	cat <<'EOF'
while read -r pkg dir bin; do
	start=$(date +%s%N)
	log=$(mktemp)
	(cd "$dir" && "$bin" "${flags[@]}") >"$log" 2>&1
	rc=$?
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	t=$(printf '%d.%03ds' $((ms / 1000)) $((ms % 1000)))
	if [ $rc -eq 0 ]; then
		[ "$VERBOSE" = 1 ] && cat "$log"
		printf 'ok  \t%s\t%s\n' "$pkg" "$t"
	else
		cat "$log"
		printf 'FAIL\t%s\t%s\n' "$pkg" "$t"
		status=1
	fi
	rm -f "$log"
done <"$LIST"
exit $status
EOF
} >"$runner"
chmod +x "$runner"
VERBOSE=$verbose LIST="$out/list" exec "$root/scripts/vmtest.sh" env VERBOSE=$verbose LIST="$out/list" "$runner"
