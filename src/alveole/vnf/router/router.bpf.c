// SPDX-License-Identifier: GPL-2.0
/*
 * router: an L3 router for IPv4 and IPv6. Packets it can forward leave with
 * the TTL / hop limit decremented (IPv4 header checksum patched), new MACs,
 * through a devmap (XDP) or bpf_redirect() (TC): ALV_REDIRECT. Everything
 * else goes to the kernel (ALV_PASS), which knows what to do with it: TTL
 * expiry (it sends ICMP time exceeded), no route, local destinations, ARP and
 * neighbour discovery, options, fragmentation needs.
 *
 * Two modes (router_mode, fixed at load):
 *
 * ROUTER_TABLE: our own route tables, filled by the control plane as diffs.
 *   A multibit trie without pointers: level 16 is an array indexed by the
 *   top 16 bits of the destination (router_root4/6); deeper levels, every 8
 *   bits (24 and 32 for IPv4, 24..128 for IPv6), are hash entries keyed by
 *   {level, address cut to the level} (router_more4/6). A route of length L
 *   is expanded into the 2^(level - L) slots of the first level >= L. An
 *   entry holds the next hop of the longest route ending at its level that
 *   covers it (0: none) and ROUTER_MORE when longer routes exist below; the
 *   lookup descends while ROUTER_MORE is set and keeps the deepest next hop.
 *   Entries are keyed by the addresses they cover and point at nothing (no
 *   leaf pushing), so while a route change is written, in whatever order, a
 *   lookup finds a next hop of a route of the old or the new table that
 *   covers the destination (maybe not the longest), or none: never one that
 *   does not cover it. Kernel LPM trie: ~90 ns with 10k routes here; this:
 *   1 array + 0-2 hash lookups (IPv4).
 *   Next hops (router_nexthops) give the egress ifindex, the MACs, the MTU.
 *
 * ROUTER_FIB: bpf_fib_lookup() in the kernel's routes and neighbours.
 *
 * In both modes a packet is only redirected to an egress listed in
 * router_ports (the devmap XDP redirects through); others are passed.
 */
#include <alveole/vnf.h>
#include <alveole/parse.h>
#include <alveole/csum.h>
#include <alveole/btf.h>

#define AF_INET 2
#define AF_INET6 10

enum router_mode {
	ROUTER_TABLE = 0,
	ROUTER_FIB = 1,
};

/* why a packet was passed to the kernel (router_pass) */
enum router_pass_reason {
	ROUTER_PASS_NOT_IP = 0,    /* not IPv4/IPv6: ARP, LLDP, ... */
	ROUTER_PASS_UNPARSED = 1,  /* truncated, malformed or unsupported */
	ROUTER_PASS_SPECIAL = 2,   /* not for forwarding: L2 group, VLAN tag, IP options, hop-by-hop,
				    * multicast / link-local / loopback / martian addresses, ND */
	ROUTER_PASS_TTL = 3,       /* TTL / hop limit <= 1: the kernel sends time exceeded */
	ROUTER_PASS_NO_ROUTE = 4,  /* table: no route; fib: blackhole, unreachable, prohibit */
	ROUTER_PASS_TO_KERNEL = 5, /* table: a route to the kernel (local addresses); fib: not
				    * forwarded (local, broadcast, or no route at all) */
	ROUTER_PASS_NO_NEIGH = 6,  /* next hop unknown (fib: no neighbour entry yet) */
	ROUTER_PASS_MTU = 7,       /* larger than the egress MTU */
	ROUTER_PASS_NO_PORT = 8,   /* egress not in router_ports */
	ROUTER_PASS_FIB = 9,       /* other fib results: forwarding disabled, errors */
	ROUTER_PASS_MAX = 10,
};

/* what the hop functions return when there is no reason to pass */
#define ROUTER_FORWARD ROUTER_PASS_MAX

/* route table entries */
enum router_entry {
	ROUTER_NH_MASK = 0xffff,   /* next hop id, 0: no route at this level */
	ROUTER_NH_KERNEL = 0xffff, /* the route's packets go to the kernel */
	ROUTER_MORE = 1u << 31,    /* longer routes exist below this slot */
};

#define ROUTER_ROOT_BITS 16

struct router_key4 {
	__u32 prefixlen; /* the level: 24 or 32 */
	__u8 addr[4];    /* the destination cut to the level */
};

struct router_key6 {
	__u32 prefixlen; /* the level: 24, 32, ..., 128 */
	__u8 addr[16];
};

struct router_nexthop {
	__u8 dmac[6]; /* the neighbour's MAC */
	__u8 smac[6]; /* the egress interface's MAC */
	__u32 ifindex;
	__u16 mtu;    /* larger IP packets are passed to the kernel */
	__u16 pad;
};

/* the enums Python mirrors, in the object's BTF (a test compares them) */
ALV_BTF_EXPORT(enum router_mode);
ALV_BTF_EXPORT(enum router_pass_reason);
ALV_BTF_EXPORT(enum router_entry);

const volatile __u32 router_mode = ROUTER_TABLE;
const volatile __u32 fib_flags = 0; /* BPF_FIB_LOOKUP_* */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << ROUTER_ROOT_BITS);
	__type(key, __u32);
	__type(value, __u32);
} router_root4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20); /* config.table_size */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct router_key4);
	__type(value, __u32);
} router_more4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << ROUTER_ROOT_BITS);
	__type(key, __u32);
	__type(value, __u32);
} router_root6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20); /* config.table_size */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct router_key6);
	__type(value, __u32);
} router_more6 SEC(".maps");

/* a hash: a next hop is replaced as a whole (an array slot could be read half-written) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct router_nexthop);
} router_nexthops SEC(".maps");

/* egress interfaces, by ifindex: XDP redirects through it, TC checks membership */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} router_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ROUTER_PASS_MAX);
	__type(key, __u32);
	__type(value, struct alv_counter);
} router_pass SEC(".maps");

static __always_inline enum alv_verdict router_pass_for(__u32 reason, struct alv_pkt *pkt)
{
	struct alv_counter *c = bpf_map_lookup_elem(&router_pass, &reason);

	if (c) {
		c->packets++;
		c->bytes += pkt->len;
	}
	return ALV_PASS;
}

/* addresses a router never forwards to or from: 0/8, 127/8, 169.254/16, 224/3 */
static __always_inline int router_special4(const __u8 *a)
{
	return a[0] == 0 || a[0] == 127 || a[0] >= 224 || (a[0] == 169 && a[1] == 254);
}

/* ::, ::1, fe80::/10, ff00::/8 */
static __always_inline int router_special6(const union alv_addr *a)
{
	if (a->b[0] == 0xff || (a->b[0] == 0xfe && (a->b[1] & 0xc0) == 0x80))
		return 1;
	return !a->w[0] && !a->w[1] && !a->w[2] && !(a->w[3] & bpf_htonl(0xfffffffe));
}

/* ICMPv6 router/neighbour solicitation and advertisement, redirect (133..137) */
static __always_inline int router_is_nd(const struct alv_parsed *h)
{
	return h->l4_proto == IPPROTO_ICMPV6 && (h->layers & ALV_LAYER_L4) && h->icmp_type >= 133 &&
	       h->icmp_type <= 137;
}

static __always_inline __u32 router_entry_step(__u32 e, __u32 *nh)
{
	if (e & ROUTER_NH_MASK)
		*nh = e & ROUTER_NH_MASK;
	return e & ROUTER_MORE;
}

/* the next hop id of the longest route to daddr (network order), 0: none */
static __always_inline __u32 router_lookup4(__be32 daddr)
{
	__u32 a = bpf_ntohl(daddr), idx = a >> ROUTER_ROOT_BITS, nh = 0, *e;
	struct router_key4 k;
	__be32 cut;

	e = bpf_map_lookup_elem(&router_root4, &idx);
	if (!e || !router_entry_step(*e, &nh))
		return nh;
	k.prefixlen = 24;
	cut = bpf_htonl(a & 0xffffff00);
	__builtin_memcpy(k.addr, &cut, 4);
	e = bpf_map_lookup_elem(&router_more4, &k);
	if (!e || !router_entry_step(*e, &nh))
		return nh;
	k.prefixlen = 32;
	__builtin_memcpy(k.addr, &daddr, 4);
	e = bpf_map_lookup_elem(&router_more4, &k);
	if (e)
		router_entry_step(*e, &nh);
	return nh;
}

static __always_inline __u32 router_lookup6(const union alv_addr *daddr)
{
	__u32 idx = (__u32)daddr->b[0] << 8 | daddr->b[1], nh = 0, *e;
	struct router_key6 k = {};
	int i;

	e = bpf_map_lookup_elem(&router_root6, &idx);
	if (!e || !router_entry_step(*e, &nh))
		return nh;
	k.addr[0] = daddr->b[0];
	k.addr[1] = daddr->b[1];
#pragma unroll
	for (i = 2; i < 16; i++) {
		k.addr[i] = daddr->b[i];
		k.prefixlen = (i + 1) * 8;
		e = bpf_map_lookup_elem(&router_more6, &k);
		if (!e || !router_entry_step(*e, &nh))
			break;
	}
	return nh;
}

/* where a packet goes: egress ifindex and the two MACs */
struct router_hop {
	__u8 macs[12]; /* destination then source: the first 12 bytes of the frame */
	__u32 ifindex;
};

static __always_inline __u32 router_table_hop(const struct alv_parsed *h, __u32 ip_len,
					      struct router_hop *hop)
{
	struct router_nexthop *nh;
	__u32 id;

	id = h->family == ALV_FAMILY_IPV4 ? router_lookup4(h->daddr.w[3]) : router_lookup6(&h->daddr);
	if (!id)
		return ROUTER_PASS_NO_ROUTE;
	if (id == ROUTER_NH_KERNEL)
		return ROUTER_PASS_TO_KERNEL;
	nh = bpf_map_lookup_elem(&router_nexthops, &id);
	if (!nh || !nh->ifindex)
		return ROUTER_PASS_NO_NEIGH;
	if (ip_len > nh->mtu)
		return ROUTER_PASS_MTU;
	__builtin_memcpy(hop->macs, nh->dmac, 6);
	__builtin_memcpy(hop->macs + 6, nh->smac, 6);
	hop->ifindex = nh->ifindex;
	return ROUTER_FORWARD;
}

static __always_inline __u32 router_fib_hop(struct alv_pkt *pkt, const struct alv_parsed *h, __be32 flowinfo,
					    __u32 ip_len, struct router_hop *hop)
{
	struct bpf_fib_lookup f = {};
	long rc;

	f.l4_protocol = h->l4_proto;
	f.sport = bpf_htons(h->sport);
	f.dport = bpf_htons(h->dport);
	f.tot_len = ip_len;
	f.ifindex = pkt->ifindex;
	if (h->family == ALV_FAMILY_IPV4) {
		f.family = AF_INET;
		f.tos = h->tos;
		f.ipv4_src = h->saddr.w[3];
		f.ipv4_dst = h->daddr.w[3];
	} else {
		f.family = AF_INET6;
		f.flowinfo = flowinfo;
		__builtin_memcpy(f.ipv6_src, h->saddr.b, 16);
		__builtin_memcpy(f.ipv6_dst, h->daddr.b, 16);
	}
	rc = bpf_fib_lookup(pkt->ctx, &f, sizeof(f), fib_flags);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		break;
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		return ROUTER_PASS_NO_ROUTE;
	case BPF_FIB_LKUP_RET_NOT_FWDED:
		return ROUTER_PASS_TO_KERNEL;
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		return ROUTER_PASS_NO_NEIGH;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return ROUTER_PASS_MTU;
	default:
		return ROUTER_PASS_FIB;
	}
	__builtin_memcpy(hop->macs, f.dmac, 6);
	__builtin_memcpy(hop->macs + 6, f.smac, 6);
	hop->ifindex = f.ifindex;
	return ROUTER_FORWARD;
}

static __always_inline enum alv_verdict router(struct alv_pkt *pkt)
{
	__u32 ip_len, reason;
	struct router_hop hop;
	struct alv_parsed h;
	__be32 flowinfo;
	__u8 *eth;
	long rc;

	if (alv_parse(pkt, &h) != ALV_PARSE_OK)
		return router_pass_for(ROUTER_PASS_UNPARSED, pkt);
	if (!(h.layers & ALV_LAYER_IP))
		return router_pass_for(ROUTER_PASS_NOT_IP, pkt);
	/* the parser saw these bytes; the verifier needs its own bounds checks */
	eth = alv_ptr(pkt, 0, 12);
	if (!eth)
		return router_pass_for(ROUTER_PASS_UNPARSED, pkt);
	if ((eth[0] & 1) || h.vlan_depth)
		return router_pass_for(ROUTER_PASS_SPECIAL, pkt);
	if (h.family == ALV_FAMILY_IPV4) {
		struct iphdr *ip = alv_ptr(pkt, h.l3_off, sizeof(*ip));

		if (!ip)
			return router_pass_for(ROUTER_PASS_UNPARSED, pkt);
		if (ip->ihl != 5 || router_special4(&h.daddr.b[12]) || router_special4(&h.saddr.b[12]))
			return router_pass_for(ROUTER_PASS_SPECIAL, pkt);
		ip_len = bpf_ntohs(ip->tot_len);
		flowinfo = 0;
	} else {
		struct ipv6hdr *ip6 = alv_ptr(pkt, h.l3_off, sizeof(*ip6));

		if (!ip6)
			return router_pass_for(ROUTER_PASS_UNPARSED, pkt);
		if (ip6->nexthdr == IPPROTO_HOPOPTS || router_special6(&h.daddr) || router_special6(&h.saddr) ||
		    router_is_nd(&h))
			return router_pass_for(ROUTER_PASS_SPECIAL, pkt);
		ip_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
		flowinfo = *(__be32 *)ip6 & bpf_htonl(0x0fffffff);
	}
	if (h.ttl <= 1)
		return router_pass_for(ROUTER_PASS_TTL, pkt);

	if (router_mode == ROUTER_FIB)
		reason = router_fib_hop(pkt, &h, flowinfo, ip_len, &hop);
	else
		reason = router_table_hop(&h, ip_len, &hop);
	if (reason != ROUTER_FORWARD)
		return router_pass_for(reason, pkt);

	/* the egress must be one of ours; XDP: redirect first (nothing leaves before we return) */
	if (pkt->hook == ALV_HOOK_XDP) {
		rc = bpf_redirect_map(&router_ports, hop.ifindex, XDP_PASS);
		if (rc != XDP_REDIRECT)
			return router_pass_for(ROUTER_PASS_NO_PORT, pkt);
	} else {
		if (!bpf_map_lookup_elem(&router_ports, &hop.ifindex))
			return router_pass_for(ROUTER_PASS_NO_PORT, pkt);
		rc = bpf_redirect(hop.ifindex, 0);
	}

	/* rewrite (no helper above moved the packet: the bounds checks hold, the verifier needs them again) */
	__builtin_memcpy(eth, hop.macs, 12);
	if (h.family == ALV_FAMILY_IPV4) {
		struct iphdr *ip = alv_ptr(pkt, h.l3_off, sizeof(*ip));

		if (!ip)
			return ALV_ABORTED;
		alv_ipv4_set_ttl(ip, ip->ttl - 1);
	} else {
		struct ipv6hdr *ip6 = alv_ptr(pkt, h.l3_off, sizeof(*ip6));
		__u16 old, new;

		if (!ip6)
			return ALV_ABORTED;
		old = *(__u16 *)&ip6->nexthdr;
		ip6->hop_limit--;
		new = *(__u16 *)&ip6->nexthdr;
		/* a CHECKSUM_COMPLETE skb covers the IPv6 header: keep it right (no-op otherwise) */
		if (pkt->hook == ALV_HOOK_TC)
			bpf_csum_update(pkt->ctx, (__u16)~old + (__u32)new);
	}
	pkt->redirect_rc = rc;
	return ALV_REDIRECT;
}

ALV_VNF_XDP(router_xdp, router)
ALV_VNF_TC(router_tc, router)

char LICENSE[] SEC("license") = "GPL";
