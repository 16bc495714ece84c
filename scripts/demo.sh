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

agents=()
# teardown stops the agents first (SIGTERM: each removes its End.OAM routes and program), then
# removes the lab.
teardown() {
	for pid in "${agents[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${agents[@]}"; do wait "$pid" 2>/dev/null || true; done
	"$bin/srv6-testnet" down "$lab" >/dev/null 2>&1 || true
}
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

on h1 "$bin/srv6-trace" --segs fc00:0:2::e,fc00:0:3::e fc00:0:4::1

# One-way delay per segment: srv6-agent binds an End.OAM SID (End.BPF) on r1, r2 and h2; the
# probes are timestamped in the kernel at each of them. All lab nodes share this host's clock.
for spec in r1:2:to-r2 r2:3:to-h2 h2:4:to-r2; do
	IFS=: read -r node id dev <<<"$spec"
	step "[$node] $bin/srv6-agent --node-id $id --sid fc00:0:$id::b0,dev=$dev --collector fc00::/16 &"
	"$bin/srv6-testnet" exec "$lab" "$node" -- "$bin/srv6-agent" --node-id "$id" \
		--sid "fc00:0:$id::b0,dev=$dev" --collector fc00::/16 2>/dev/null &
	agents+=($!)
done
# Wait until every agent has bound its SID (its seg6local route is in the node's table), not a
# fixed time: a slow machine (the CPU-emulated VM) takes longer to load the program.
for spec in r1:2 r2:3 h2:4; do
	IFS=: read -r node id <<<"$spec"
	for _ in $(seq 100); do
		"$bin/srv6-testnet" exec "$lab" "$node" -- ip -6 route show "fc00:0:$id::b0" 2>/dev/null | grep -q seg6local && break
		sleep 0.2
	done
done
on h1 "$bin/srv6-ping" --timestamps --shared-clock -c 3 -i 0.2 --segs fc00:0:2::b0,fc00:0:3::b0 fc00:0:4::b0

step "$bin/srv6-testnet down $lab"
teardown
trap - EXIT
echo "lab $lab removed."
