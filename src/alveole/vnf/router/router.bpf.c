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
 *   A multibit trie of 256-slot array chunks (tables.py has the details):
 *   per family a root array indexed by the top 16 bits of the destination
 *   (router_root4/6) and one big array (router_tbl4/6) cut into chunks. A
 *   64-bit slot holds the next hop of the longest route ending at its level
 *   (0: none) and a link to the chunk below, indexed by the next 8 bits
 *   (IPv4: DIR-16-8-8). IPv6 also links guard records (ROUTER_GUARD): a
 *   prefix to compare, then an entry (a leaf's next hop, or the chunk below
 *   further down): path compression. The walk keeps the deepest next hop:
 *   the longest match. Every read is an inlined array lookup (no helper
 *   call): ~1 ns plus the memory access, where a hash lookup costs 10-15 ns
 *   and the kernel LPM trie ~90 ns with 10k routes here.
 *   User space writes the slots through mmap (one aligned 8-byte store each);
 *   a chunk or record is filled before it is linked and reused only after an
 *   RCU grace period once unlinked, so a walk sees, at every step, a slot of
 *   the old or the new table of the prefix it followed (update.py).
 *   Next hops (router_nh, indexed by id) are one 8-byte word: the neighbour's
 *   MAC and an egress profile (router_egress: ifindex, source MAC, MTU; never
 *   changed while a next hop points at it).
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

/* route table slots (tables.py) */
enum router_entry {
	ROUTER_NH_MASK = 0xffff,   /* next hop id, 0: no route ends at this slot's level */
	ROUTER_NH_KERNEL = 0xffff, /* the route's packets go to the kernel */
	ROUTER_GUARD = 1 << 16,    /* the link is a guard record, not a chunk (IPv6) */
	ROUTER_LINK_SHIFT = 32,    /* the link: chunk or record number, 0: nothing below */
	ROUTER_CHUNK = 256,        /* slots per chunk */
	ROUTER_RECORD = 4,         /* slots per guard record: prefix high, low, entry, length */
	ROUTER_WALK6 = 32,         /* steps of the IPv6 walk: 14 chunks, 15 guards, the last entry */
	ROUTER_EGRESS_MAX = 4096,  /* egress profiles (0 unused) */
};

#define ROUTER_ROOT_BITS 16

/* a next hop: read as one 8-byte word (written with one store), never half of two */
struct router_nexthop {
	__u8 dmac[6];  /* the neighbour's MAC */
	__u16 egress;  /* router_egress index, 0: no next hop */
};

/* where a next hop's packets leave: immutable while a next hop points at it */
struct router_egress {
	__u8 smac[6];  /* the egress interface's MAC */
	__u16 mtu;     /* larger IP packets are passed to the kernel */
	__u32 ifindex;
};

/* the enums Python mirrors, in the object's BTF (a test compares them) */
ALV_BTF_EXPORT(enum router_mode);
ALV_BTF_EXPORT(enum router_pass_reason);
ALV_BTF_EXPORT(enum router_entry);

const volatile __u32 router_mode = ROUTER_TABLE;
const volatile __u32 fib_flags = 0; /* BPF_FIB_LOOKUP_* */

/* the route tables: written by user space through mmap (BPF_F_MMAPABLE) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << ROUTER_ROOT_BITS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} router_root4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << 18); /* config.table_size */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} router_tbl4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << ROUTER_ROOT_BITS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} router_root6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << 18); /* config.table_size */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} router_tbl6 SEC(".maps");

/* next hops by id (1..65534) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct router_nexthop);
} router_nh SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ROUTER_EGRESS_MAX);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct router_egress);
} router_egress SEC(".maps");

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

/* the next hop id of the longest route to daddr (network order), 0: none */
static __always_inline __u32 router_lookup4(__be32 daddr)
{
	__u32 a = bpf_ntohl(daddr), k = a >> ROUTER_ROOT_BITS, nh;
	__u64 *v, e;

	v = bpf_map_lookup_elem(&router_root4, &k);
	if (!v)
		return 0;
	e = *v;
	nh = e & ROUTER_NH_MASK;
	if (!(e >> ROUTER_LINK_SHIFT))
		return nh;
	k = (__u32)(e >> ROUTER_LINK_SHIFT) << 8 | ((a >> 8) & 0xff);
	v = bpf_map_lookup_elem(&router_tbl4, &k);
	if (!v)
		return nh;
	e = *v;
	if (e & ROUTER_NH_MASK)
		nh = e & ROUTER_NH_MASK;
	if (!(e >> ROUTER_LINK_SHIFT))
		return nh;
	k = (__u32)(e >> ROUTER_LINK_SHIFT) << 8 | (a & 0xff);
	v = bpf_map_lookup_elem(&router_tbl4, &k);
	if (v && (*v & ROUTER_NH_MASK))
		nh = *v & ROUTER_NH_MASK;
	return nh;
}

/* the 8 bits of the destination after its first done bits */
static __always_inline __u32 router_byte6(__u64 hi, __u64 lo, __u32 done)
{
	done &= 0x78;
	if (done < 64)
		return (hi >> (56 - done)) & 0xff;
	return (lo >> (120 - done)) & 0xff;
}

/* the destination's first plen bits equal the prefix's */
static __always_inline int router_match6(__u64 hi, __u64 lo, __u64 phi, __u64 plo, __u32 plen)
{
	__u64 mhi = ~0ULL, mlo = ~0ULL;

	if (plen < 64) {
		mhi = plen ? ~(~0ULL >> plen) : 0;
		mlo = 0;
	} else if (plen < 128) {
		mlo = ~(~0ULL >> (plen - 64));
	}
	return !(((hi ^ phi) & mhi) | ((lo ^ plo) & mlo));
}

static __always_inline __u64 *router_slot6(__u32 k)
{
	return bpf_map_lookup_elem(&router_tbl6, &k);
}

static __always_inline __u32 router_lookup6(const union alv_addr *daddr)
{
	__u64 hi = (__u64)bpf_ntohl(daddr->w[0]) << 32 | bpf_ntohl(daddr->w[1]);
	__u64 lo = (__u64)bpf_ntohl(daddr->w[2]) << 32 | bpf_ntohl(daddr->w[3]);
	__u32 k = hi >> 48, nh = 0, done = ROUTER_ROOT_BITS, link, i;
	__u64 *v, *p0, *p1, *p2, *p3, e;

	v = bpf_map_lookup_elem(&router_root6, &k);
	if (!v)
		return 0;
	e = *v;
	for (i = 0; i < ROUTER_WALK6; i++) {
		if (e & ROUTER_NH_MASK)
			nh = e & ROUTER_NH_MASK;
		link = e >> ROUTER_LINK_SHIFT;
		if (!link)
			break;
		if (e & ROUTER_GUARD) {
			/* a guard record: go on with its entry if the prefix matches */
			k = link * ROUTER_RECORD;
			p0 = router_slot6(k);
			p1 = router_slot6(k + 1);
			p2 = router_slot6(k + 2);
			p3 = router_slot6(k + 3);
			if (!p0 || !p1 || !p2 || !p3 || !router_match6(hi, lo, *p0, *p1, (__u32)*p3))
				break;
			done = (__u32)*p3;
			e = *p2;
			continue;
		}
		v = router_slot6(link << 8 | router_byte6(hi, lo, done));
		if (!v)
			break;
		done += 8;
		e = *v;
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
	struct router_egress *eg;
	__u32 id, eidx;
	__u64 w;

	id = h->family == ALV_FAMILY_IPV4 ? router_lookup4(h->daddr.w[3]) : router_lookup6(&h->daddr);
	if (!id)
		return ROUTER_PASS_NO_ROUTE;
	if (id == ROUTER_NH_KERNEL)
		return ROUTER_PASS_TO_KERNEL;
	nh = bpf_map_lookup_elem(&router_nh, &id);
	if (!nh)
		return ROUTER_PASS_NO_NEIGH;
	/* one load: the MAC and the egress of the same version of the next hop */
	w = *(volatile __u64 *)nh;
	eidx = w >> 48;
	eg = bpf_map_lookup_elem(&router_egress, &eidx);
	if (!eg || !eg->ifindex)
		return ROUTER_PASS_NO_NEIGH;
	if (ip_len > eg->mtu)
		return ROUTER_PASS_MTU;
	__builtin_memcpy(hop->macs, &w, 6);
	__builtin_memcpy(hop->macs + 6, eg->smac, 6);
	hop->ifindex = eg->ifindex;
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
