//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/*
 * end_oam: an SRv6 End function for seg6local End.BPF that timestamps srv6oam probes.
 *
 * The kernel has already validated the SRH (HMAC included when required), decremented Segments
 * Left and set the destination to the next SID when this program runs. The SRH read here is the
 * one the kernel processed (find_srh): usually the routing header right after the IPv6 header;
 * behind a Hop-by-Hop or Destination Options header too; never a stale one with Segments Left 0
 * that the kernel skipped. A packet whose first SRH TLV (after an optional HMAC TLV) is not the
 * Probe TLV leaves at once with BPF_OK: that is the fast path every non-probe packet takes. A probe gets a CLOCK_TAI timestamp and this node's
 * identity written into its pre-allocated slot k = Segments Left + 1 of the Timestamp Slots TLV,
 * and, when it asks for a report, an event on the ring buffer for srv6-agent. Layouts: docs/wire-format.md.
 *
 * Nothing here ever drops a packet: anything this program does not understand is forwarded as it
 * came and, when it looked like a probe, counted as malformed.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define IPV6_HDR_LEN 40
#define SRH_FIXED_LEN 8
#define SRH_OFF IPV6_HDR_LEN
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_DEST 60
#define SRH_TYPE 4
#define MAX_EXT_HDRS 8 /* extension headers walked before giving up on finding the SRH */
#define SRH_TLV_HMAC 5

#define PROBE_TLV_LEN 38 /* Length field of the Probe TLV */
#define PROBE_TLV_SIZE (2 + PROBE_TLV_LEN)
#define PROBE_VERSION 1
#define PROBE_FLAG_REPORT 0x80
#define PROBE_FLAG_CAPTURE 0x40

#define SLOTS_HDR_SIZE 8 /* type, length, N, flags, reserved */
#define SLOT_SIZE 16
#define SLOT_FLAG_WRITTEN 0x80

/* Rewritten at load time by package bpf (CollectionSpec.Variables); the defaults are the codes of
 * docs/wire-format.md. */
volatile const __u8 probe_tlv_type = 124;
volatile const __u8 slots_tlv_type = 252;
volatile const __u32 node_id = 0;
/* The agent is woken once this many bytes of events wait in the ring (package bpf sets a quarter
 * of the ring); below that, events are written with BPF_RB_NO_WAKEUP and the agent polls. */
volatile const __u64 wakeup_bytes = 1 << 18;

/* One entry; per CPU, so increments need no atomics. Package bpf sums the CPUs. */
struct oam_counters {
	__u64 packets;      /* every packet through an end_oam SID */
	__u64 probes;       /* well-formed probes (slot written or attempted) */
	__u64 malformed;    /* a Probe TLV this program could not use; forwarded untouched */
	__u64 events_lost;  /* events not written: the ring buffer was full */
	__u64 store_failed; /* bpf_lwt_seg6_store_bytes errors */
	__u64 ambiguous;    /* more than one routing header, the processed one uncertain: untouched */
};

/* The event sent to srv6-agent, in host byte order. When the probe sets the C flag, the
 * first capture_len bytes of the packet (from the IPv6 header) follow it in the sample. */
struct oam_event {
	__u8 sid[16];       /* the segment this node just processed: Segment List[segments_left+1] */
	__u8 report_to[16]; /* collector address from the Probe TLV */
	__u64 timestamp_ns; /* bpf_ktime_get_tai_ns() */
	__u64 sender_tx_ns; /* the prober's TX timestamp from the Probe TLV */
	__u32 session;
	__u32 sequence;
	__u32 ifindex;      /* ingress interface */
	__u32 node_id;
	__u32 packet_len;   /* skb->len */
	__u16 report_port;
	__u16 capture_len;  /* bytes of packet appended after this struct */
	__u8 segments_left; /* after the kernel's decrement */
	__u8 probe_flags;
	__u8 slot_written;  /* 1 when the slot was written in the packet */
	__u8 pad[5];
};

struct probe_tlv {
	__u8 type;
	__u8 len;
	__u8 version;
	__u8 flags;
	__be32 session;
	__be32 sequence;
	__be64 sender_tx_ns;
	__u8 report_to[16];
	__be16 report_port;
	__u8 capture_len;
	__u8 reserved;
} __attribute__((packed));

struct slots_hdr {
	__u8 type;
	__u8 len;
	__u8 count;
	__u8 flags;
	__u32 reserved;
};

struct slot {
	__be32 node_id;
	__u8 flags;
	__u8 segments_left;
	__u16 reserved;
	__be64 timestamp_ns;
};

struct srh_fixed {
	__u8 nexthdr;
	__u8 hdrlen;
	__u8 type;
	__u8 segments_left;
	__u8 last_entry;
	__u8 flags;
	__u16 tag;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct oam_counters);
} counters SEC(".maps");

/* One ring for all CPUs; package bpf sets its size at load time. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

#define MAX_CAPTURE 255 /* Capture len is one byte */

/* Never used by the program: makes the struct types user space decodes reach the BTF, so bpf2go
 * emits Go types for them. */
const struct oam_event *unused_event __attribute__((unused));

static __always_inline int malformed(struct oam_counters *c)
{
	if (c)
		c->malformed++;
	return BPF_OK;
}

/* probe handles a packet whose first (non-HMAC) TLV has the probe type, at probe_off from the
 * IPv6 header. srh_off is the SRH's offset, srh_end the offset just past it. */
static __always_inline int probe(struct __sk_buff *skb, struct oam_counters *c, __u32 srh_off,
			    __u32 probe_off, __u32 srh_end, __u32 segments_left, __u32 last_entry)
{
	__u64 now = bpf_ktime_get_tai_ns();
	struct probe_tlv p;
	struct slots_hdr sh;
	struct oam_event ev = {};
	struct slot s;
	__u32 k, slot_off, slots_off, caplen;
	__u64 flags;
	__u8 *buf;

	if (probe_off > 4096 || srh_end > 4096)
		return malformed(c);
	if (probe_off + PROBE_TLV_SIZE > srh_end)
		return malformed(c);
	if (bpf_skb_load_bytes(skb, probe_off, &p, sizeof(p)) < 0)
		return malformed(c);
	if (p.len != PROBE_TLV_LEN || p.version != PROBE_VERSION)
		return malformed(c);

	/* The segment this node processed: the kernel has already decremented Segments Left. */
	k = segments_left + 1;
	if (k > last_entry || k > 255)
		return malformed(c);

	ev.slot_written = 0;
	slots_off = probe_off + PROBE_TLV_SIZE;
	if (slots_off + SLOTS_HDR_SIZE <= srh_end) {
		if (bpf_skb_load_bytes(skb, slots_off, &sh, sizeof(sh)) < 0)
			return malformed(c);
		if (sh.type == slots_tlv_type) {
			/* A slots TLV must describe itself exactly and hold a slot for segment k. */
			if (sh.len != 6 + SLOT_SIZE * (__u32)sh.count)
				return malformed(c);
			if (k >= sh.count)
				return malformed(c);
			slot_off = slots_off + SLOTS_HDR_SIZE + SLOT_SIZE * k;
			if (slot_off + SLOT_SIZE > srh_end)
				return malformed(c);

			s.node_id = bpf_htonl(node_id);
			s.flags = SLOT_FLAG_WRITTEN;
			s.segments_left = segments_left;
			s.reserved = 0;
			s.timestamp_ns = bpf_cpu_to_be64(now);
			/* Writes inside the TLV area: the kernel re-validates the SRH afterwards, and the
			 * TLV type and length bytes are never touched, so validation holds. */
			if (bpf_lwt_seg6_store_bytes(skb, slot_off, &s, sizeof(s)) < 0) {
				if (c)
					c->store_failed++;
			} else {
				ev.slot_written = 1;
			}
		}
	}
	if (c)
		c->probes++;

	if (!(p.flags & PROBE_FLAG_REPORT))
		return BPF_OK;

	if (bpf_skb_load_bytes(skb, srh_off + SRH_FIXED_LEN + 16 * k, ev.sid, sizeof(ev.sid)) < 0)
		return BPF_OK;
	__builtin_memcpy(ev.report_to, p.report_to, sizeof(ev.report_to));
	ev.timestamp_ns = now;
	ev.sender_tx_ns = bpf_be64_to_cpu(p.sender_tx_ns);
	ev.session = bpf_ntohl(p.session);
	ev.sequence = bpf_ntohl(p.sequence);
	ev.ifindex = skb->ingress_ifindex;
	ev.node_id = node_id;
	ev.packet_len = skb->len;
	ev.report_port = bpf_ntohs(p.report_port);
	ev.segments_left = segments_left;
	ev.probe_flags = p.flags;

	/* Wake the agent only when a batch waits; it polls for the rest (docs/srv6-agent.md). */
	flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									       : BPF_RB_NO_WAKEUP;
	caplen = 0;
	if (p.flags & PROBE_FLAG_CAPTURE) {
		caplen = p.capture_len;
		if (caplen > skb->len)
			caplen = skb->len;
	}
	if (caplen == 0) {
		if (bpf_ringbuf_output(&events, &ev, sizeof(ev), flags) < 0 && c)
			c->events_lost++;
		return BPF_OK;
	}
	/* A capture needs a record of fixed size for the verifier: the event, then room for
	 * MAX_CAPTURE + 1 packet bytes (capture_len says how many are valid). */
	buf = bpf_ringbuf_reserve(&events, sizeof(ev) + MAX_CAPTURE + 1, 0);
	if (!buf) {
		if (c)
			c->events_lost++;
		return BPF_OK;
	}
	/* caplen is 1..MAX_CAPTURE here; written as ((caplen - 1) & 0xff) + 1 so that every
	 * verifier sees a length of 1..256 on the register it checks (Linux 6.1's loses the
	 * caplen != 0 test on a copy and refuses a possibly zero length). */
	caplen = ((caplen - 1) & MAX_CAPTURE) + 1;
	if (bpf_skb_load_bytes(skb, 0, buf + sizeof(ev), caplen) < 0)
		caplen = 0;
	ev.capture_len = caplen;
	__builtin_memcpy(buf, &ev, sizeof(ev));
	bpf_ringbuf_submit(buf, flags);
	return BPF_OK;
}

/* is_ext_hdr: the extension headers find_srh walks (a routing header may follow them). */
static __always_inline int is_ext_hdr(__u8 nh)
{
	return nh == NEXTHDR_HOP || nh == NEXTHDR_DEST || nh == NEXTHDR_ROUTING;
}

/* find_srh returns the offset of the SRH the kernel processed, or 0 when there is none this
 * program can be sure of. The kernel (seg6_get_srh with IP6_FH_F_SKIP_RH) processes the first
 * routing header whose Segments Left is not 0, skipping those before it, then decrements it. So
 * the first routing header is the processed one when its Segments Left is now 1 or more, or when
 * no other routing header follows it; a first one with Segments Left 0 followed by another is
 * either a stale header the kernel skipped or the processed one with a later header behind it:
 * no probe is stamped from a guess (counted as ambiguous). */
static __always_inline __u32 find_srh(struct __sk_buff *skb, struct oam_counters *c)
{
	__u32 off = IPV6_HDR_LEN, first = 0;
	__u8 nh, first_sl = 0, h[4];
	int i;

	if (bpf_skb_load_bytes(skb, 6, &nh, 1) < 0)
		return 0;
	for (i = 0; i < MAX_EXT_HDRS; i++) {
		if (!is_ext_hdr(nh))
			break;
		if (off > 0xffff || bpf_skb_load_bytes(skb, off, h, sizeof(h)) < 0)
			break;
		if (nh == NEXTHDR_ROUTING) {
			if (first) {
				if (first_sl == 0) {
					if (c)
						c->ambiguous++;
					return 0;
				}
				break;
			}
			if (h[2] != SRH_TYPE)
				return 0;
			first = off;
			first_sl = h[3];
			if (first_sl > 0)
				break;
		}
		nh = h[0];
		off += 8 * ((__u32)h[1] + 1);
	}
	return first;
}

SEC("lwt_seg6local")
int end_oam(struct __sk_buff *skb)
{
	__u32 zero = 0, srh_off, tlv_off, srh_end, segments_left, last_entry;
	struct oam_counters *c;
	struct srh_fixed srh;
	__u8 tlv[2];
	void *data, *data_end;

	c = bpf_map_lookup_elem(&counters, &zero);
	if (c)
		c->packets++;

	/* The kernel pulled the SRH into the linear area before running us, so direct (read-only)
	 * packet access reaches it in the common case: the SRH right after the IPv6 header with
	 * segments still to visit, or with none left and an upper-layer or inner IPv6 header after
	 * it (no routing header can follow), which is certainly the one the kernel processed.
	 * Anything else (another header in front, an extension header behind an SRH now at
	 * Segments Left 0) takes the walk of find_srh. */
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (data + IPV6_HDR_LEN + SRH_FIXED_LEN > data_end)
		return BPF_OK;
	if (*(__u8 *)(data + 6) == NEXTHDR_ROUTING && ((struct srh_fixed *)(data + SRH_OFF))->type == SRH_TYPE &&
	    (((struct srh_fixed *)(data + SRH_OFF))->segments_left > 0 || !is_ext_hdr(((struct srh_fixed *)(data + SRH_OFF))->nexthdr))) {
		srh_off = SRH_OFF;
		__builtin_memcpy(&srh, data + SRH_OFF, sizeof(srh));
	} else {
		srh_off = find_srh(skb, c);
		if (srh_off == 0 || srh_off > 4096)
			return BPF_OK;
		if (bpf_skb_load_bytes(skb, srh_off, &srh, sizeof(srh)) < 0)
			return BPF_OK;
	}
	segments_left = srh.segments_left;
	last_entry = srh.last_entry;
	tlv_off = srh_off + SRH_FIXED_LEN + 16 * ((__u32)srh.last_entry + 1);
	srh_end = srh_off + 8 * ((__u32)srh.hdrlen + 1);
	if (tlv_off + 2 > srh_end)
		return BPF_OK; /* no TLVs */

	if (tlv_off < 4096 && data + tlv_off + 2 <= data_end) {
		tlv[0] = *(__u8 *)(data + tlv_off);
		tlv[1] = *(__u8 *)(data + tlv_off + 1);
	} else if (bpf_skb_load_bytes(skb, tlv_off, tlv, 2) < 0) {
		return BPF_OK;
	}
	/* Linux reads the HMAC TLV from the end of the SRH, where srv6oam puts it; other senders
	 * may put it first, and a probe behind it is still a probe. */
	if (tlv[0] == SRH_TLV_HMAC) {
		tlv_off += 2 + tlv[1];
		if (tlv_off + 2 > srh_end)
			return BPF_OK;
		if (bpf_skb_load_bytes(skb, tlv_off, tlv, 2) < 0)
			return BPF_OK;
	}
	if (tlv[0] != probe_tlv_type)
		return BPF_OK;
	return probe(skb, c, srh_off, tlv_off, srh_end, segments_left, last_entry);
}

char _license[] SEC("license") = "GPL";
