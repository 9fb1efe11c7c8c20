// SPDX-License-Identifier: GPL-2.0
/*
 * lpm_probe: the kernel's LPM trie as a route table, for comparison only
 * (pktcost row router-lpm-trie-10k): parse, one trie lookup on the IPv4
 * destination; a hit is dropped (so a test can tell hits), a miss passed.
 * The router's own table replaces this structure.
 */
#include <alveole/vnf.h>
#include <alveole/parse.h>

struct lpm_key4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key4);
	__type(value, __u32);
} lpm_routes SEC(".maps");

static __always_inline enum alv_verdict lpm_lookup(struct alv_pkt *pkt)
{
	struct lpm_key4 k = { .prefixlen = 32 };
	struct alv_parsed h;
	__u32 *nh;

	if (alv_parse(pkt, &h) != ALV_PARSE_OK || h.family != ALV_FAMILY_IPV4)
		return ALV_PASS;
	__builtin_memcpy(k.addr, &h.daddr.w[3], 4);
	nh = bpf_map_lookup_elem(&lpm_routes, &k);
	return nh && *nh ? ALV_DROP : ALV_PASS;
}

ALV_VNF_XDP(lpm_probe, lpm_lookup)

char LICENSE[] SEC("license") = "GPL";
