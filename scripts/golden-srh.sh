#!/usr/bin/env bash
# golden-srh.sh OUTDIR — let the Linux kernel build SRHs and capture them as golden packets.
#
# Two namespaces joined by a veth pair. In namespace A, seg6 lwtunnel routes (encap, inline,
# encap.red, with and without HMAC) put an SRH on a ping; dumpcap in namespace B captures
# what arrives. Every capture is written as OUTDIR/<case>.pcap with the exact commands that
# produced it in OUTDIR/<case>.cmd. oam/srh's tests decode them field by field (the stored copy
# in oam/srh/testdata/golden) and run this script again to compare with the live kernel.
#
# Needs root, iproute2 and dumpcap/editcap (Debian tshark). Leaves no namespace behind.
set -euo pipefail

out=${1:?usage: golden-srh.sh OUTDIR}
mkdir -p "$out"
id="srhg$$"
A="${id}a" B="${id}b"
work=$(mktemp -d)

cleanup() {
	[[ -n "${cap_pid:-}" ]] && kill "$cap_pid" 2>/dev/null || true
	ip netns del "$A" 2>/dev/null || true
	ip netns del "$B" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run records a setup command (for the .cmd files) and runs it.
setup_log="$work/setup.cmd"
run() {
	echo "$*" >>"$setup_log"
	"$@"
}

run ip netns add "$A"
run ip netns add "$B"
run ip link add vA netns "$A" type veth peer name vB netns "$B"
run ip -n "$A" link set lo up
run ip -n "$B" link set lo up
run ip -n "$A" addr add 2001:db8:ab::1/64 dev vA nodad
run ip -n "$B" addr add 2001:db8:ab::2/64 dev vB nodad
run ip -n "$A" link set vA up
run ip -n "$B" link set vB up
run ip -n "$A" -6 route add 2001:db8:5::/48 via 2001:db8:ab::2 dev vA
run ip netns exec "$A" ip sr tunsrc set 2001:db8:ab::1
# ip sr hmac set reads the secret with getpass(3): setsid takes away the controlling terminal
# so that it reads stdin.
echo "printf 'srv6oam-golden-sha256\n' | setsid -w ip netns exec $A ip sr hmac set 7 sha256" >>"$setup_log"
printf 'srv6oam-golden-sha256\n' | setsid -w ip netns exec "$A" ip sr hmac set 7 sha256 >/dev/null 2>"$work/hmac.log" ||
	{ cat "$work/hmac.log" >&2; exit 1; }
echo "printf 'srv6oam-golden-sha1\n' | setsid -w ip netns exec $A ip sr hmac set 8 sha1" >>"$setup_log"
printf 'srv6oam-golden-sha1\n' | setsid -w ip netns exec "$A" ip sr hmac set 8 sha1 >/dev/null 2>"$work/hmac.log" ||
	{ cat "$work/hmac.log" >&2; exit 1; }

# case name | destination pinged | route encap
cases=(
	"encap|2001:db8:d1::1|encap seg6 mode encap segs 2001:db8:5::1,2001:db8:5::2,2001:db8:5::3"
	"inline|2001:db8:d2::1|encap seg6 mode inline segs 2001:db8:5::1,2001:db8:5::2"
	"encap-red|2001:db8:d3::1|encap seg6 mode encap.red segs 2001:db8:5::1,2001:db8:5::2,2001:db8:5::3"
	"encap-hmac-sha256|2001:db8:d4::1|encap seg6 mode encap segs 2001:db8:5::1,2001:db8:5::2 hmac 7"
	"inline-hmac-sha1|2001:db8:d5::1|encap seg6 mode inline segs 2001:db8:5::1,2001:db8:5::2,2001:db8:5::3 hmac 8"
)
for c in "${cases[@]}"; do
	IFS='|' read -r name dst encap <<<"$c"
	# shellcheck disable=SC2086 # $encap is a list of words on purpose
	run ip -n "$A" -6 route add "$dst/128" $encap dev vA
done

# Capture only packets with an SRH right after the IPv6 header.
ip netns exec "$B" dumpcap -q -i vB -f 'ip6 and ip6[6] == 43' -c "${#cases[@]}" -P -w "$work/all.pcap" 2>"$work/dumpcap.log" &
cap_pid=$!
for _ in $(seq 100); do
	grep -q 'Capturing on' "$work/dumpcap.log" 2>/dev/null && break
	sleep 0.1
done
for c in "${cases[@]}"; do
	IFS='|' read -r name dst encap <<<"$c"
	ip netns exec "$A" ping -6 -n -c 1 -W 1 -s 16 "$dst" >/dev/null 2>&1 || true
done
for _ in $(seq 100); do
	kill -0 "$cap_pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$cap_pid" 2>/dev/null; then
	echo "golden-srh: dumpcap did not see ${#cases[@]} SRH packets" >&2
	cat "$work/dumpcap.log" >&2
	exit 1
fi
wait "$cap_pid" || true
cap_pid=

i=0
for c in "${cases[@]}"; do
	IFS='|' read -r name dst encap <<<"$c"
	i=$((i + 1))
	editcap -F pcap -r "$work/all.pcap" "$out/$name.pcap" "$i"
	{
		echo "# $name: produced by scripts/golden-srh.sh on $(uname -sr), $(ip -V)"
		echo "# namespaces, link, addresses, HMAC keys:"
		sed "s/$id/srhg/g" "$setup_log"
		echo "# the packet: a ping whose route carries the SRH encap, captured in B with"
		echo "ip netns exec srhgb dumpcap -i vB -f 'ip6 and ip6[6] == 43' -P -w $name.pcap"
		echo "ip netns exec srhga ping -6 -n -c 1 -W 1 -s 16 $dst"
	} >"$out/$name.cmd"
done
echo "golden-srh: wrote ${#cases[@]} captures to $out"
