// SPDX-License-Identifier: GPL-2.0
/*
 * lb_decap: the backend side of the load balancer's DSR mode, in XDP.
 *
 * A packet tunnelled by the LB (outer IPv4 protocol 4 or 41, outer IPv6 next
 * header 4 or 41) to one of this host's tunnel addresses (lb_decap_addrs) loses
 * its outer header here: the Ethernet header (and VLAN tags) move forward over
 * it, the ethertype becomes the inner packet's, and the inner packet goes to
 * the stack (ALV_PASS), which delivers it to the VIP configured on lo. Anything
 * else continues untouched. What an ipip / ip6tnl device does, for kernels
 * built without them (this one) and without a device per tunnel family.
 *
 * Fragmented outer packets are left to the stack (which cannot decapsulate them
 * without those devices): the LB's path must fit client packets plus 20 or 40
 * bytes (the LB sets DF on IPv4 outer headers).
 */
#include <alveole/vnf.h>
#include <alveole/parse.h>

struct lb_decap_key {
	__u8 addr[16]; /* IPv4 as ::ffff:a.b.c.d */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct lb_decap_key);
	__type(value, __u8);
} lb_decap_addrs SEC(".maps");

static __always_inline enum alv_verdict lb_decap(struct alv_pkt *pkt)
{
	__u32 outer_len, depth;
	struct alv_parsed h;
	__be16 ethertype;
	__u8 l2buf[22], *p, *inner;

	if (alv_parse(pkt, &h) != ALV_PARSE_OK || !(h.layers & ALV_LAYER_PROTO) || h.frag)
		return ALV_CONTINUE;
	if (h.l4_proto != IPPROTO_IPIP && h.l4_proto != IPPROTO_IPV6)
		return ALV_CONTINUE;
	if (!bpf_map_lookup_elem(&lb_decap_addrs, h.daddr.b))
		return ALV_CONTINUE;
	depth = h.vlan_depth;
	outer_len = h.l4_off - h.l3_off;
	if (depth > 2 || h.l3_off != 14 + 4 * depth || outer_len < 20 || outer_len > 512)
		return ALV_CONTINUE;
	/* the inner header must be there, of the family the outer one announced */
	inner = alv_ptr(pkt, h.l4_off, 20);
	if (!inner || (inner[0] >> 4) != (h.l4_proto == IPPROTO_IPIP ? 4 : 6))
		return ALV_CONTINUE;
	ethertype = bpf_htons(h.l4_proto == IPPROTO_IPIP ? ETH_P_IP : ETH_P_IPV6);
	p = alv_ptr(pkt, 0, 22);
	if (!p)
		return ALV_CONTINUE;
	__builtin_memcpy(l2buf, p, 22);
	if (depth == 0)
		__builtin_memcpy(&l2buf[12], &ethertype, 2);
	else if (depth == 1)
		__builtin_memcpy(&l2buf[16], &ethertype, 2);
	else
		__builtin_memcpy(&l2buf[20], &ethertype, 2);
	/* the L2 header ends where the outer header did: inner header - l2 */
	p = alv_ptr(pkt, outer_len, 22);
	if (!p)
		return ALV_CONTINUE;
	__builtin_memcpy(p, l2buf, 14);
	if (depth >= 1)
		__builtin_memcpy(p + 14, &l2buf[14], 4);
	if (depth >= 2)
		__builtin_memcpy(p + 18, &l2buf[18], 4);
	if (bpf_xdp_adjust_head(pkt->ctx, (int)outer_len))
		return ALV_ABORTED;
	return ALV_PASS;
}

ALV_VNF_XDP(lb_decap_xdp, lb_decap)

char LICENSE[] SEC("license") = "GPL";
