#!/usr/bin/env bash
# make demo: bring up the bundled line4 lab, show srv6-ping (and srv6-trace once it exists)
# running through it, and tear the lab down again, also on Ctrl-C or a failure half way.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "make demo builds network namespaces and needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_NET_RAW)." >&2
	exit 2
fi

bin=./bin
lab="demo$$"
topo=testnet/topologies/line4.yaml

teardown() { "$bin/srv6-testnet" down "$lab" >/dev/null 2>&1 || true; }
trap teardown EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "$*"; "$@"; }
# on NODE CMD...: run a command inside a node of the lab.
on() { local node=$1; shift; step "[$node] $*"; "$bin/srv6-testnet" exec "$lab" "$node" -- "$@"; }

cat <<EOF
srv6oam demo on the bundled line4 lab:

   h1 ────────── r1 ────────── r2 ────────── h2
   fc00:0:1::1   fc00:0:2::1   fc00:0:3::1   fc00:0:4::1   (loopbacks)
                 End fc00:0:2::e  End fc00:0:3::e
                 End.DT6 ::d6     End.DT6 ::d6
EOF

run "$bin/srv6-testnet" up --name "$lab" "$topo"

# A plain IPv6 ping first, then the same destination steered through r1 and r2 by segment list.
on h1 "$bin/srv6-ping" -c 3 -i 0.2 fc00:0:4::1
on h1 "$bin/srv6-ping" -c 3 -i 0.2 --segs fc00:0:2::e,fc00:0:3::e fc00:0:4::1
on h1 "$bin/srv6-ping" -c 3 -i 0.2 --insert --segs fc00:0:2::e,fc00:0:3::e fc00:0:4::1
on h1 "$bin/srv6-ping" -c 2 -i 0.2 --json --segs fc00:0:2::e,fc00:0:3::e fc00:0:4::1

if [ -x "$bin/srv6-trace" ]; then
	on h1 "$bin/srv6-trace" -n --segs fc00:0:2::e,fc00:0:3::e fc00:0:4::1
else
	echo
	echo "(srv6-trace is not built yet: it arrives with the trace issue)"
fi

step "$bin/srv6-testnet down $lab"
teardown
trap - EXIT
echo "lab $lab removed."
