/* SPDX-License-Identifier: GPL-2.0 */
/*
 * alveole/parse.h: bounds-checked packet parsing for VNFs (XDP and TC).
 *
 * The contract
 * ------------
 * A struct alv_cursor walks the frame over [pos, end). alv_take(c, n) hands out
 * the next n bytes and advances, or returns NULL and records why in c->err:
 *   ALV_PARSE_TRUNCATED    the bytes lie beyond the frame, or beyond the IP
 *                          packet once an IP header set c->limit;
 *   ALV_PARSE_UNSUPPORTED  the bytes exist but lie beyond the linear part of a
 *                          non-linear skb (the TC entry pulls ALV_TC_PULL_LEN
 *                          bytes first, so this is rare).
 * Every read goes through alv_take with a compile-time constant n (the
 * verifier needs the constant to prove the read safe); alv_skip() passes over
 * variable-length parts (IPv4 options, IPv6 extension headers, TCP options)
 * without reading them.
 *
 * Each layer parser (alv_parse_eth, alv_parse_vlan, alv_parse_ipv4,
 * alv_parse_ipv6, alv_parse_ipv6_ext, alv_parse_tcp, alv_parse_udp,
 * alv_parse_icmp) takes the cursor at the start of its header and returns the
 * next protocol (>= 0) or -ALV_PARSE_* (< 0). alv_parse() chains them and
 * fills a struct alv_parsed; every VNF starts with it.
 *
 * The rules (mirrored exactly by alveole.vnf.parse in Python)
 * -----------------------------------------------------------
 * - Ethernet, then up to two 802.1Q / 802.1ad tags; a third tag stops the
 *   walk with UNSUPPORTED.
 * - IPv4: version must be 4 and IHL >= 5 (else MALFORMED); options (IHL > 5)
 *   are skipped; total length < IHL * 4 is MALFORMED. The header checksum is
 *   not verified (the stack does that).
 * - IPv6: version must be 6. Extension headers hop-by-hop (first only, else
 *   MALFORMED), routing, destination options and fragment are walked, at most
 *   ALV_IPV6_EXT_MAX of them (more: UNSUPPORTED). Anything else, including AH,
 *   ESP and "no next header" (59), is the upper-layer protocol.
 * - IP length vs frame length: the IP packet must fit in the frame
 *   (l3_off + total length > frame length is TRUNCATED); bytes after it are
 *   Ethernet padding, never parsed: L4 reads stop at ip_end. IPv6 jumbograms
 *   (payload length 0 + jumbo option) are not supported: their extension and
 *   L4 headers read as TRUNCATED.
 * - Fragments: frag has ALV_FRAG_MORE (MF / M set) and ALV_FRAG_LATER
 *   (offset != 0). A later fragment carries no L4 header: l4_proto is set,
 *   nothing after it is read, ports stay 0 and the status is OK. A first
 *   fragment is parsed like a whole packet (its L4 header must be complete).
 * - L4: TCP needs 20 bytes and doff >= 5 (else MALFORMED), its options are
 *   skipped (they must fit before ip_end); UDP needs 8 bytes (its length field
 *   is not checked); ICMP (in IPv4) and ICMPv6 (in IPv6) need 8 bytes. Other
 *   protocols are not read (status OK, no ALV_LAYER_L4).
 *
 * What is valid afterwards: status says where parsing stopped and why; each
 * ALV_LAYER_* bit in layers says a group of fields is valid:
 *   ALV_LAYER_ETH    eth_proto, vlan_depth, vlan_id[]   (L2 fully walked)
 *   ALV_LAYER_IP     family, saddr, daddr, ttl, tos, frag, l3_off, ip_end
 *   ALV_LAYER_PROTO  l4_proto, l4_off                   (extension headers walked)
 *   ALV_LAYER_L4     sport, dport, tcp_flags, icmp_type, icmp_code
 * Fields of layers not reached are zero. Addresses are 16 bytes, IPv4 as
 * IPv4-mapped IPv6 (::ffff:a.b.c.d, the IPv4 address in w[3]); ports are in
 * host byte order; offsets count from the start of the frame.
 */
#ifndef __ALVEOLE_PARSE_H
#define __ALVEOLE_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <alveole/vnf.h>

#ifndef ALV_IPV6_EXT_MAX
#define ALV_IPV6_EXT_MAX 8 /* extension headers walked before giving up */
#endif

#define ALV_VLAN_MAX 2 /* 802.1Q / 802.1ad tags walked */

/* why parsing stopped */
enum alv_parse_status {
	ALV_PARSE_OK = 0,          /* walked as far as the packet goes */
	ALV_PARSE_TRUNCATED = 1,   /* a header runs past the frame or the IP packet */
	ALV_PARSE_MALFORMED = 2,   /* a field is impossible (IHL < 5, doff < 5, ...) */
	ALV_PARSE_UNSUPPORTED = 3, /* valid, but beyond what the parser walks */
};

/* which groups of struct alv_parsed fields are valid */
enum alv_layer {
	ALV_LAYER_ETH = 1 << 0,
	ALV_LAYER_IP = 1 << 1,
	ALV_LAYER_PROTO = 1 << 2,
	ALV_LAYER_L4 = 1 << 3,
};

enum alv_frag {
	ALV_FRAG_MORE = 1 << 0,  /* more fragments follow (MF / M) */
	ALV_FRAG_LATER = 1 << 1, /* not the first fragment: no L4 header */
};

enum alv_family {
	ALV_FAMILY_NONE = 0,
	ALV_FAMILY_IPV4 = 4,
	ALV_FAMILY_IPV6 = 6,
};

/* an address of either family: IPv4 is ::ffff:a.b.c.d (network order) */
union alv_addr {
	__u8 b[16];
	__be32 w[4];
};

/* what alv_parse() found (see the rules above) */
struct alv_parsed {
	union alv_addr saddr;
	union alv_addr daddr;
	__u32 len;          /* frame length (skb->len in TC) */
	__u32 ip_end;       /* offset just past the IP packet: padding starts here */
	__u16 l3_off;       /* offset of the IP header */
	__u16 l4_off;       /* offset of the L4 header (after IPv6 extension headers) */
	__u16 eth_proto;    /* ethertype after the VLAN tags, host order */
	__u16 vlan_id[ALV_VLAN_MAX]; /* outer first; VID only (12 bits) */
	__u16 sport;        /* TCP/UDP ports, host order */
	__u16 dport;
	__u8 status;        /* enum alv_parse_status */
	__u8 layers;        /* enum alv_layer bits */
	__u8 vlan_depth;
	__u8 family;        /* enum alv_family */
	__u8 l4_proto;      /* IPPROTO_* after the extension headers */
	__u8 ttl;           /* TTL / hop limit */
	__u8 tos;           /* TOS / traffic class */
	__u8 frag;          /* enum alv_frag bits */
	__u8 tcp_flags;     /* byte 13 of the TCP header (FIN 0x01 ... CWR 0x80) */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 ext_count;     /* IPv6 extension headers walked */
};

struct alv_cursor {
	void *pos;   /* next byte to read */
	void *end;   /* data_end: the bound the verifier knows */
	__u32 off;   /* offset of pos from the start of the frame */
	__u32 limit; /* reads stop here: frame length, then the IP packet's end */
	int err;     /* why the last alv_take() failed (enum alv_parse_status) */
};

/* 802.1Q / 802.1ad tag (linux/if_vlan.h is not UAPI for this struct) */
struct alv_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* the first 8 bytes of every IPv6 extension header we walk */
struct alv_ipv6_ext {
	__u8 nexthdr;
	__u8 hdrlen; /* in 8-byte units, not counting the first 8 (fragment: reserved) */
	__be16 frag_off; /* fragment header only: offset << 3 | M */
	__be32 rest;
};

/* enough of ICMP and ICMPv6 for both: type, code, checksum, 4 bytes of body */
struct alv_icmp_hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 rest;
};

static __always_inline void alv_cursor_init(struct alv_cursor *c, struct alv_pkt *pkt)
{
	c->pos = pkt->data;
	c->end = pkt->data_end;
	c->off = 0;
	c->limit = pkt->len;
	c->err = ALV_PARSE_OK;
}

/* the next n bytes (n: a compile-time constant for reads), or NULL with c->err set */
static __always_inline void *alv_take(struct alv_cursor *c, __u32 n)
{
	void *p = c->pos;

	if (c->off + n > c->limit) {
		c->err = ALV_PARSE_TRUNCATED;
		return NULL;
	}
	if (p + n > c->end) {
		c->err = ALV_PARSE_UNSUPPORTED; /* in the frame, past the linear area */
		return NULL;
	}
	c->pos = p + n;
	c->off += n;
	return p;
}

/* pass over n bytes that must exist but are not read; 0 or -ALV_PARSE_* */
static __always_inline int alv_skip(struct alv_cursor *c, __u32 n)
{
	return alv_take(c, n) ? 0 : -c->err;
}

/* ethernet: returns the ethertype (host order) */
static __always_inline int alv_parse_eth(struct alv_cursor *c, struct ethhdr **eth)
{
	struct ethhdr *e = alv_take(c, sizeof(*e));

	if (!e)
		return -c->err;
	if (eth)
		*eth = e;
	return bpf_ntohs(e->h_proto);
}

static __always_inline int alv_is_vlan(__u32 proto)
{
	return proto == ETH_P_8021Q || proto == ETH_P_8021AD;
}

/* one VLAN tag: returns the encapsulated ethertype, stores the VID */
static __always_inline int alv_parse_vlan(struct alv_cursor *c, __u16 *vid)
{
	struct alv_vlan_hdr *v = alv_take(c, sizeof(*v));

	if (!v)
		return -c->err;
	*vid = bpf_ntohs(v->tci) & 0x0fff;
	return bpf_ntohs(v->proto);
}

/*
 * IPv4 header with options: returns the protocol. Clips c->limit to the IP
 * packet (total length), so later parsers never read Ethernet padding.
 */
static __always_inline int alv_parse_ipv4(struct alv_cursor *c, struct iphdr **iph)
{
	__u32 start = c->off, hlen, tot;
	struct iphdr *ip = alv_take(c, sizeof(*ip));

	if (!ip)
		return -c->err;
	if (ip->version != 4 || ip->ihl < 5)
		return -ALV_PARSE_MALFORMED;
	hlen = ip->ihl * 4;
	if (hlen > sizeof(*ip) && alv_skip(c, hlen - sizeof(*ip)))
		return -c->err;
	tot = bpf_ntohs(ip->tot_len);
	if (tot < hlen)
		return -ALV_PARSE_MALFORMED;
	if (start + tot > c->limit)
		return -ALV_PARSE_TRUNCATED;
	c->limit = start + tot;
	if (iph)
		*iph = ip;
	return ip->protocol;
}

/* IPv6 fixed header: returns the next header; clips c->limit like IPv4 */
static __always_inline int alv_parse_ipv6(struct alv_cursor *c, struct ipv6hdr **ip6h)
{
	__u32 start = c->off, tot;
	struct ipv6hdr *ip6 = alv_take(c, sizeof(*ip6));

	if (!ip6)
		return -c->err;
	if (ip6->version != 6)
		return -ALV_PARSE_MALFORMED;
	tot = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	if (start + tot > c->limit)
		return -ALV_PARSE_TRUNCATED;
	c->limit = start + tot;
	if (ip6h)
		*ip6h = ip6;
	return ip6->nexthdr;
}

/*
 * Verifier economy: the walk below never branches on the exact value of a
 * header field it goes on with. A test like nexthdr == IPPROTO_ROUTING would
 * teach the verifier a constant, and it would then explore every combination
 * of header types separately (4^n paths for n headers). A bitmask test and
 * branch-free arithmetic teach it only ranges, so equal-shaped paths merge.
 */
#define ALV_IPV6_EXT_MASK                                                                          \
	((1ULL << IPPROTO_HOPOPTS) | (1ULL << IPPROTO_ROUTING) | (1ULL << IPPROTO_FRAGMENT) |      \
	 (1ULL << IPPROTO_DSTOPTS))

/* keep clang from turning arithmetic back into branches */
#define alv_opaque(x) asm volatile("" : "+r"(x))

static __always_inline int alv_ipv6_is_ext(__u32 nexthdr)
{
	return nexthdr < 64 && ((ALV_IPV6_EXT_MASK >> nexthdr) & 1);
}

/* 1 if x != 0 else 0, for x < 2^16, without a branch */
static __always_inline __u32 alv_nonzero16(__u32 x)
{
	return (x + 0xffff) >> 16;
}

/*
 * IPv6 extension headers: walks at most ALV_IPV6_EXT_MAX of them (bounded
 * loop) and returns the upper-layer protocol. Fragment headers set *frag; a
 * later fragment ends the walk (what follows is not a header). *count gets
 * the number of extension headers walked.
 */
static __always_inline int alv_parse_ipv6_ext(struct alv_cursor *c, __u32 nexthdr, __u8 *frag, __u8 *count)
{
	struct alv_ipv6_ext *e;
	__u32 not_frag, extra, fo, i;

	for (i = 0; i < ALV_IPV6_EXT_MAX; i++) {
		if (!alv_ipv6_is_ext(nexthdr))
			return nexthdr;
		if (nexthdr == IPPROTO_HOPOPTS && i > 0)
			return -ALV_PARSE_MALFORMED; /* hop-by-hop only right after the header */
		e = alv_take(c, sizeof(*e));
		if (!e)
			return -c->err;
		*count = i + 1;
		/* fragment header: 8 bytes, offset and M flag; the others: (hdrlen + 1) * 8 bytes */
		not_frag = alv_nonzero16(nexthdr ^ IPPROTO_FRAGMENT);
		alv_opaque(not_frag);
		extra = (e->hdrlen * 8) & -not_frag;
		fo = bpf_ntohs(e->frag_off) & (not_frag - 1);
		*frag |= (fo & 1) | (alv_nonzero16(fo & 0xfff8) << 1);
		nexthdr = e->nexthdr;
		if (fo & 0xfff8)
			return nexthdr; /* a later fragment: the rest is payload */
		if (alv_skip(c, extra))
			return -c->err;
	}
	if (alv_ipv6_is_ext(nexthdr))
		return -ALV_PARSE_UNSUPPORTED; /* longer chain than we walk */
	return nexthdr;
}

/* TCP with options: returns 0, stores the header */
static __always_inline int alv_parse_tcp(struct alv_cursor *c, struct tcphdr **tcph)
{
	struct tcphdr *t = alv_take(c, sizeof(*t));

	if (!t)
		return -c->err;
	if (t->doff < 5)
		return -ALV_PARSE_MALFORMED;
	if (t->doff > 5 && alv_skip(c, t->doff * 4 - sizeof(*t)))
		return -c->err;
	*tcph = t;
	return 0;
}

static __always_inline int alv_parse_udp(struct alv_cursor *c, struct udphdr **udph)
{
	struct udphdr *u = alv_take(c, sizeof(*u));

	if (!u)
		return -c->err;
	*udph = u;
	return 0;
}

/* ICMP or ICMPv6 (same first 8 bytes) */
static __always_inline int alv_parse_icmp(struct alv_cursor *c, struct alv_icmp_hdr **icmph)
{
	struct alv_icmp_hdr *i = alv_take(c, sizeof(*i));

	if (!i)
		return -c->err;
	*icmph = i;
	return 0;
}

static __always_inline int alv_parse_fail(struct alv_parsed *h, int err)
{
	h->status = -err;
	return -err;
}

/* the L4 header after IPv4 / IPv6 (and extension headers) */
static __always_inline int alv_parse_l4(struct alv_cursor *c, struct alv_parsed *h)
{
	struct alv_icmp_hdr *icmp;
	struct tcphdr *tcp;
	struct udphdr *udp;
	int ret;

	switch (h->l4_proto) {
	case IPPROTO_TCP:
		ret = alv_parse_tcp(c, &tcp);
		if (ret < 0)
			return alv_parse_fail(h, ret);
		h->sport = bpf_ntohs(tcp->source);
		h->dport = bpf_ntohs(tcp->dest);
		h->tcp_flags = ((__u8 *)tcp)[13];
		break;
	case IPPROTO_UDP:
		ret = alv_parse_udp(c, &udp);
		if (ret < 0)
			return alv_parse_fail(h, ret);
		h->sport = bpf_ntohs(udp->source);
		h->dport = bpf_ntohs(udp->dest);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		/* ICMP belongs to IPv4, ICMPv6 to IPv6: the other pairing is opaque */
		if ((h->l4_proto == IPPROTO_ICMP) != (h->family == ALV_FAMILY_IPV4))
			return ALV_PARSE_OK;
		ret = alv_parse_icmp(c, &icmp);
		if (ret < 0)
			return alv_parse_fail(h, ret);
		h->icmp_type = icmp->type;
		h->icmp_code = icmp->code;
		break;
	default:
		return ALV_PARSE_OK;
	}
	h->layers |= ALV_LAYER_L4;
	return ALV_PARSE_OK;
}

static __always_inline int alv_parse_ip4(struct alv_cursor *c, struct alv_parsed *h)
{
	struct iphdr *ip;
	__u16 fo;
	int ret;

	h->l3_off = c->off;
	ret = alv_parse_ipv4(c, &ip);
	if (ret < 0)
		return alv_parse_fail(h, ret);
	h->family = ALV_FAMILY_IPV4;
	h->saddr.w[2] = bpf_htonl(0xffff);
	h->saddr.w[3] = ip->saddr;
	h->daddr.w[2] = bpf_htonl(0xffff);
	h->daddr.w[3] = ip->daddr;
	h->ttl = ip->ttl;
	h->tos = ip->tos;
	h->ip_end = c->limit;
	fo = bpf_ntohs(ip->frag_off);
	h->frag = ((fo >> 13) & 1) | (alv_nonzero16(fo & 0x1fff) << 1);
	h->l4_proto = ret;
	h->l4_off = c->off;
	h->layers |= ALV_LAYER_IP | ALV_LAYER_PROTO;
	if (h->frag & ALV_FRAG_LATER)
		return ALV_PARSE_OK;
	return alv_parse_l4(c, h);
}

static __always_inline int alv_parse_ip6(struct alv_cursor *c, struct alv_parsed *h)
{
	struct ipv6hdr *ip6;
	int ret;

	h->l3_off = c->off;
	ret = alv_parse_ipv6(c, &ip6);
	if (ret < 0)
		return alv_parse_fail(h, ret);
	h->family = ALV_FAMILY_IPV6;
	__builtin_memcpy(h->saddr.b, &ip6->saddr, 16);
	__builtin_memcpy(h->daddr.b, &ip6->daddr, 16);
	h->ttl = ip6->hop_limit;
	h->tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);
	h->ip_end = c->limit;
	h->layers |= ALV_LAYER_IP;
	ret = alv_parse_ipv6_ext(c, ret, &h->frag, &h->ext_count);
	if (ret < 0)
		return alv_parse_fail(h, ret);
	h->l4_proto = ret;
	h->l4_off = c->off;
	h->layers |= ALV_LAYER_PROTO;
	if (h->frag & ALV_FRAG_LATER)
		return ALV_PARSE_OK;
	return alv_parse_l4(c, h);
}

/*
 * Parse the packet: Ethernet, VLAN tags, IPv4/IPv6 (+ extension headers),
 * TCP/UDP/ICMP/ICMPv6. Fills *h (zeroed first) and returns h->status.
 * Inlined into the caller: prefer alv_parse() below.
 */
static __always_inline int alv_parse_inline(struct alv_pkt *pkt, struct alv_parsed *h)
{
	struct alv_cursor c;
	int proto, i;

	__builtin_memset(h, 0, sizeof(*h));
	h->len = pkt->len;
	alv_cursor_init(&c, pkt);
	proto = alv_parse_eth(&c, NULL);
	if (proto < 0)
		return alv_parse_fail(h, proto);
	for (i = 0; i < ALV_VLAN_MAX; i++) {
		if (!alv_is_vlan(proto))
			break;
		proto = alv_parse_vlan(&c, &h->vlan_id[i]);
		if (proto < 0)
			return alv_parse_fail(h, proto);
		h->vlan_depth = i + 1;
	}
	h->eth_proto = proto;
	if (alv_is_vlan(proto))
		return alv_parse_fail(h, -ALV_PARSE_UNSUPPORTED); /* a third tag */
	h->layers = ALV_LAYER_ETH;
	if (proto == ETH_P_IP)
		return alv_parse_ip4(&c, h);
	if (proto == ETH_P_IPV6)
		return alv_parse_ip6(&c, h);
	return ALV_PARSE_OK;
}

/*
 * The parser as global functions: the verifier checks a global function once,
 * on its own, and the caller sees only "an int came back, *h was written".
 * Inlined, the parser's ~40 distinct outcomes would each drag the rest of the
 * VNF through the verifier again (measured: 10k instructions for the parser,
 * x6 for a VNF body behind it). The price is one BPF-to-BPF call (~1 ns).
 * Defined here (not static) so every VNF object carries its own copy; the
 * weak attribute lets two SDK users share one object file.
 */
__attribute__((noinline, weak)) int alv_parse_xdp(struct xdp_md *ctx, struct alv_parsed *h)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct alv_pkt pkt = {};

	if (!h)
		return ALV_PARSE_MALFORMED;
	alv_opaque(data);
	alv_opaque(data_end);
	pkt.data = data;
	pkt.data_end = data_end;
	pkt.len = (__u32)((long)data_end - (long)data);
	return alv_parse_inline(&pkt, h);
}

__attribute__((noinline, weak)) int alv_parse_tc(struct __sk_buff *skb, struct alv_parsed *h)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct alv_pkt pkt = {};

	if (!h)
		return ALV_PARSE_MALFORMED;
	alv_opaque(data);
	alv_opaque(data_end);
	pkt.data = data;
	pkt.data_end = data_end;
	pkt.len = skb->len;
	return alv_parse_inline(&pkt, h);
}

/*
 * Parse the packet a VNF body was given: fills *h and returns h->status.
 * Bodies must be static __always_inline (as ALV_VNF_XDP/TC expect), so that
 * pkt->hook is a compile-time constant here.
 */
static __always_inline int alv_parse(struct alv_pkt *pkt, struct alv_parsed *h)
{
	if (pkt->hook == ALV_HOOK_XDP)
		return alv_parse_xdp(pkt->ctx, h);
	return alv_parse_tc(pkt->ctx, h);
}

#define ALV_PTR_MAX_OFF 0x7fff /* headers start well below; keeps off + size under the verifier's 64k */

/*
 * A pointer to size bytes at offset off of the packet, or NULL. size must be
 * a compile-time constant (at most ALV_PTR_MAX_OFF); off is typically an
 * offset from struct alv_parsed (l3_off, l4_off).
 */
static __always_inline void *alv_ptr(struct alv_pkt *pkt, __u32 off, __u32 size)
{
	void *p;

	alv_opaque(off); /* else clang may test a shifted copy, and the verifier learns nothing */
	if (off > ALV_PTR_MAX_OFF)
		return NULL;
	p = pkt->data + off;
	if (p + size > pkt->data_end)
		return NULL;
	return p;
}

/*
 * Reading addresses back from struct alv_parsed: the parser writes them as
 * 32-bit words, and a wider load that spans two of those stores misses
 * store-to-load forwarding (a stall of several ns). A VNF that wants 64-bit
 * words (a hash key, compared 8 bytes at a time by the kernel) joins two
 * 32-bit loads in a register: alv_join32(lo, hi) is the 64-bit word with lo
 * at its lower address; alv_addr_word64(a, i) is word i (0 or 1) of a.
 */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define alv_join32(lo, hi) ((__u64)(__u32)(lo) | (__u64)(__u32)(hi) << 32)
#else
#define alv_join32(lo, hi) ((__u64)(__u32)(lo) << 32 | (__u64)(__u32)(hi))
#endif

/* a 32-bit load clang may not merge with its neighbour into a 64-bit one */
static __always_inline __u32 alv_load32(const __be32 *p)
{
	__u32 w = *p;

	alv_opaque(w);
	return w;
}

static __always_inline __u64 alv_addr_word64(const union alv_addr *a, int i)
{
	return alv_join32(alv_load32(&a->w[2 * i]), alv_load32(&a->w[2 * i + 1]));
}

static __always_inline int alv_is_fragment(const struct alv_parsed *h)
{
	return h->frag != 0;
}

#endif /* __ALVEOLE_PARSE_H */
