# lib.sh: the interop steps shared by run.sh (srv6oam's line4 lab, in the VM) and
# hosttest/host_test.sh (three plain namespaces on a host without seg6 lwtunnel). Sourced, not run.
#
# The caller sets:
#   NS_H1, NS_H2      network namespaces of the sender host h1 and the reflector host h2
#   IF_H1, IF_H2      h1's interface towards r1, h2's towards r2
#   OUT               results directory;  BIN  srv6oam's bin/;  HERE  this directory
#   reply_srh_on, reply_srh_off   functions: make srv6-agent's replies (h2 -> h1) carry an SRH,
#                     and stop doing so
# and gets: run_A VARIANT [srv6-agent flags...], run_B, note, cleanup_pids.

PY=${PY:-/usr/bin/python3}           # the system python: scapy 2.5.0, grpcio, netifaces
export PYTHONDONTWRITEBYTECODE=1
H1=fc00:0:1::1 H2=fc00:0:4::1 R2_END=fc00:0:3::e
SSID=7 COUNT=${COUNT:-5}
PIDS=()

note() { printf '\n=== %s ===\n' "$*" | tee -a "$OUT/run.log" >&2; }
# inns NS CMD...: run CMD in NS (foreground only: a function put in the background is a subshell,
# and signalling its $! would not reach CMD, so background commands call ip netns exec directly)
inns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds
	local t=$1 what=$2 i; shift 2
	for ((i = 0; i < t * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "timed out after ${t}s waiting for $what" >&2
	return 1
}

stop_pid() { # stop_pid PID [SIGNAL]: signal a process this script started and wait for it
	local pid=$1 sig=${2:-TERM} i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -"$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
	wait "$pid" 2>/dev/null || true
}

cleanup_pids() {
	local p
	for p in "${PIDS[@]}"; do stop_pid "$p" TERM; done
	PIDS=()
}

CAP_PID=""
start_capture() { # start_capture NS IFACE NAME: tshark on IFACE of NS into $OUT/NAME.pcapng
	local ns=$1 ifc=$2 name=$3
	: >"$OUT/$name.tshark.log"
	ip netns exec "$ns" tshark -n -i "$ifc" -f ip6 -w "$OUT/$name.pcapng" >"$OUT/$name.tshark.log" 2>&1 &
	CAP_PID=$!
	PIDS+=("$CAP_PID")
	wait_for 120 "tshark on $ns $ifc" grep -q "Capturing on" "$OUT/$name.tshark.log"
}

stop_capture() { # stop_capture NAME: stop tshark, decode the STAMP packets
	local name=$1
	sleep 0.5
	stop_pid "$CAP_PID" TERM
	local pcap="$OUT/$name.pcapng" d=(-n -d udp.port==862,twamp.test)
	tshark -r "$pcap" "${d[@]}" -Y twamp.test -T fields -E header=y -E separator=/t -E occurrence=a -E aggregator=, \
		-e frame.number -e frame.time_relative -e ipv6.src -e ipv6.dst -e ipv6.hlim \
		-e ipv6.routing.segleft -e ipv6.routing.srh.addr -e udp.srcport -e udp.dstport -e udp.length \
		-e twamp.test.seq_number -e twamp.test.sender_seq_number -e twamp.test.error_estimate.s \
		-e twamp.test.error_estimate.z -e twamp.test.error_estimate.scale \
		-e twamp.test.error_estimate.multiplier -e twamp.test.sender_ttl \
		-e twamp.test.timestamp -e twamp.test.receive_timestamp -e twamp.test.sender_timestamp \
		-e _ws.expert.message \
		>"$OUT/$name.fields.tsv" 2>"$OUT/$name.fields.err" || true
	tshark -r "$pcap" "${d[@]}" -Y twamp.test -V -O ipv6,udp,twamp.test >"$OUT/$name.verbose.txt" 2>&1 || true
	tshark -r "$pcap" -n >"$OUT/$name.summary.txt" 2>&1 || true
	echo "capture $name: $(($(wc -l <"$OUT/$name.fields.tsv") - 1)) STAMP packets (tshark twamp.test), $(wc -l <"$OUT/$name.summary.txt") IPv6 packets in all:" >&2
	column -t -s $'\t' "$OUT/$name.fields.tsv" 2>/dev/null | cut -c1-220 >&2 || cat "$OUT/$name.fields.tsv" >&2
}

# Direction A: their Session-Sender on h1 -> srv6-agent's reflector on h2.
run_A() { # run_A VARIANT [extra srv6-agent flags]
	local v=$1; shift
	local n="A-$v" agent rc=0
	note "$n: their Session-Sender on h1 -> srv6-agent's reflector on h2 ($*)"
	start_capture "$NS_H2" "$IF_H2" "$n-h2"
	ip netns exec "$NS_H2" "$BIN/srv6-agent" --stamp-listen '[::]:862' --stamp-sender fc00:0:1::/48 \
		--metrics-listen '[::1]:9470' "$@" >"$OUT/$n-agent.log" 2>&1 &
	agent=$!
	PIDS+=("$agent")
	wait_for 120 "srv6-agent's reflector" grep -q "STAMP reflector listening" "$OUT/$n-agent.log"
	inns "$NS_H1" "$PY" "$HERE/their_sender.py" --iface "$IF_H1" --src "$H1" --segs "$R2_END" \
		--reflector "$H2" --ssid "$SSID" --count "$COUNT" --interval 0.5 --sender-port 50000 \
		--out "$OUT/$n-sender.json" >"$OUT/$n-sender.txt" 2>"$OUT/$n-sender.log" || rc=$?
	echo "their sender exit status $rc" >>"$OUT/$n-sender.txt"
	cat "$OUT/$n-sender.txt" >&2
	inns "$NS_H2" curl -s --max-time 10 'http://[::1]:9470/metrics' 2>&1 | grep '^srv6_agent_stamp' >"$OUT/$n-agent-metrics.txt" || true
	cat "$OUT/$n-agent-metrics.txt" >&2
	stop_pid "$agent" TERM
	stop_capture "$n-h2"
}

# Direction B: srv6-ping --stamp on h1 -> their Session-Reflector on h2.
run_B() {
	local refl rc
	note "B: srv6-ping --stamp on h1 -> their Session-Reflector on h2"
	start_capture "$NS_H2" "$IF_H2" "B-h2"
	rm -f "$OUT/B-reflector.ready"
	ip netns exec "$NS_H2" "$PY" "$HERE/their_reflector.py" --iface "$IF_H2" --src "$H2" \
		--return-segs "$R2_END,$H1" --ssid "$SSID" --port 862 --duration 900 \
		--ready "$OUT/B-reflector.ready" --out "$OUT/B-reflector.json" \
		>"$OUT/B-reflector.txt" 2>"$OUT/B-reflector.log" &
	refl=$!
	PIDS+=("$refl")
	wait_for 180 "their reflector" test -e "$OUT/B-reflector.ready"
	inns "$NS_H2" ip6tables -t raw -S PREROUTING >"$OUT/B-h2-ip6tables-raw.txt" 2>&1 || true
	local ping=("$BIN/srv6-ping" --stamp --stamp-ssid "$SSID" --stamp-timestamps ntp --segs "$R2_END" -c "$COUNT" -i 0.2 "$H2")
	local k args
	for k in text json shared-clock; do
		case $k in
		text) args=() ;;
		json) args=(--json) ;;
		shared-clock) args=(--shared-clock) ;;
		esac
		rc=0
		echo "# ${ping[*]} ${args[*]}" >"$OUT/B-ping-$k.txt"
		inns "$NS_H1" "${ping[@]}" "${args[@]}" >>"$OUT/B-ping-$k.txt" 2>&1 || rc=$?
		echo "# exit status $rc" >>"$OUT/B-ping-$k.txt"
		[ "$k" = json ] && grep -v '^#' "$OUT/B-ping-$k.txt" >"$OUT/B-ping.json"
		cat "$OUT/B-ping-$k.txt" >&2
	done
	stop_pid "$refl" TERM
	cat "$OUT/B-reflector.txt" >&2
	stop_capture "B-h2"
}
