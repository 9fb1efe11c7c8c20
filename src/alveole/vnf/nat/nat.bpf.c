// SPDX-License-Identifier: GPL-2.0
/*
 * nat: source NAT (masquerade, with port allocation) and destination NAT (port
 * forwarding), IPv4 (NAT44) and IPv6 (NAT66), on the conntrack core.
 *
 * Where it runs: on the NAT box's outside interface, in both directions.
 *   inbound  (XDP, or TC ingress): packets to the NAT address. Replies of
 *            translated flows get their destination translated back (through
 *            the reverse binding nat_rev), new flows matching a port-forwarding
 *            rule (nat_dnat) get a binding, ICMP errors quoting a translated
 *            packet are translated (outer and quoted headers). Before routing,
 *            so the kernel routes the packet to the inside host.
 *   outbound (TC egress): flows from the SNAT prefixes (nat_snat) get the NAT
 *            address and a port from the range; replies of port-forwarded flows
 *            get the public address back; ICMP errors from inside hosts about
 *            translated flows are translated. After routing, on forwarded and
 *            locally generated traffic alike.
 * The direction is the hook's: XDP is inbound; in TC, a packet is inbound when
 * it is being received (skb->ingress_ifindex == skb->ifindex), outbound when
 * it leaves. One loaded program attached to the interface's TC ingress and
 * egress (or XDP + TC egress, sharing the maps) is a whole NAT.
 *
 * Flows: the conntrack entry (alv_ct) is keyed by the flow as the inside sees
 * it (client:port <-> remote:port for SNAT, remote <-> server for DNAT) and
 * holds the binding (entry->nat: the NAT address and port, SNAT or DNAT). The
 * reverse binding (nat_rev4, nat_rev6) is keyed by the flow as the outside sees it
 * (remote, NAT address, NAT port, protocol) and gives the inside endpoint.
 * Outbound packets cost one lookup (conntrack), inbound two (nat_rev, then
 * conntrack for the state).
 *
 * Ports: a new SNAT flow keeps its source port if it lies in the range, else
 * tries NAT_TRIES ports from a hash of the flow (seeded), in order; a port is
 * taken by inserting its reverse binding with BPF_NOEXIST, which is atomic
 * across CPUs. A port is unique per remote endpoint (as Linux does), so the
 * whole range is available towards every remote. When every candidate is
 * taken the packet is dropped (nat_stats.exhausted). ICMP echo identifiers
 * are translated like ports (from the same range).
 *
 * Checksums: incremental. XDP writes them directly (alveole/csum.h); TC uses
 * bpf_l4_csum_replace() for the TCP/UDP/ICMPv6 checksum, which also handles
 * CHECKSUM_PARTIAL skbs (only the pseudo-header part is in the field then)
 * and keeps skb->csum right for CHECKSUM_COMPLETE ones. A UDP checksum of
 * zero stays zero.
 *
 * Not translated (passed on as they are): traffic that is not to the NAT
 * address inbound, nor from a SNAT prefix or a tracked flow outbound; inbound
 * later fragments (no ports: counted in frag_in). Outbound later fragments
 * from SNAT prefixes get the NAT address (their first fragment carries the
 * port). Dropped: outbound packets from SNAT prefixes that cannot be
 * translated (other protocols, ICMP other than echo requests and errors about
 * tracked flows, a RST opening nothing) and new flows without a free port.
 */
#include <alveole/vnf.h>
#include <alveole/parse.h>
#include <alveole/csum.h>
#include <alveole/conntrack.h>

#define NAT_TRIES 32 /* ports tried for a new SNAT flow */

enum nat_family_bit {
	NAT_V4 = 1,
	NAT_V6 = 2,
};

struct nat_conf {
	union alv_addr addr4; /* the IPv4 NAT address (::ffff:a.b.c.d) */
	union alv_addr addr6; /* the IPv6 NAT address */
	__u16 port_min;       /* SNAT ports and echo identifiers */
	__u16 port_max;
	__u32 seed;           /* mixed into the port hash */
	__u32 snat_count;     /* entries in nat_snat: 0 skips the lookup */
	__u8 families;        /* enum nat_family_bit: which addresses are set */
	__u8 pad[3];
};

struct nat_prefix {
	__u32 prefixlen;
	__u8 addr[16]; /* IPv4 as ::ffff:a.b.c.d/(96 + len) */
};

/* a port-forwarding rule: NAT address, protocol and port -> inside endpoint */
struct nat_dnat_key {
	__u16 port;
	__u8 proto;
	__u8 family;
};

struct nat_dnat_val {
	union alv_addr addr;
	__u16 port;
	__u16 pad;
};

/* a translated flow as the outside sees it: IPv4 (16-byte key) and IPv6 (40-byte key) */
struct nat_rev_key4 {
	__be32 raddr; /* the remote endpoint */
	__be32 xaddr; /* the NAT address */
	__u16 rport;  /* ICMP echo: the translated identifier */
	__u16 xport;  /* the NAT port, or the translated identifier */
	__u8 proto;
	__u8 pad[3];
};

struct nat_rev_key6 {
	union alv_addr raddr;
	union alv_addr xaddr;
	__u16 rport;
	__u16 xport;
	__u8 proto;
	__u8 pad[3];
};

/* ... and its inside endpoint */
struct nat_rev_val {
	union alv_addr addr;
	__u16 port;
	__u8 kind; /* ALV_CT_NAT_SNAT or ALV_CT_NAT_DNAT */
	__u8 pad[5];
};

struct nat_stats {
	__u64 out_translated; /* outbound packets rewritten */
	__u64 in_translated;  /* inbound packets rewritten */
	__u64 snat_new;       /* SNAT bindings made */
	__u64 dnat_new;       /* DNAT bindings made */
	__u64 icmp_errors;    /* ICMP errors translated, either way */
	__u64 frag_out;       /* outbound later fragments given the NAT address */
	__u64 frag_in;        /* inbound later fragments, passed untranslated */
	__u64 exhausted;      /* dropped: no free port */
	__u64 untranslatable; /* dropped: from a SNAT prefix, cannot be translated */
	__u64 unmatched_in;   /* to the NAT address without a binding: passed on */
	__u64 restored;       /* conntrack entries re-created from a live binding */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nat_conf);
} nat_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct nat_prefix);
	__type(value, __u8);
} nat_snat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct nat_dnat_key);
	__type(value, struct nat_dnat_val);
} nat_dnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ALV_CT_SIZE); /* config.table_size, as alv_ct4 */
	__type(key, struct nat_rev_key4);
	__type(value, struct nat_rev_val);
} nat_rev4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ALV_CT_SIZE);
	__type(key, struct nat_rev_key6);
	__type(value, struct nat_rev_val);
} nat_rev6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nat_stats);
} nat_stats SEC(".maps");

/* a reverse key of either family (8-byte aligned: written as 64-bit words) */
struct nat_rev_key {
	union {
		struct nat_rev_key4 k4;
		struct nat_rev_key6 k6;
	};
	__u8 family;
} __attribute__((aligned(8)));

/*
 * Whole 64-bit words from 32-bit loads, as alv_ct_tuple_from() does: the
 * kernel hashes and compares the key right after, and a load spanning several
 * smaller stores would stall (see alveole/conntrack.h).
 */
static __always_inline void nat_rk_make(struct nat_rev_key *rk, __u8 family, const union alv_addr *raddr,
					__u16 rport, const union alv_addr *xaddr, __u16 xport, __u8 proto)
{
	alv_ct_word *k = (alv_ct_word *)&rk->k6; /* k4 starts there too */

	rk->family = family;
	if (family == ALV_FAMILY_IPV4) {
		k[0] = alv_join32(alv_load32(&raddr->w[3]), alv_load32(&xaddr->w[3]));
		k[1] = alv_ct_key_tail(rport, xport, proto); /* and the pads: hashed */
		return;
	}
	k[0] = alv_addr_word64(raddr, 0);
	k[1] = alv_addr_word64(raddr, 1);
	k[2] = alv_addr_word64(xaddr, 0);
	k[3] = alv_addr_word64(xaddr, 1);
	k[4] = alv_ct_key_tail(rport, xport, proto);
}

static __always_inline void nat_rk_ports(struct nat_rev_key *rk, __u16 rport, __u16 xport)
{
	if (rk->family == ALV_FAMILY_IPV4) {
		rk->k4.rport = rport;
		rk->k4.xport = xport;
	} else {
		rk->k6.rport = rport;
		rk->k6.xport = xport;
	}
}

static __always_inline struct nat_rev_val *nat_rev_get(const struct nat_rev_key *rk)
{
	struct nat_rev_val *v;

	if (rk->family == ALV_FAMILY_IPV4) {
		v = bpf_map_lookup_elem(&nat_rev4, &rk->k4);
		alv_ct_call_site(v); /* see alveole/conntrack.h */
		return v;
	}
	return bpf_map_lookup_elem(&nat_rev6, &rk->k6);
}

static __always_inline int nat_rev_put(const struct nat_rev_key *rk, const struct nat_rev_val *v, __u64 flags)
{
	if (rk->family == ALV_FAMILY_IPV4)
		return bpf_map_update_elem(&nat_rev4, &rk->k4, v, flags);
	return bpf_map_update_elem(&nat_rev6, &rk->k6, v, flags);
}

static __always_inline void nat_rev_del(const struct nat_rev_key *rk)
{
	if (rk->family == ALV_FAMILY_IPV4)
		bpf_map_delete_elem(&nat_rev4, &rk->k4);
	else
		bpf_map_delete_elem(&nat_rev6, &rk->k6);
}

/* what every step needs */
struct nat_ctx {
	struct alv_parsed h;
	struct nat_conf *conf;
	struct nat_stats *ns;
	struct alv_ct_stats *cs;
	__u64 now;
};

static __always_inline int nat_inbound(struct alv_pkt *pkt)
{
	struct __sk_buff *skb;

	if (pkt->hook == ALV_HOOK_XDP)
		return 1;
	skb = pkt->ctx;
	return skb->ingress_ifindex == skb->ifindex;
}

static __always_inline const union alv_addr *nat_addr(const struct nat_ctx *x)
{
	return x->h.family == ALV_FAMILY_IPV4 ? &x->conf->addr4 : &x->conf->addr6;
}

static __always_inline int nat_snat_source(const struct nat_ctx *x)
{
	struct nat_prefix p = { .prefixlen = 128 };

	if (!x->conf->snat_count)
		return 0;
	__builtin_memcpy(p.addr, x->h.saddr.b, 16);
	return bpf_map_lookup_elem(&nat_snat, &p) != NULL;
}

/* FNV-1a over the flow's key words, seeded (alveole.vnf.nat.model.port_hash mirrors it) */
static __always_inline __u32 nat_hash(const struct alv_ct_tuple *t, __u32 seed)
{
	const __u32 *w = (const __u32 *)&t->key;
	__u32 h = 2166136261u ^ seed;
	int i;

	if (t->family == ALV_FAMILY_IPV4) {
#pragma unroll
		for (i = 0; i < sizeof(struct alv_ct_key4) / 4; i++)
			h = (h ^ w[i]) * 16777619u;
	} else {
#pragma unroll
		for (i = 0; i < sizeof(struct alv_ct_key) / 4; i++)
			h = (h ^ w[i]) * 16777619u;
	}
	return h ^ (h >> 16);
}

/* --- checksums: XDP writes them, TC asks the kernel (CHECKSUM_PARTIAL / COMPLETE skbs) --- */

/* an address in the pseudo-header changed: patch the L4 checksum at off */
static __always_inline void nat_csum_addr(struct alv_pkt *pkt, __u32 off, int v4, __be32 old4,
					  const union alv_addr *old6, const union alv_addr *new, int udp)
{
	if (pkt->hook == ALV_HOOK_TC) {
		__u64 flags = BPF_F_PSEUDO_HDR | (udp ? BPF_F_MARK_MANGLED_0 : 0);
		union alv_addr o = *old6, n = *new;

		if (v4) {
			bpf_l4_csum_replace(pkt->ctx, off, old4, new->w[3], flags | sizeof(__be32));
		} else {
			__s64 diff = bpf_csum_diff(o.w, 16, n.w, 16, 0);

			bpf_l4_csum_replace(pkt->ctx, off, 0, diff, flags | BPF_F_IPV6);
		}
		return;
	}
	if (v4)
		alv_l4_csum_update32(alv_ptr(pkt, off, 2), old4, new->w[3], udp ? ALV_CSUM_UDP : ALV_CSUM_TCP);
	else
		alv_l4_csum_update128(alv_ptr(pkt, off, 2), old6->w, new->w, udp ? ALV_CSUM_UDP : ALV_CSUM_TCP);
}

/* a 16-bit word covered by the L4 checksum at off changed */
static __always_inline void nat_csum16(struct alv_pkt *pkt, __u32 off, __be16 old, __be16 new, int udp)
{
	if (pkt->hook == ALV_HOOK_TC) {
		bpf_l4_csum_replace(pkt->ctx, off, old, new, (udp ? BPF_F_MARK_MANGLED_0 : 0) | sizeof(__be16));
		return;
	}
	alv_l4_csum_update16(alv_ptr(pkt, off, 2), old, new, udp ? ALV_CSUM_UDP : ALV_CSUM_TCP);
}

/*
 * XDP: the address (pseudo-header, when pseudo) and port changes in one
 * update of the L4 checksum at off, 32-bit words summed in 64 bits, one fold
 * (the same result as alv_l4_csum_update128/32 then _16, at half the work:
 * a fold gives the one representative in [1, 0xffff] of a nonzero sum).
 */
static __always_inline void nat_xdp_l4_csum(struct alv_pkt *pkt, __u32 off, int pseudo, int v4, __be32 old4,
					    const union alv_addr *old6, const union alv_addr *new, __be16 oldp,
					    __be16 newp, int udp)
{
	__sum16 *c = alv_ptr(pkt, off, sizeof(*c));
	__u64 sum;
	__u16 res;
	int i;

	if (!c || (udp && !*c))
		return;
	sum = (__u16)~*c + (__u16)~oldp + (__u16)newp;
	if (pseudo) {
		if (v4) {
			sum += (__u32)~old4 + (__u64)new->w[3];
		} else {
#pragma unroll
			for (i = 0; i < 4; i++)
				sum += (__u32)~old6->w[i] + (__u64)new->w[i];
		}
	}
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	res = ~alv_csum_fold(sum);
	if (udp && !res)
		res = 0xffff; /* a computed zero is sent as all ones */
	*c = res;
}

/*
 * Rewrite the packet's source (dst = 0) or destination (dst = 1) endpoint:
 * address (and the IPv4 header checksum), then with with_l4 the port (ICMP
 * echo: the identifier), then the L4 checksum. Direct writes first: in TC the
 * checksum helper invalidates packet pointers.
 */
static __always_inline void nat_rewrite(struct alv_pkt *pkt, const struct alv_parsed *h, int dst,
					const union alv_addr *addr, __u16 port, int with_l4)
{
	__u32 l4 = h->l4_off, port_off = 0, csum_off = 0;
	int v4 = h->family == ALV_FAMILY_IPV4, pseudo = 1, udp = 0;
	union alv_addr old6 = {}, new = *addr;
	__be16 oldp = 0, newp = bpf_htons(port);
	__be32 old4 = 0;

	if (with_l4) {
		if (h->l4_proto == IPPROTO_TCP) {
			port_off = l4 + (dst ? 2 : 0);
			csum_off = l4 + 16;
		} else if (h->l4_proto == IPPROTO_UDP) {
			port_off = l4 + (dst ? 2 : 0);
			csum_off = l4 + 6;
			udp = 1;
		} else { /* ICMP echo: identifier and checksum (ICMPv6's covers the addresses) */
			port_off = l4 + 4;
			csum_off = l4 + 2;
			pseudo = !v4;
		}
	}
	if (v4) {
		struct iphdr *ip = alv_ptr(pkt, h->l3_off, sizeof(*ip));
		__be32 *f;

		if (!ip)
			return;
		f = dst ? &ip->daddr : &ip->saddr;
		old4 = *f;
		*f = new.w[3];
		ip->check = alv_csum_update32(ip->check, old4, new.w[3]);
	} else {
		union alv_addr *f = alv_ptr(pkt, h->l3_off + (dst ? 24 : 8), sizeof(*f));

		if (!f)
			return;
		old6 = *f;
		*f = new;
	}
	if (port_off) {
		__be16 *p = alv_ptr(pkt, port_off, sizeof(*p));

		if (!p)
			return;
		oldp = *p;
		*p = newp;
	}
	if (!csum_off)
		return;
	if (pkt->hook == ALV_HOOK_XDP) {
		nat_xdp_l4_csum(pkt, csum_off, pseudo, v4, old4, &old6, &new, oldp, newp, udp);
		return;
	}
	if (pseudo)
		nat_csum_addr(pkt, csum_off, v4, old4, &old6, &new, udp);
	nat_csum16(pkt, csum_off, oldp, newp, udp);
}

/*
 * Translate an ICMP error and the packet it quotes. Inbound (the quote is a
 * packet we translated on its way out): the quote's source and the outer
 * destination become the inside endpoint. Outbound (the quote is a packet we
 * translated on its way in): the quote's destination and the outer source
 * become the NAT endpoint. Every change inside the ICMP message patches the
 * ICMP checksum; the quoted L4 checksum is fixed when the quote holds it.
 */
static __always_inline void nat_icmp_xlate(struct alv_pkt *pkt, const struct alv_parsed *h,
					   const struct alv_ct_inner *in, int inbound, const union alv_addr *addr,
					   __u16 port)
{
	int v4 = h->family == ALV_FAMILY_IPV4, udp = in->proto == IPPROTO_UDP, pseudo = 1;
	__u32 l4 = in->l4_off, port_off, lcsum_off;
	union alv_addr new = *addr, old6 = {}, outer6 = {};
	__be16 oldp, newp = bpf_htons(port);
	__be32 old4 = 0;
	__sum16 *icsum, ic;
	__be16 *p;

	icsum = alv_ptr(pkt, h->l4_off + 2, sizeof(*icsum));
	if (!icsum)
		return;
	ic = *icsum;
	/* the quoted address (and its IPv4 header checksum) */
	if (v4) {
		struct iphdr *ip = alv_ptr(pkt, in->l3_off, sizeof(*ip));
		__sum16 oc;
		__be32 *f;

		if (!ip)
			return;
		f = inbound ? &ip->saddr : &ip->daddr;
		old4 = *f;
		oc = ip->check;
		*f = new.w[3];
		ip->check = alv_csum_update32(oc, old4, new.w[3]);
		ic = alv_csum_update32(ic, old4, new.w[3]);
		ic = alv_csum_update16(ic, oc, ip->check);
	} else {
		union alv_addr *f = alv_ptr(pkt, in->l3_off + (inbound ? 8 : 24), sizeof(*f));

		if (!f)
			return;
		old6 = *f;
		*f = new;
		ic = alv_csum_update128(ic, old6.w, new.w);
	}
	/* the quoted port, or echo identifier */
	if (in->proto == IPPROTO_TCP || udp) {
		port_off = l4 + (inbound ? 0 : 2);
		lcsum_off = l4 + (udp ? 6 : 16);
	} else {
		port_off = l4 + 4;
		lcsum_off = l4 + 2;
		pseudo = !v4;
	}
	p = alv_ptr(pkt, port_off, sizeof(*p));
	if (!p)
		return;
	oldp = *p;
	*p = newp;
	ic = alv_csum_update16(ic, oldp, newp);
	/* the quoted L4 checksum, when quoted */
	if (lcsum_off + 2 <= h->ip_end) {
		__sum16 *lc = alv_ptr(pkt, lcsum_off, sizeof(*lc));

		if (lc && !(udp && !*lc)) {
			__sum16 oldc = *lc, c = oldc;

			if (pseudo)
				c = v4 ? alv_csum_update32(c, old4, new.w[3]) : alv_csum_update128(c, old6.w, new.w);
			c = alv_csum_update16(c, oldp, newp);
			if (udp && !c)
				c = 0xffff;
			*lc = c;
			ic = alv_csum_update16(ic, oldc, c);
		}
	}
	*icsum = ic;
	/* the outer address (ICMPv6's checksum covers it, ICMP's does not) */
	if (v4) {
		struct iphdr *ip = alv_ptr(pkt, h->l3_off, sizeof(*ip));
		__be32 *f, o;

		if (!ip)
			return;
		f = inbound ? &ip->daddr : &ip->saddr;
		o = *f;
		*f = new.w[3];
		ip->check = alv_csum_update32(ip->check, o, new.w[3]);
	} else {
		union alv_addr *f = alv_ptr(pkt, h->l3_off + (inbound ? 24 : 8), sizeof(*f));

		if (!f)
			return;
		outer6 = *f;
		*f = new;
		nat_csum_addr(pkt, h->l4_off + 2, 0, 0, &outer6, &new, 0);
	}
}

/*
 * Take a port for a new SNAT flow: insert its reverse binding with
 * BPF_NOEXIST, trying the flow's own port first when it is in the range, then
 * ports from the hash. A binding already there for the same inside endpoint is
 * the flow's own (its conntrack entry was gone): it is kept. -1: none free.
 */
static __always_inline int nat_alloc(const struct nat_conf *c, struct nat_rev_key *rk,
				     const struct nat_rev_val *rv, __u16 rport, __u32 hash, int icmp)
{
	__u32 lo = c->port_min, hi = c->port_max, span, own = rv->port, port, i;
	struct nat_rev_val *cur;

	if (hi < lo)
		return -1;
	span = hi - lo + 1;
	for (i = 0; i < NAT_TRIES; i++) {
		if (i == 0 && own >= lo && own <= hi)
			port = own;
		else
			port = lo + (hash + i) % span;
		nat_rk_ports(rk, icmp ? port : rport, port);
		if (!nat_rev_put(rk, rv, BPF_NOEXIST))
			return port;
		cur = nat_rev_get(rk);
		if (cur && cur->kind == rv->kind && cur->port == rv->port && alv_ct_addr_eq(&cur->addr, &rv->addr))
			return port;
	}
	return -1;
}

static __always_inline int nat_is_icmp(const struct alv_parsed *h)
{
	return h->l4_proto == (h->family == ALV_FAMILY_IPV4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
}

/* --- outbound -------------------------------------------------------------------------- */

static __always_inline enum alv_verdict nat_snat_new(struct alv_pkt *pkt, struct nat_ctx *x,
						     const struct alv_ct_tuple *t)
{
	const struct alv_parsed *h = &x->h;
	int icmp = nat_is_icmp(h), port, err, dir;
	struct nat_rev_key rk;
	struct nat_rev_val rv = {};
	struct alv_ct_nat n = {};
	struct alv_ct_entry *e;
	__u16 sport, dport;
	union alv_addr src, dst;

	if ((icmp && !alv_ct_is_echo_request(h->family, h->icmp_type)) ||
	    (h->l4_proto == IPPROTO_TCP && (h->tcp_flags & ALV_TCP_RST))) {
		x->ns->untranslatable++;
		return ALV_DROP;
	}
	alv_ct_endpoints(t, &src, &sport, &dst, &dport);
	nat_rk_make(&rk, h->family, &dst, dport, nat_addr(x), 0, h->l4_proto);
	rv.addr = src;
	rv.port = sport;
	rv.kind = ALV_CT_NAT_SNAT;
	port = nat_alloc(x->conf, &rk, &rv, dport, nat_hash(t, x->conf->seed), icmp);
	if (port < 0) {
		x->ns->exhausted++;
		return ALV_DROP;
	}
	n.addr = *nat_addr(x);
	n.port = port;
	n.kind = ALV_CT_NAT_SNAT;
	err = alv_ct_create(t, pkt->len, x->now, &n, ALV_CT_DIR_ORIG, x->cs);
	if (err == -EEXIST) {
		/* another CPU made the flow first: take its binding, give ours back */
		e = alv_ct_get(t);
		if (!e || e->nat.port != port)
			nat_rev_del(&rk);
		if (!e)
			return ALV_DROP;
		dir = t->src == e->orig ? ALV_CT_DIR_ORIG : ALV_CT_DIR_REPLY;
		alv_ct_update(e, dir, t, pkt->len, x->now);
		n = e->nat;
	} else if (err) {
		nat_rev_del(&rk);
		x->ns->exhausted++;
		return ALV_DROP;
	} else {
		x->ns->snat_new++;
	}
	nat_rewrite(pkt, h, 0, &n.addr, n.port, 1);
	x->ns->out_translated++;
	return ALV_CONTINUE;
}

static __always_inline enum alv_verdict nat_out_icmp_error(struct alv_pkt *pkt, struct nat_ctx *x)
{
	struct alv_ct_entry *e;
	struct alv_ct_inner in;
	struct alv_ct_nat n;
	int dir = 0;

	if (!alv_ct_inner(pkt, &x->h, &in)) {
		e = alv_ct_lookup(&in.t, x->now, &dir, x->cs);
		/* about a packet we translated on its way in */
		if (e && ((e->nat.kind == ALV_CT_NAT_SNAT && dir == ALV_CT_DIR_REPLY) ||
			  (e->nat.kind == ALV_CT_NAT_DNAT && dir == ALV_CT_DIR_ORIG))) {
			n = e->nat;
			alv_ct_count(x->cs, related);
			nat_icmp_xlate(pkt, &x->h, &in, 0, &n.addr, n.port);
			x->ns->icmp_errors++;
			return ALV_CONTINUE;
		}
	}
	if (nat_snat_source(x)) {
		x->ns->untranslatable++;
		return ALV_DROP;
	}
	return ALV_CONTINUE;
}

static __always_inline enum alv_verdict nat_out(struct alv_pkt *pkt, struct nat_ctx *x)
{
	const struct alv_parsed *h = &x->h;
	struct alv_ct_entry *e;
	struct alv_ct_tuple t;
	struct alv_ct_nat n;
	int dir = 0;

	if (h->frag & ALV_FRAG_LATER) {
		if (nat_snat_source(x)) {
			nat_rewrite(pkt, h, 0, nat_addr(x), 0, 0);
			x->ns->frag_out++;
		}
		return ALV_CONTINUE;
	}
	if (alv_ct_is_icmp_error(h))
		return nat_out_icmp_error(pkt, x);
	/* translatable: TCP, UDP, ICMP echo */
	if ((h->l4_proto != IPPROTO_TCP && h->l4_proto != IPPROTO_UDP && !nat_is_icmp(h)) ||
	    alv_ct_tuple(pkt, h, &t)) {
		if (nat_snat_source(x)) {
			x->ns->untranslatable++;
			return ALV_DROP;
		}
		return ALV_CONTINUE;
	}
	e = alv_ct_lookup(&t, x->now, &dir, x->cs);
	if (e) {
		alv_ct_update(e, dir, &t, pkt->len, x->now);
		if ((e->nat.kind == ALV_CT_NAT_SNAT && dir == ALV_CT_DIR_ORIG) ||
		    (e->nat.kind == ALV_CT_NAT_DNAT && dir == ALV_CT_DIR_REPLY)) {
			n = e->nat;
			nat_rewrite(pkt, h, 0, &n.addr, n.port, 1);
			x->ns->out_translated++;
		}
		return ALV_CONTINUE;
	}
	if (!nat_snat_source(x))
		return ALV_CONTINUE;
	return nat_snat_new(pkt, x, &t);
}

/* --- inbound --------------------------------------------------------------------------- */

static __always_inline enum alv_verdict nat_in_icmp_error(struct alv_pkt *pkt, struct nat_ctx *x)
{
	union alv_addr xaddr, raddr;
	struct nat_rev_key rk;
	struct nat_rev_val *rv, v;
	struct alv_ct_inner in;
	__u16 xport, rport;

	if (alv_ct_inner(pkt, &x->h, &in)) {
		x->ns->unmatched_in++;
		return ALV_CONTINUE;
	}
	/* the quote is a packet we sent: from the NAT endpoint to a remote */
	alv_ct_endpoints(&in.t, &xaddr, &xport, &raddr, &rport);
	nat_rk_make(&rk, x->h.family, &raddr, rport, &xaddr, xport, in.proto);
	rv = nat_rev_get(&rk);
	if (!rv) {
		x->ns->unmatched_in++;
		return ALV_CONTINUE;
	}
	v = *rv;
	nat_icmp_xlate(pkt, &x->h, &in, 1, &v.addr, v.port);
	x->ns->icmp_errors++;
	return ALV_CONTINUE;
}

/* a new flow to the NAT address: a port-forwarding rule, or nothing of ours */
static __always_inline enum alv_verdict nat_dnat_new(struct alv_pkt *pkt, struct nat_ctx *x,
						     const struct nat_rev_key *rk)
{
	const struct alv_parsed *h = &x->h;
	struct nat_dnat_key dk = { .port = h->dport, .proto = h->l4_proto, .family = h->family };
	struct nat_rev_val rv = { .kind = ALV_CT_NAT_DNAT };
	struct alv_ct_nat n = { .kind = ALV_CT_NAT_DNAT };
	struct nat_dnat_val *dv;
	struct alv_ct_entry *e;
	struct alv_ct_tuple t;
	int err, dir;

	if ((h->l4_proto != IPPROTO_TCP && h->l4_proto != IPPROTO_UDP) ||
	    (h->l4_proto == IPPROTO_TCP && (h->tcp_flags & ALV_TCP_RST))) {
		x->ns->unmatched_in++;
		return ALV_CONTINUE;
	}
	dv = bpf_map_lookup_elem(&nat_dnat, &dk);
	if (!dv) {
		x->ns->unmatched_in++;
		return ALV_CONTINUE;
	}
	rv.addr = dv->addr;
	rv.port = dv->port;
	err = nat_rev_put(rk, &rv, BPF_NOEXIST);
	if (err && err != -EEXIST) {
		x->ns->unmatched_in++;
		return ALV_CONTINUE;
	}
	n.addr = h->daddr;
	n.port = h->dport;
	alv_ct_tuple_from(&t, h->family, &h->saddr, h->sport, &rv.addr, rv.port, h->l4_proto, h->tcp_flags);
	err = alv_ct_create(&t, pkt->len, x->now, &n, ALV_CT_DIR_ORIG, x->cs);
	if (err == -EEXIST) {
		e = alv_ct_get(&t);
		if (e) {
			dir = t.src == e->orig ? ALV_CT_DIR_ORIG : ALV_CT_DIR_REPLY;
			alv_ct_update(e, dir, &t, pkt->len, x->now);
		}
	} else if (!err) {
		x->ns->dnat_new++;
	}
	nat_rewrite(pkt, h, 1, &rv.addr, rv.port, 1);
	x->ns->in_translated++;
	return ALV_CONTINUE;
}

static __always_inline enum alv_verdict nat_in(struct alv_pkt *pkt, struct nat_ctx *x)
{
	const struct alv_parsed *h = &x->h;
	struct nat_rev_key rk;
	struct nat_rev_val *rv, v;
	struct alv_ct_entry *e;
	struct alv_ct_tuple t;
	struct alv_ct_nat n = {};
	__u16 sport, dport;
	int dir = 0, id, err;

	if (!alv_ct_addr_eq(&h->daddr, nat_addr(x)))
		return ALV_CONTINUE;
	if (h->frag & ALV_FRAG_LATER) {
		x->ns->frag_in++;
		return ALV_CONTINUE;
	}
	if (alv_ct_is_icmp_error(h))
		return nat_in_icmp_error(pkt, x);
	if (h->l4_proto == IPPROTO_TCP || h->l4_proto == IPPROTO_UDP) {
		sport = h->sport;
		dport = h->dport;
	} else if ((h->layers & ALV_LAYER_L4) && nat_is_icmp(h) && alv_ct_is_echo(h->family, h->icmp_type) &&
		   !alv_ct_is_echo_request(h->family, h->icmp_type)) {
		id = alv_ct_echo_id(pkt, h->l4_off);
		if (id < 0)
			return ALV_CONTINUE;
		sport = dport = id;
	} else {
		x->ns->unmatched_in++;
		return ALV_CONTINUE;
	}
	nat_rk_make(&rk, h->family, &h->saddr, sport, &h->daddr, dport, h->l4_proto);
	rv = nat_rev_get(&rk);
	if (!rv)
		return nat_dnat_new(pkt, x, &rk);
	v = *rv;
	/* the flow as the inside sees it (ICMP echo: the inside identifier both ways) */
	alv_ct_tuple_from(&t, h->family, &h->saddr, nat_is_icmp(h) ? v.port : sport, &v.addr, v.port, h->l4_proto,
			  h->tcp_flags);
	e = alv_ct_lookup(&t, x->now, &dir, x->cs);
	if (e) {
		alv_ct_update(e, dir, &t, pkt->len, x->now);
	} else {
		/* the binding is live but its flow entry is gone (evicted, timed out): make it again */
		n.addr = h->daddr;
		n.port = dport;
		n.kind = v.kind;
		err = alv_ct_create(&t, pkt->len, x->now, &n,
				    v.kind == ALV_CT_NAT_SNAT ? ALV_CT_DIR_REPLY : ALV_CT_DIR_ORIG, x->cs);
		if (!err)
			x->ns->restored++;
	}
	nat_rewrite(pkt, h, 1, &v.addr, v.port, 1);
	x->ns->in_translated++;
	return ALV_CONTINUE;
}

static __always_inline enum alv_verdict nat(struct alv_pkt *pkt)
{
	struct nat_ctx x;
	__u32 zero = 0;

	if (alv_parse(pkt, &x.h) != ALV_PARSE_OK || !(x.h.layers & ALV_LAYER_PROTO))
		return ALV_CONTINUE;
	x.conf = bpf_map_lookup_elem(&nat_conf, &zero);
	x.ns = bpf_map_lookup_elem(&nat_stats, &zero);
	if (!x.conf || !x.ns)
		return ALV_CONTINUE;
	if (!(x.conf->families & (x.h.family == ALV_FAMILY_IPV4 ? NAT_V4 : NAT_V6)))
		return ALV_CONTINUE;
	x.cs = alv_ct_stats_get();
	x.now = bpf_ktime_get_coarse_ns();
	if (nat_inbound(pkt))
		return nat_in(pkt, &x);
	return nat_out(pkt, &x);
}

ALV_VNF_XDP(nat_xdp, nat)
ALV_VNF_TC(nat_tc, nat)

char LICENSE[] SEC("license") = "GPL";
