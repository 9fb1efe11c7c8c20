// SPDX-License-Identifier: GPL-2.0
/*
 * ddos: a DDoS guard. Drops packets whose source is in a prefix blocklist
 * (IPv4 and IPv6), rate-limits TCP SYNs (SYN without ACK) per source with a
 * token bucket, counts drops by reason; everything else continues.
 *
 * Blocklist: a stride-8 bitmap trie in one hash map per family (see
 * alveole/vnf/ddos/blocklist.py for the structure and why not an LPM trie):
 * a node at level L holds, for the 256 children addr/(L+8), a "blocked" bit
 * and a "deeper" bit (a node exists below). The walk starts at /16 (IPv4) or
 * /32 (IPv6) and follows deeper bits: at most 2 lookups for IPv4. Any packet
 * with an IP header is checked, whatever the rest of it looks like (a
 * truncated or malformed packet from a blocked source is dropped too).
 *
 * SYN limit: one bucket per source (IPv4 sources grouped by syn_prefix4,
 * IPv6 by syn_prefix6, /64 by default: a host picks any address of its /64)
 * in LRU tables; alveole/bucket.h has the arithmetic and why it is correct
 * on several CPUs. Runtime settings (rates, prefixes, whether a family's
 * blocklist is empty) live in ddos_settings: changed as map writes.
 */
#include <alveole/vnf.h>
#include <alveole/parse.h>
#include <alveole/bucket.h>

#define DDOS_TOP4 16 /* level of the first IPv4 lookup */
#define DDOS_TOP6 32 /* level of the first IPv6 lookup */
#define DDOS_LEVELS4 ((32 - DDOS_TOP4) / 8)
#define DDOS_LEVELS6 ((128 - DDOS_TOP6) / 8)

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

/* why a packet was dropped (ddos_drops index) */
enum ddos_reason {
	DDOS_BLOCKLIST = 0,
	DDOS_SYN_FLOOD = 1,     /* over its source's SYN rate */
	DDOS_SYN_CONTENDED = 2, /* lost every race for its source's bucket (see bucket.h) */
	DDOS_REASON_MAX = 3,
};

enum ddos_node_flag {
	DDOS_NODE_ALL = 1 << 0, /* the whole block is blocked (top nodes only) */
};

/*
 * A node's key: the address cut to the node's level, with the level itself in
 * the last byte (always cut off, since levels stop 8 bits short of the
 * width): 4 bytes for IPv4, 16 for IPv6, where an LPM-style key would take 8
 * and 20 (measured: -1.4 ns a lookup for IPv6).
 */
struct ddos_key4 {
	__u8 addr[4] __attribute__((aligned(4))); /* a.b.c/level: levels 16, 24 */
};

struct ddos_key6 {
	__u8 addr[16] __attribute__((aligned(4))); /* levels 32, 40, ..., 120 */
};

struct ddos_node {
	__u32 flags;       /* enum ddos_node_flag */
	__u32 pad;
	__u64 blocked[4];  /* child c (the next 8 bits) wholly blocked */
	__u64 deeper[4];   /* a node exists for child c one level down */
};

struct ddos_src4 {
	__u8 addr[4] __attribute__((aligned(4))); /* masked to syn_prefix4 */
};

struct ddos_src6 {
	__u8 addr[16] __attribute__((aligned(4))); /* masked to syn_prefix6 */
};

struct ddos_settings {
	struct alv_bucket_conf syn; /* cost_fp 0: SYNs are not limited */
	__u32 syn_prefix4;          /* IPv4 sources sharing a SYN bucket: /syn_prefix4 */
	__u32 syn_prefix6;
	__u32 nodes4;               /* nodes in ddos_block4: 0 skips the walk */
	__u32 nodes6;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* config.table_size_v4 */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ddos_key4);
	__type(value, struct ddos_node);
} ddos_block4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* config.table_size_v6 */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ddos_key6);
	__type(value, struct ddos_node);
} ddos_block6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* config.syn_table_size */
	__type(key, struct ddos_src4);
	__type(value, struct alv_bucket);
} ddos_syn4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* config.syn_table_size */
	__type(key, struct ddos_src6);
	__type(value, struct alv_bucket);
} ddos_syn6 SEC(".maps");

/* packets and bytes dropped, by reason, per CPU */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DDOS_REASON_MAX);
	__type(key, __u32);
	__type(value, struct alv_counter);
} ddos_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ddos_settings);
} ddos_settings SEC(".maps");

static __always_inline enum alv_verdict ddos_drop(__u32 reason, __u32 len)
{
	struct alv_counter *c = bpf_map_lookup_elem(&ddos_drops, &reason);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
	return ALV_DROP;
}

static __always_inline int ddos_bit(const __u64 *bits, __u32 c)
{
	return (bits[(c >> 6) & 3] >> (c & 63)) & 1;
}

/* a network-order mask of the first `bits` bits of a 32-bit word (bits may be <= 0 or >= 32) */
static __always_inline __u32 ddos_mask32(int bits)
{
	if (bits <= 0)
		return 0;
	if (bits >= 32)
		return 0xffffffff;
	return bpf_htonl((__u32)(0xffffffff00000000ULL >> bits));
}

/*
 * Keys are written a whole 32-bit word at a time: the hash reads them as words,
 * and a word read back from narrower stores misses store-to-load forwarding
 * (measured: +5 ns a lookup when the key's address was written bytewise).
 */

/* the IPv4 walk: /16 node, then the /24 node when the /16 node says there is one */
static __always_inline int ddos_blocked4(const union alv_addr *a)
{
	struct ddos_key4 k;
	struct ddos_node *n;
	__u32 c, level;
	int i;

#pragma unroll
	for (i = 0; i < DDOS_LEVELS4; i++) {
		level = DDOS_TOP4 + 8 * i;
		*(__u32 *)k.addr = (a->w[3] & ddos_mask32(level)) | bpf_htonl(level);
		n = bpf_map_lookup_elem(&ddos_block4, &k);
		if (!n)
			return 0;
		if (n->flags & DDOS_NODE_ALL)
			return 1;
		c = a->b[12 + level / 8];
		if (ddos_bit(n->blocked, c))
			return 1;
		if (!ddos_bit(n->deeper, c))
			return 0;
	}
	return 0;
}

/* the IPv6 walk: /32 node, then one level per 8 bits while deeper bits lead on */
static __always_inline int ddos_blocked6(const union alv_addr *a)
{
	struct ddos_key6 k;
	struct ddos_node *n;
	__u32 c, level;
	int i, j;

#pragma unroll
	for (i = 0; i < DDOS_LEVELS6; i++) {
		level = DDOS_TOP6 + 8 * i;
#pragma unroll
		for (j = 0; j < 4; j++)
			((__u32 *)k.addr)[j] = a->w[j] & ddos_mask32((int)level - 32 * j);
		((__u32 *)k.addr)[3] |= bpf_htonl(level);
		n = bpf_map_lookup_elem(&ddos_block6, &k);
		if (!n)
			return 0;
		if (n->flags & DDOS_NODE_ALL)
			return 1;
		c = a->b[level / 8];
		if (ddos_bit(n->blocked, c))
			return 1;
		if (!ddos_bit(n->deeper, c))
			return 0;
	}
	return 0;
}

static __always_inline int ddos_syn_allowed(const struct alv_parsed *h, const struct ddos_settings *s)
{
	struct alv_bucket_conf conf = s->syn;
	struct alv_bucket *b;
	int i;

	if (h->family == ALV_FAMILY_IPV4) {
		struct ddos_src4 k;

		*(__u32 *)k.addr = h->saddr.w[3] & ddos_mask32(s->syn_prefix4);
		b = alv_bucket_get(&ddos_syn4, &k);
	} else {
		struct ddos_src6 k;

#pragma unroll
		for (i = 0; i < 4; i++)
			((__u32 *)k.addr)[i] = h->saddr.w[i] & ddos_mask32((int)s->syn_prefix6 - 32 * i);
		b = alv_bucket_get(&ddos_syn6, &k);
	}
	if (!b)
		return ALV_BUCKET_OK; /* no room for a bucket (table far too small): let it through */
	return alv_bucket_take(b, &conf, alv_now(), alv_bucket_cost(&conf, 1));
}

static __always_inline enum alv_verdict ddos(struct alv_pkt *pkt)
{
	struct ddos_settings *s;
	struct alv_parsed h;
	__u32 zero = 0;
	int r;

	alv_parse(pkt, &h); /* the status does not matter: whatever has an IP header is checked */
	if (!(h.layers & ALV_LAYER_IP))
		return ALV_CONTINUE;
	s = bpf_map_lookup_elem(&ddos_settings, &zero);
	if (!s)
		return ALV_CONTINUE;
	if (h.family == ALV_FAMILY_IPV4) {
		if (s->nodes4 && ddos_blocked4(&h.saddr))
			return ddos_drop(DDOS_BLOCKLIST, pkt->len);
	} else if (s->nodes6 && ddos_blocked6(&h.saddr)) {
		return ddos_drop(DDOS_BLOCKLIST, pkt->len);
	}
	if (!(h.layers & ALV_LAYER_L4) || h.l4_proto != IPPROTO_TCP ||
	    (h.tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN || !s->syn.cost_fp)
		return ALV_CONTINUE;
	r = ddos_syn_allowed(&h, s);
	if (r == ALV_BUCKET_OVER)
		return ddos_drop(DDOS_SYN_FLOOD, pkt->len);
	if (r == ALV_BUCKET_CONTENDED)
		return ddos_drop(DDOS_SYN_CONTENDED, pkt->len);
	return ALV_CONTINUE;
}

ALV_VNF_XDP(ddos_xdp, ddos)
ALV_VNF_TC(ddos_tc, ddos)

char LICENSE[] SEC("license") = "GPL";
