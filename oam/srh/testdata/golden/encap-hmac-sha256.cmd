# encap-hmac-sha256: produced by scripts/golden-srh.sh on Linux 6.18.44-fc-v657, ip utility, iproute2-6.1.0, libbpf 1.1.2
# namespaces, link, addresses, HMAC keys:
ip netns add srhga
ip netns add srhgb
ip link add vA netns srhga type veth peer name vB netns srhgb
ip -n srhga link set lo up
ip -n srhgb link set lo up
ip -n srhga addr add 2001:db8:ab::1/64 dev vA nodad
ip -n srhgb addr add 2001:db8:ab::2/64 dev vB nodad
ip -n srhga link set vA up
ip -n srhgb link set vB up
ip -n srhga -6 route add 2001:db8:5::/48 via 2001:db8:ab::2 dev vA
ip netns exec srhga ip sr tunsrc set 2001:db8:ab::1
printf 'srv6oam-golden-sha256\n' | setsid -w ip netns exec srhga ip sr hmac set 7 sha256
printf 'srv6oam-golden-sha1\n' | setsid -w ip netns exec srhga ip sr hmac set 8 sha1
ip -n srhga -6 route add 2001:db8:d1::1/128 encap seg6 mode encap segs 2001:db8:5::1,2001:db8:5::2,2001:db8:5::3 dev vA
ip -n srhga -6 route add 2001:db8:d2::1/128 encap seg6 mode inline segs 2001:db8:5::1,2001:db8:5::2 dev vA
ip -n srhga -6 route add 2001:db8:d3::1/128 encap seg6 mode encap.red segs 2001:db8:5::1,2001:db8:5::2,2001:db8:5::3 dev vA
ip -n srhga -6 route add 2001:db8:d4::1/128 encap seg6 mode encap segs 2001:db8:5::1,2001:db8:5::2 hmac 7 dev vA
ip -n srhga -6 route add 2001:db8:d5::1/128 encap seg6 mode inline segs 2001:db8:5::1,2001:db8:5::2,2001:db8:5::3 hmac 8 dev vA
# the packet: a ping whose route carries the SRH encap, captured in B with
ip netns exec srhgb dumpcap -i vB -f 'ip6 and ip6[6] == 43' -P -w encap-hmac-sha256.pcap
ip netns exec srhga ping -6 -n -c 1 -W 1 -s 16 2001:db8:d4::1
