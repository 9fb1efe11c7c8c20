// SPDX-License-Identifier: GPL-2.0
/*
 * SDK probe: runs alv_parse() and the checksum helpers on test_run packets so
 * that tests can compare them, field by field, with their Python mirrors
 * (alveole.vnf.parse, alveole.vnf.csum). Not a VNF of the catalog.
 */
#include <alveole/vnf.h>
#include <alveole/parse.h>
#include <alveole/csum.h>

/* the last parse result */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct alv_parsed);
} probe_parsed SEC(".maps");

/* rewrites done by the probe_rewrite_* entries; zero fields are left alone */
struct probe_rewrite {
	union alv_addr saddr; /* IPv4: ::ffff:a.b.c.d */
	union alv_addr daddr;
	__u16 sport;          /* host order */
	__u16 dport;
	__u8 ttl;
	__u8 tos;             /* IPv4 only */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct probe_rewrite);
} probe_rewrite SEC(".maps");

/* puts the SDK's enums into the object's BTF, so tests can check the Python copies */
struct probe_sdk_enums {
	enum alv_verdict verdict;
	enum alv_parse_status status;
	enum alv_layer layer;
	enum alv_frag frag;
	enum alv_family family;
	enum alv_l4_csum csum;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct probe_sdk_enums);
} probe_enums SEC(".maps");

static __always_inline enum alv_verdict parse_body(struct alv_pkt *pkt)
{
	struct alv_parsed h;
	__u32 zero = 0;

	alv_parse(pkt, &h);
	bpf_map_update_elem(&probe_parsed, &zero, &h, BPF_ANY);
	return ALV_CONTINUE;
}

ALV_VNF_XDP(probe_parse_xdp, parse_body)
ALV_VNF_TC(probe_parse_tc, parse_body)

static __always_inline enum alv_verdict rewrite_body(struct alv_pkt *pkt)
{
	struct probe_rewrite *rw;
	struct alv_parsed h;
	__sum16 *l4csum = NULL;
	int kind = ALV_CSUM_TCP;
	__u32 zero = 0;
	__be16 *ports;

	alv_parse(pkt, &h);
	rw = bpf_map_lookup_elem(&probe_rewrite, &zero);
	if (!rw || !(h.layers & ALV_LAYER_IP))
		return ALV_PASS;
	/* the L4 checksum covers the addresses through the pseudo-header (not ICMPv4) */
	if (h.layers & ALV_LAYER_L4) {
		if (h.l4_proto == IPPROTO_TCP) {
			l4csum = alv_ptr(pkt, h.l4_off + offsetof(struct tcphdr, check), sizeof(*l4csum));
		} else if (h.l4_proto == IPPROTO_UDP) {
			l4csum = alv_ptr(pkt, h.l4_off + offsetof(struct udphdr, check), sizeof(*l4csum));
			kind = ALV_CSUM_UDP;
		} else if (h.l4_proto == IPPROTO_ICMPV6) {
			l4csum = alv_ptr(pkt, h.l4_off + offsetof(struct alv_icmp_hdr, checksum),
					 sizeof(*l4csum));
		}
	}
	if (h.family == ALV_FAMILY_IPV4) {
		struct iphdr *ip = alv_ptr(pkt, h.l3_off, sizeof(*ip));

		if (!ip)
			return ALV_ABORTED;
		if (rw->ttl)
			alv_ipv4_set_ttl(ip, rw->ttl);
		if (rw->tos)
			alv_ipv4_set_tos(ip, rw->tos);
		if (rw->saddr.w[3])
			alv_ipv4_set_addr(ip, &ip->saddr, rw->saddr.w[3], l4csum, kind);
		if (rw->daddr.w[3])
			alv_ipv4_set_addr(ip, &ip->daddr, rw->daddr.w[3], l4csum, kind);
	} else {
		struct ipv6hdr *ip6 = alv_ptr(pkt, h.l3_off, sizeof(*ip6));

		if (!ip6)
			return ALV_ABORTED;
		if (rw->ttl)
			ip6->hop_limit = rw->ttl;
		if (rw->saddr.w[0] | rw->saddr.w[1] | rw->saddr.w[2] | rw->saddr.w[3])
			alv_ipv6_set_addr(&ip6->saddr, (struct in6_addr *)rw->saddr.b, l4csum, kind);
		if (rw->daddr.w[0] | rw->daddr.w[1] | rw->daddr.w[2] | rw->daddr.w[3])
			alv_ipv6_set_addr(&ip6->daddr, (struct in6_addr *)rw->daddr.b, l4csum, kind);
	}
	if ((h.layers & ALV_LAYER_L4) && (h.l4_proto == IPPROTO_TCP || h.l4_proto == IPPROTO_UDP)) {
		ports = alv_ptr(pkt, h.l4_off, 2 * sizeof(*ports));
		if (!ports)
			return ALV_ABORTED;
		if (rw->sport)
			alv_l4_set_port(&ports[0], bpf_htons(rw->sport), l4csum, kind);
		if (rw->dport)
			alv_l4_set_port(&ports[1], bpf_htons(rw->dport), l4csum, kind);
	}
	return ALV_PASS;
}

ALV_VNF_XDP(probe_rewrite_xdp, rewrite_body)
ALV_VNF_TC(probe_rewrite_tc, rewrite_body)

char LICENSE[] SEC("license") = "GPL";
