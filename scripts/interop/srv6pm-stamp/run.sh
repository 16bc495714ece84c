#!/usr/bin/env bash
# run.sh: STAMP interop between srv6oam (srv6-ping --stamp, srv6-agent's reflector) and
# everywan-io/srv6pm-delay-measurement (Python, Apache-2.0; a checkout prepared as README.md
# says, in ./stampinv/ew or $STAMPINV_EW), over srv6oam's line4 lab:
#
#   h1 fc00:0:1::1 -- r1 fc00:0:2::1 -- r2 fc00:0:3::1 (End fc00:0:3::e) -- h2 fc00:0:4::1
#
#   (A) their Session-Sender on h1 -> srv6-agent's reflector on h2, test packets through
#       [fc00:0:3::e, fc00:0:4::1]; a seg6 inline route on h2 gives the replies an SRH (their
#       sniffer takes nothing else). Stateless NTP, then (EXTRAS=1, the default) stateful NTP
#       and stateless PTP replies.
#   (B) srv6-ping --stamp --segs fc00:0:3::e on h1 -> their Session-Reflector on h2, which
#       answers through [fc00:0:3::e, fc00:0:1::1]. As text, --json and --shared-clock.
#   tshark on h2's interface towards r2 captures each run (udp.port==862 as twamp.test).
#
# Needs a kernel with seg6 lwtunnel and seg6local; on a host without, from the repository:
#   make -s build && scripts/vmtest.sh scripts/interop/srv6pm-stamp/run.sh
# Results in $OUT (default ./out; SUMMARY.txt first). COUNT=N test packets (default 5).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
MAIN=${MAIN:-$(cd "$HERE/../../.." && pwd)}
BIN=${BIN:-$MAIN/bin}
OUT=${OUT:-$HERE/out}
LAB=line4
NS_H1=s6t-$LAB-h1 NS_H2=s6t-$LAB-h2 IF_H1=to-r1 IF_H2=to-r2
. "$HERE/lib.sh"

[ "$(id -u)" = 0 ] || { echo "run.sh: run as root (in the VM: scripts/vmtest.sh runs it as root)" >&2; exit 2; }
for b in srv6-agent srv6-ping srv6-testnet; do
	[ -x "$BIN/$b" ] || { echo "run.sh: $BIN/$b missing: cd $MAIN && make -s build" >&2; exit 2; }
done
command -v tshark >/dev/null || { echo "run.sh: tshark missing" >&2; exit 2; }
"$PY" -c 'import scapy, netifaces, grpc' || { echo "run.sh: $PY lacks scapy/netifaces/grpc" >&2; exit 2; }

LAB_UP=0
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	cleanup_pids
	if [ "$LAB_UP" = 1 ]; then
		if "$BIN/srv6-testnet" down "$LAB" >>"$OUT/run.log" 2>&1; then
			echo "run.sh: lab $LAB removed" >&2
		else
			echo "run.sh: srv6-testnet down $LAB failed (see $OUT/run.log)" >&2
		fi
	fi
	echo "run.sh: exit status $rc; results in $OUT" >&2
	exit "$rc"
}
trap cleanup EXIT INT TERM

rm -rf "$OUT"
mkdir -p "$OUT"
{
	echo "date: $(date -u +%FT%TZ)"
	echo "kernel: $(uname -r)"
	echo "srv6oam: $("$BIN/srv6-agent" --version 2>&1 | head -1)"
	echo "srv6oam tree: $(git -C "$MAIN" rev-parse --short HEAD 2>/dev/null) ($(git -C "$MAIN" status --short 2>/dev/null | wc -l) files changed)"
	echo "python: $("$PY" -c 'import sys, scapy; print(sys.version.split()[0], "scapy", scapy.__version__)')"
	echo "tshark: $(tshark --version 2>/dev/null | head -1)"
	echo "ip6tables: $(ip6tables --version 2>&1)"
} >"$OUT/env.txt"
cat "$OUT/env.txt" >&2

note "lab $LAB up"
LAB_UP=1
"$BIN/srv6-testnet" up "$LAB" >"$OUT/lab-up.txt" 2>&1 || { cat "$OUT/lab-up.txt" >&2; exit 1; }
cat "$OUT/lab-up.txt" >&2
for n in "$NS_H1:$IF_H1" "$NS_H2:$IF_H2"; do
	ns=${n%%:*} ifc=${n#*:}
	# the lab sets these on SRv6 nodes; make sure (SRH accepted at the final segment)
	inns "$ns" sysctl -qw net.ipv6.conf.all.seg6_enabled=1 "net.ipv6.conf.$ifc.seg6_enabled=1"
	inns "$ns" sysctl net.ipv6.conf.all.seg6_enabled "net.ipv6.conf.$ifc.seg6_enabled" >>"$OUT/sysctl.txt"
done
wait_for 30 "h1 -> h2 ping" inns "$NS_H1" ping -6 -c1 -W1 "$H2"

reply_srh_on() { # srv6-agent's replies to h1 get an SRH: H.Insert through r2's End
	inns "$NS_H2" ip -6 route add "$H1/128" encap seg6 mode inline segs "$R2_END" \
		via fd00:0:0:3::1 dev "$IF_H2" metric 1
	inns "$NS_H2" ip -6 route show "$H1/128" >"$OUT/h2-route-to-h1.txt"
	cat "$OUT/h2-route-to-h1.txt" >&2
}
reply_srh_off() {
	inns "$NS_H2" ip -6 route del "$H1/128" metric 1
}

reply_srh_on
run_A stateless --stamp-timestamps ntp
if [ "${EXTRAS:-1}" = 1 ]; then
	run_A stateful --stamp-timestamps ntp --stamp-mode stateful
	run_A ptp --stamp-timestamps ptp
fi
reply_srh_off
run_B

note "summary"
"$PY" "$HERE/summarize.py" "$OUT" | tee "$OUT/SUMMARY.txt" >&2
