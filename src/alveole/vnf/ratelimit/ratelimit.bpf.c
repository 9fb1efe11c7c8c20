// SPDX-License-Identifier: GPL-2.0
/*
 * ratelimit: a token bucket per key, in packets or bytes per second, correct
 * when several CPUs hit the same key (alveole/bucket.h: one 64-bit state per
 * bucket, compare-and-swap). Conforming packets continue; packets over the
 * limit are dropped, or continue counted (dry run). Frames that are not IP
 * have no key: they continue, counted apart.
 *
 * Key (key_mode, fixed at load): the source address (IPv4 sources grouped by
 * prefix4, IPv6 by prefix6), or the 5-tuple (addresses, IP protocol, TCP/UDP
 * ports). A packet is keyed by what the parser could read: a truncated TCP
 * header or a later fragment has ports 0, so malformed traffic cannot slip
 * past its source's bucket. Buckets live in LRU tables (per family and key mode):
 * memory is bounded; an evicted key comes back with a full bucket.
 */
#include <alveole/vnf.h>
#include <alveole/parse.h>
#include <alveole/bucket.h>

enum rl_key_mode {
	RL_KEY_SRC = 0,
	RL_KEY_5TUPLE = 1,
};

/* what happened to a packet (rl_counts index) */
enum rl_outcome {
	RL_CONFORMED = 0,
	RL_EXCEEDED = 1,  /* over the limit: dropped, or passed in a dry run */
	RL_CONTENDED = 2, /* lost every race for its bucket (see bucket.h): like EXCEEDED */
	RL_UNKEYED = 3,   /* not IP: not limited */
	RL_OUTCOME_MAX = 4,
};

/*
 * Keys: one table pair per key mode (the verifier keeps only the mode's code;
 * the other pair is sized to almost nothing), so key=src hashes 4 or 16
 * bytes, not a 5-tuple with zeros. Keys are whole 32-bit words: the hash reads
 * words, and a word read back from narrower stores stalls it.
 */
struct rl_src4 {
	__u8 addr[4] __attribute__((aligned(4))); /* masked to prefix4 */
};

struct rl_src6 {
	__u8 addr[16] __attribute__((aligned(4))); /* masked to prefix6 */
};

struct rl_flow4 {
	__u8 saddr[4] __attribute__((aligned(4)));
	__u8 daddr[4];
	__u32 ports; /* sport << 16 | dport */
	__u32 proto;
};

struct rl_flow6 {
	__u8 saddr[16] __attribute__((aligned(4)));
	__u8 daddr[16];
	__u32 ports;
	__u32 proto;
};

struct rl_settings {
	struct alv_bucket_conf bucket;
	__u32 bytes;   /* 1: a packet costs its length in bytes; 0: one packet */
	__u32 dry_run; /* 1: packets over the limit continue (counted) */
	__u32 prefix4; /* key_mode src: IPv4 sources sharing a bucket */
	__u32 prefix6;
};

const volatile __u32 key_mode = RL_KEY_SRC;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* config.table_size (key=src) */
	__type(key, struct rl_src4);
	__type(value, struct alv_bucket);
} rl_src4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* config.table_size (key=src) */
	__type(key, struct rl_src6);
	__type(value, struct alv_bucket);
} rl_src6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* config.table_size (key=5tuple) */
	__type(key, struct rl_flow4);
	__type(value, struct alv_bucket);
} rl_flows4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* config.table_size (key=5tuple) */
	__type(key, struct rl_flow6);
	__type(value, struct alv_bucket);
} rl_flows6 SEC(".maps");

/* packets and bytes by outcome, per CPU */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RL_OUTCOME_MAX);
	__type(key, __u32);
	__type(value, struct alv_counter);
} rl_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rl_settings);
} rl_settings SEC(".maps");

static __always_inline void rl_count(__u32 outcome, __u32 len)
{
	struct alv_counter *c = bpf_map_lookup_elem(&rl_counts, &outcome);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

/* a network-order mask of the first `bits` bits of a 32-bit word (bits may be <= 0 or >= 32) */
static __always_inline __u32 rl_mask32(int bits)
{
	if (bits <= 0)
		return 0;
	if (bits >= 32)
		return 0xffffffff;
	return bpf_htonl((__u32)(0xffffffff00000000ULL >> bits));
}

static __always_inline struct alv_bucket *rl_bucket(const struct alv_parsed *h, const struct rl_settings *s)
{
	int i;

	if (key_mode == RL_KEY_5TUPLE) {
		__u32 ports = (__u32)h->sport << 16 | h->dport;

		if (h->family == ALV_FAMILY_IPV4) {
			struct rl_flow4 k;

			*(__u32 *)k.saddr = h->saddr.w[3];
			*(__u32 *)k.daddr = h->daddr.w[3];
			k.ports = ports;
			k.proto = h->l4_proto;
			return alv_bucket_get(&rl_flows4, &k);
		} else {
			struct rl_flow6 k;

			__builtin_memcpy(k.saddr, h->saddr.b, 16);
			__builtin_memcpy(k.daddr, h->daddr.b, 16);
			k.ports = ports;
			k.proto = h->l4_proto;
			return alv_bucket_get(&rl_flows6, &k);
		}
	}
	if (h->family == ALV_FAMILY_IPV4) {
		struct rl_src4 k;

		*(__u32 *)k.addr = h->saddr.w[3] & rl_mask32(s->prefix4);
		return alv_bucket_get(&rl_src4, &k);
	} else {
		struct rl_src6 k;

#pragma unroll
		for (i = 0; i < 4; i++)
			((__u32 *)k.addr)[i] = h->saddr.w[i] & rl_mask32((int)s->prefix6 - 32 * i);
		return alv_bucket_get(&rl_src6, &k);
	}
}

static __always_inline enum alv_verdict ratelimit(struct alv_pkt *pkt)
{
	struct alv_bucket_conf conf;
	struct rl_settings *s;
	struct alv_bucket *b;
	struct alv_parsed h;
	__u32 zero = 0;
	int r;

	alv_parse(pkt, &h); /* whatever has an IP header is keyed, even if the rest does not parse */
	if (!(h.layers & ALV_LAYER_IP)) {
		rl_count(RL_UNKEYED, pkt->len);
		return ALV_CONTINUE;
	}
	s = bpf_map_lookup_elem(&rl_settings, &zero);
	if (!s)
		return ALV_CONTINUE;
	conf = s->bucket;
	b = rl_bucket(&h, s);
	if (!b) {
		/* no room for a bucket (table far too small): let it through */
		rl_count(RL_CONFORMED, pkt->len);
		return ALV_CONTINUE;
	}
	r = alv_bucket_take(b, &conf, alv_now(), alv_bucket_cost(&conf, s->bytes ? pkt->len : 1));
	if (r == ALV_BUCKET_OK) {
		rl_count(RL_CONFORMED, pkt->len);
		return ALV_CONTINUE;
	}
	rl_count(r == ALV_BUCKET_OVER ? RL_EXCEEDED : RL_CONTENDED, pkt->len);
	return s->dry_run ? ALV_CONTINUE : ALV_DROP;
}

ALV_VNF_XDP(ratelimit_xdp, ratelimit)
ALV_VNF_TC(ratelimit_tc, ratelimit)

char LICENSE[] SEC("license") = "GPL";
