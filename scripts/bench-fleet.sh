#!/usr/bin/env bash
# bench-fleet.sh [JOBS] [MONITORS] — a fleet of srv6-monitor processes sharing one job list by
# `shard:`, behind one Prometheus, measured side by side (docs/srv6-monitor.md, "Sharding").
#
# Two network namespaces of its own joined by a veth pair (as BenchmarkFastLiveness's): the
# monitors and Prometheus in one, the SIDs fc00:0:2::e, fc00:0:3::e and a target per job
# (fc00:0:4::1000+i) as local addresses in the other, whose kernel does End on them (SRH
# processing; no seg6local needed, so this runs natively). JOBS echo jobs (default 6000) at
# 1 probe/s through both SIDs, split over MONITORS (default 3) srv6-monitor processes with the
# same file and shard index 0..MONITORS-1. After a warm-up, over a 30 s window: each monitor's
# jobs, CPU (utime + stime from /proc/PID/stat) and RSS; Prometheus's view of the whole fleet
# (jobs, segments up, probes per second); PROM=0 runs the monitors unscraped. Root; make build
# first. Leaves nothing behind.
set -euo pipefail
JOBS=${1:-6000}
MONS=${2:-3}
WINDOW=${WINDOW:-30}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$top/bin
[ -x "$bin/srv6-monitor" ] || { echo "bench-fleet: $bin/srv6-monitor missing: make build" >&2; exit 2; }
command -v prometheus >/dev/null || { echo "bench-fleet: prometheus missing: make deps" >&2; exit 2; }
id=$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
M=fleet-m-$id F=fleet-f-$id
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$M" 2>/dev/null || true
	ip netns del "$F" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

ip netns add "$M"
ip netns add "$F"
ip -n "$M" link add fleet-m type veth peer name fleet-f netns "$F"
ip -n "$M" link set lo up
ip -n "$F" link set lo up
ip -n "$M" addr add fd00::1/64 dev fleet-m nodad
ip -n "$F" addr add fd00::2/64 dev fleet-f nodad
ip -n "$M" link set fleet-m up
ip -n "$F" link set fleet-f up
ip -n "$M" -6 route add fc00::/16 via fd00::2 dev fleet-m
for s in all fleet-f lo; do ip netns exec "$F" sysctl -qw "net.ipv6.conf.$s.seg6_enabled=1"; done
{
	echo "addr add fc00:0:2::e/128 dev lo"
	echo "addr add fc00:0:3::e/128 dev lo"
	for ((i = 0; i < JOBS; i++)); do printf 'addr add fc00:0:4::%x/128 dev lo\n' $((0x1000 + i)); done
} | ip -n "$F" -batch -

{
	echo "defaults:"
	echo "  interval: 1s"
	echo "jobs:"
	for ((i = 0; i < JOBS; i++)); do
		printf '  - name: job-%05d\n    target: fc00:0:4::%x\n    segments: [fc00:0:2::e, fc00:0:3::e]\n' "$i" $((0x1000 + i))
	done
} >"$dir/jobs.yaml"
targets=""
for ((k = 0; k < MONS; k++)); do
	{ echo "shard: {count: $MONS, index: $k}"; cat "$dir/jobs.yaml"; } >"$dir/mon$k.yaml"
	port=$((9471 + k))
	ip netns exec "$M" "$bin/srv6-monitor" --config "$dir/mon$k.yaml" --listen "[::1]:$port" --log-level warn 2>"$dir/mon$k.log" &
	pids+=($!)
	targets="$targets'[::1]:$port',"
done
if [ "${PROM:-1}" = 1 ]; then
cat >"$dir/prometheus.yml" <<EOF
global: {scrape_interval: 5s, evaluation_interval: 5s}
scrape_configs:
  - job_name: srv6-monitor
    static_configs:
      - targets: [${targets%,}]
EOF
ip netns exec "$M" prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/tsdb" \
	--web.listen-address="[::1]:9090" --log.level=warn 2>"$dir/prom.log" &
pids+=($!)
fi

sleep 15 # every job started (a random phase in its first second) and up
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -a c0
for ((k = 0; k < MONS; k++)); do c0[k]=$(cpu "${pids[k]}"); done
sleep "$WINDOW"
echo "fleet: $JOBS jobs at 1 probe/s over $MONS monitors, ${WINDOW} s window, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %6s %8s %8s %8s\n' monitor jobs CPU RSS-MB HWM-MB
for ((k = 0; k < MONS; k++)); do
	p=${pids[k]}
	c1=$(cpu "$p")
	n=$(ip netns exec "$M" curl -s "http://[::1]:$((9471 + k))/metrics" | awk '$1 == "srv6_monitor_jobs" {print $2}')
	rss=$(awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$p/status")
	hwm=$(awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$p/status")
	printf '%-8s %6s %8.3f %8s %8s\n' "mon$k" "$n" "$(echo "(${c1} - ${c0[k]}) / $ticks / $WINDOW" | bc -l)" "$rss" "$hwm"
done
q() { ip netns exec "$M" curl -s --get "http://[::1]:9090/api/v1/query" --data-urlencode "query=$1" |
	python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")'; }
[ "${PROM:-1}" = 1 ] && echo "Prometheus: jobs $(q 'sum(srv6_monitor_jobs)'), segments up $(q 'count(srv6_monitor_segment_up == 1)'), distinct jobs $(q 'count(count by (job_name) (srv6_monitor_segment_up))'), probes/s $(q 'sum(rate(srv6_monitor_probes_sent_total[20s]))'), lost/s $(q 'sum(rate(srv6_monitor_probes_lost_total[20s]))')"
# Jobs that sent and never got an answer, echo identifiers used by more than one monitor (raw
# ICMPv6 sockets see every reply on the host), and the replies each monitor dropped as another's.
foreign=0
for ((k = 0; k < MONS; k++)); do
	ip netns exec "$M" curl -s "http://[::1]:$((9471 + k))/api/v1/jobs" >"$dir/jobs$k.json"
	f=$(ip netns exec "$M" curl -s "http://[::1]:$((9471 + k))/metrics" | awk '$1 == "srv6_monitor_foreign_replies_total" {printf "%d", $2}')
	foreign=$((foreign + ${f:-0}))
done
echo "replies under a job's identifier answering another monitor's probes (dropped): $foreign"
python3 - "$dir" "$MONS" <<'PY'
import json, sys, collections
d, n = sys.argv[1], int(sys.argv[2])
silent, ids = [], collections.defaultdict(set)
for k in range(n):
    for j in json.load(open(f"{d}/jobs{k}.json"))["jobs"]:
        if j.get("sent", 0) > 0 and j.get("received", 0) == 0:
            silent.append(f"mon{k}:{j['name']}(id {j.get('icmp_identifier')}, {j['sent']} sent)")
        if "icmp_identifier" in j:
            ids[j["icmp_identifier"]].add(k)
shared = sum(1 for v in ids.values() if len(v) > 1)
print(f"never answered: {len(silent)} {' '.join(silent[:10])}; echo identifiers in more than one monitor: {shared}")
PY
