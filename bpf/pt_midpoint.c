//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/*
 * pt_midpoint: an SRv6 Path Tracing midpoint (draft-filsfils-ippm-path-tracing) for a stock
 * Linux kernel, attached to an interface's egress with TCX.
 *
 * A packet whose IPv6 header is not followed by a Hop-by-Hop header leaves at the first check,
 * untouched. One whose Hop-by-Hop header holds the Path Tracing option (type 0x32) among its
 * first eight options (an IOAM trace or padding may come first) gets this hop's Midpoint
 * Compressed Data
 * pushed onto the option's stack: the stack shifts by 3 octets towards its end (a full stack
 * loses its oldest record) and the front MCD becomes this interface's id (12 bits), its load
 * (4 bits, set by srv6-agent from the transmit rate it measures) and 8 bits of the nanoseconds
 * field of CLOCK_TAI now, which bits the timestamp template says. Layouts: docs/wire-format.md.
 *
 * Nothing here ever drops a packet: an option this program does not understand is forwarded
 * as it came and counted as malformed.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define TC_ACT_OK 0
#define ETH_HLEN 14
#define ETH_P_IPV6 0x86DD
#define IPV6_HDR_LEN 40
#define NEXTHDR_HOP 0
#define PT_OPTION 0x32
#define MCD_SIZE 3
#define MAX_SHIFT (255 - MCD_SIZE) /* the largest stack less one MCD */
#define MAX_OPTIONS 8 /* options of the Hop-by-Hop header looked at for the PT option */
#define NSEC_PER_SEC 1000000000ULL

/* Rewritten at load time by package bpf (CollectionSpec.Variables). */
volatile const __u16 interface_id = 0; /* 12 bits, this interface's id in MCDs */
volatile const __u8 tts_shift = 16;    /* template 3: bits 16-23 of the nanoseconds */

struct pt_counters {
	__u64 probes;       /* PT packets that got this hop's MCD */
	__u64 malformed;    /* a PT option this program could not use; forwarded untouched */
	__u64 store_failed; /* bpf_skb_load_bytes / bpf_skb_store_bytes errors */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pt_counters);
} counters SEC(".maps");

/* The interface's load, 0-15, written by srv6-agent as it measures the transmit rate. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} pt_load SEC(".maps");

static __always_inline struct pt_counters *get_counters(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&counters, &zero);
}

SEC("tc")
int pt_midpoint(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u8 *ip6 = data + ETH_HLEN;

	/* The fast path: not IPv6, or no Hop-by-Hop header. */
	if (skb->protocol != bpf_htons(ETH_P_IPV6))
		return TC_ACT_OK;
	if ((void *)(ip6 + 7) > data_end || ip6[6] != NEXTHDR_HOP)
		return TC_ACT_OK;

	/* Hop-by-Hop: next header and length, then options: find the PT option among the first
	 * MAX_OPTIONS (Pad1 and PadN count; the loop is unrolled for the verifier). */
	__u32 hbh_off = ETH_HLEN + IPV6_HDR_LEN;
	__u8 hbh[2];
	if (bpf_skb_load_bytes(skb, hbh_off, hbh, sizeof(hbh)) < 0)
		return TC_ACT_OK;
	__u32 hbh_len = ((__u32)hbh[1] + 1) * 8;
	__u32 off = 2, opt_len = 0;
	int found = 0;
#pragma unroll
	for (int i = 0; i < MAX_OPTIONS; i++) {
		__u8 opt[2];
		if (off + 2 > hbh_len || bpf_skb_load_bytes(skb, hbh_off + off, opt, sizeof(opt)) < 0)
			break;
		if (opt[0] == 0) { /* Pad1: one octet, no length */
			off++;
			continue;
		}
		if (opt[0] == PT_OPTION) {
			opt_len = opt[1];
			found = 1;
			break;
		}
		off += 2 + (__u32)opt[1];
	}
	if (!found)
		return TC_ACT_OK;

	struct pt_counters *c = get_counters();
	if (opt_len == 0 || opt_len % MCD_SIZE != 0 || off + 2 + opt_len > hbh_len) {
		if (c)
			c->malformed++;
		return TC_ACT_OK;
	}

	__u32 stack_off = hbh_off + off + 2;
	__u8 buf[MAX_SHIFT];
	if (opt_len > MCD_SIZE) {
		/* The stack less its last MCD moves back by one MCD. The verifier wants the length
		 * bounded in the register the helpers get: mask it behind a barrier the compiler
		 * cannot fold the checks above into. */
		__u32 n = opt_len - MCD_SIZE - 1;
		asm volatile("" : "+r"(n));
		n &= 0xff;
		if (n >= MAX_SHIFT)
			return TC_ACT_OK;
		n += 1;
		if (bpf_skb_load_bytes(skb, stack_off, buf, n) < 0 ||
		    bpf_skb_store_bytes(skb, stack_off + MCD_SIZE, buf, n, 0) < 0) {
			if (c)
				c->store_failed++;
			return TC_ACT_OK;
		}
	}

	__u32 zero = 0;
	__u32 *load = bpf_map_lookup_elem(&pt_load, &zero);
	__u16 oif_oil = (interface_id & 0xfff) << 4 | (load ? (*load & 0xf) : 0);
	__u64 nsec = bpf_ktime_get_tai_ns() % NSEC_PER_SEC;
	__u8 mcd[MCD_SIZE] = {oif_oil >> 8, oif_oil & 0xff, (__u8)(nsec >> tts_shift)};
	if (bpf_skb_store_bytes(skb, stack_off, mcd, MCD_SIZE, 0) < 0) {
		if (c)
			c->store_failed++;
		return TC_ACT_OK;
	}
	if (c)
		c->probes++;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
