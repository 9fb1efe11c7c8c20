// SPDX-License-Identifier: GPL-2.0
/*
 * lb: a Maglev L4 load balancer in XDP.
 *
 * A packet to a VIP (address, port, TCP/UDP) belongs to a flow (client address
 * and port, VIP address and port, protocol). A known flow goes to the backend
 * it was given (connection affinity, lb_flows); a new one gets the backend of
 * its Maglev slot, lb_ring[vip.ring * ring_size + hash(flow) % ring_size], and
 * is remembered. Flows remember backend ids, never ring slots: a ring rewritten
 * because the pool changed moves no existing flow. A flow whose backend has
 * left (removed, or taken out by the health checker) is given a backend again
 * on its next packet (counted LB_REPINNED).
 *
 * Forwarding, per VIP:
 *   full-NAT (default): destination rewritten to the backend (address, port),
 *     source to the node's SNAT address and a SNAT port chosen per flow, so
 *     that replies come back here; lb_nat maps (backend, backend port, SNAT
 *     port, protocol) back to the flow, and replies are translated back to
 *     VIP -> client. Checksums are patched incrementally (RFC 1624).
 *   DSR: the packet, untouched, is wrapped in an outer IP header (IPv4:
 *     protocol 4 IPIP or 41; IPv6: next header 41 or 4) from the node's tunnel
 *     address to the backend, which unwraps it (decap.bpf.c, or an ipip /
 *     ip6tnl device) and answers the client directly from the VIP.
 *
 * How packets leave (lb_egress, fixed at load): STACK returns ALV_PASS and the
 * node's kernel routes the rewritten packet (forwarding on; it works with any
 * topology, bridges included); CHAIN returns ALV_CONTINUE (a next VNF, e.g.
 * the router, forwards it); FIB looks the new destination up with
 * bpf_fib_lookup() and sends the frame from XDP (XDP_TX when it leaves where
 * it came in, else a redirect through lb_ports), falling back to the stack
 * when it cannot (no neighbour yet, an egress not in lb_ports, VLAN tags).
 *
 * Everything else continues (ALV_CONTINUE): other traffic, IP fragments (a
 * later fragment has no ports, so no fragment is balanced), unparsed frames.
 * XDP only: the tunnel header needs bpf_xdp_adjust_head, and XDP sees frames
 * before GRO and checksum offload state, which TC would have to respect.
 */
#include <alveole/vnf.h>
#include <alveole/parse.h>
#include <alveole/csum.h>

#define AF_INET 2
#define AF_INET6 10
#define LB_FLOW_SEED 0x5a17c0de
#define LB_SNAT_SALT 0x9e3779b9
#define LB_RING_PROBES 4  /* slots tried when a slot's backend is gone (a ring being rewritten) */
#define LB_SNAT_TRIES 8   /* SNAT ports tried for a new full-NAT flow */
#define LB_TUNNEL_TTL 64
#define LB_IP_DF 0x4000

enum lb_egress {
	LB_EGRESS_STACK = 0,
	LB_EGRESS_CHAIN = 1,
	LB_EGRESS_FIB = 2,
};

enum lb_vip_flag {
	LB_VIP_DSR = 1 << 0,
};

/* what happened to a packet (lb_reasons; LB_FIB_PASS counts on top of the others) */
enum lb_reason {
	LB_OTHER = 0,       /* not for the LB: continues */
	LB_UNPARSED = 1,    /* truncated, malformed, unsupported: continues */
	LB_FRAGMENT = 2,    /* an IP fragment: never balanced, continues */
	LB_NEW = 3,         /* a flow's first packet: backend from the Maglev ring */
	LB_ESTABLISHED = 4, /* a known flow, to its backend */
	LB_REPINNED = 5,    /* a known flow whose backend left: given another */
	LB_REPLY = 6,       /* full-NAT: a backend's reply, translated back to VIP -> client */
	LB_NO_BACKEND = 7,  /* dropped: no usable backend for the VIP */
	LB_NO_PORT = 8,     /* dropped: no free SNAT port for a new full-NAT flow */
	LB_NO_ADDRESS = 9,  /* dropped: no SNAT / tunnel address of the family needed */
	LB_ERROR = 10,      /* dropped: the frame could not be rewritten (no headroom) */
	LB_FIB_PASS = 11,   /* fib egress: left to the stack */
	LB_REASON_MAX = 12,
};

struct lb_vip_key {
	__u8 addr[16]; /* IPv4 as ::ffff:a.b.c.d */
	__u16 port;    /* host order */
	__u8 proto;    /* IPPROTO_TCP, IPPROTO_UDP */
	__u8 pad;
};

struct lb_vip {
	__u32 tag;   /* the VIP's identity, which its backends carry */
	__u32 ring;  /* its ring: lb_ring[ring * lb_ring_size ...] */
	__u32 flags; /* enum lb_vip_flag */
};

struct lb_backend {
	__u8 addr[16];
	__u32 vip_tag; /* the VIP it serves */
	__u16 port;    /* full-NAT destination port, host order */
	__u16 pad;
};

struct lb_flow_key {
	__u8 client[16];
	__u8 vip[16];
	__u16 cport; /* host order */
	__u16 vport;
	__u8 proto;
	__u8 pad[3];
} __attribute__((aligned(4))); /* hashed as ten 32-bit words */

struct lb_flow {
	__u32 backend;   /* backend id */
	__u32 vip_tag;   /* its VIP's tag: the backend must still carry it */
	__u16 snat_port; /* full-NAT: the flow's source port towards the backend, host order */
	__u8 flags;      /* the VIP's flags when the flow began (LB_VIP_DSR) */
	__u8 pad;
};

struct lb_nat_key {
	__u8 backend[16];
	__u16 bport;     /* host order */
	__u16 snat_port;
	__u8 proto;
	__u8 pad[3];
};

struct lb_nat {
	__u8 client[16];
	__u8 vip[16];
	__u16 cport;
	__u16 vport;
};

struct lb_settings {
	__u8 snat4[16];   /* full-NAT source addresses (zero: none) */
	__u8 snat6[16];
	__u8 tunnel4[16]; /* DSR outer source addresses (zero: none) */
	__u8 tunnel6[16];
	__u16 port_min;   /* SNAT ports, host order */
	__u16 port_max;
};

struct lb_backend_stat {
	__u64 flows; /* flows given to the backend (new and repinned) */
};

const volatile __u32 lb_ring_size = 65537; /* the Maglev table size M (a prime) */
const volatile __u32 lb_egress = LB_EGRESS_STACK;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8); /* config.max_vips */
	__type(key, struct lb_vip_key);
	__type(value, struct lb_vip);
} lb_vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096); /* config.max_backends */
	__type(key, __u32);
	__type(value, struct lb_backend);
} lb_backends SEC(".maps");

/* the Maglev tables, one per VIP: backend ids (0: empty) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8 * 65537); /* config.max_vips * config.ring_size */
	__type(key, __u32);
	__type(value, __u32);
} lb_ring SEC(".maps");

/* connection affinity: shared by all CPUs (a flow's replies may come in on another) */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144); /* config.flow_table_size */
	__type(key, struct lb_flow_key);
	__type(value, struct lb_flow);
} lb_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144); /* config.nat_table_size */
	__type(key, struct lb_nat_key);
	__type(value, struct lb_nat);
} lb_nat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_settings);
} lb_settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_REASON_MAX);
	__type(key, __u32);
	__type(value, struct alv_counter);
} lb_reasons SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 4096); /* config.max_backends */
	__type(key, __u32);
	__type(value, struct lb_backend_stat);
} lb_backend_stats SEC(".maps");

/* fib egress: interfaces XDP may redirect to */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} lb_ports SEC(".maps");

static __always_inline void lb_count(__u32 reason, __u32 len)
{
	struct alv_counter *c = bpf_map_lookup_elem(&lb_reasons, &reason);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

static __always_inline enum alv_verdict lb_verdict(struct alv_pkt *pkt, __u32 reason, enum alv_verdict v)
{
	lb_count(reason, pkt->len);
	return v;
}

/* --- hashing (mirrored by alveole.vnf.lb.hashing) ---------------------------------------- */

static __always_inline __u32 lb_rotl(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 lb_fmix(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	return h ^ (h >> 16);
}

/* MurmurHash3 (x86, 32-bit) of the flow key */
static __always_inline __u32 lb_flow_hash(const struct lb_flow_key *k)
{
	const __u32 *w = (const __u32 *)k;
	__u32 h = LB_FLOW_SEED, x;
	int i;

#pragma unroll
	for (i = 0; i < sizeof(*k) / 4; i++) {
		x = w[i] * 0xcc9e2d51;
		x = lb_rotl(x, 15) * 0x1b873593;
		h ^= x;
		h = lb_rotl(h, 13) * 5 + 0xe6546b64;
	}
	return lb_fmix(h ^ sizeof(*k));
}

/* --- addresses ------------------------------------------------------------------------------ */

/*
 * Keys and headers are built in registers and written as whole words: a
 * field-by-field build (16/8-bit stores) that the kernel then hashes and
 * compares in 32/64-bit words stalls on store-to-load forwarding (several ns
 * a key). Addresses are read as 32-bit words: map values start 8-byte
 * aligned and every address in them sits at a multiple of 4 bytes.
 */
typedef __u32 __attribute__((may_alias)) lb_u32;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* the 64-bit word of two 16-bit ports and a protocol (pads zero), in key order */
#define lb_key_tail(p0, p1, proto) \
	((__u64)(__u16)(p0) | (__u64)(__u16)(p1) << 16 | (__u64)(__u8)(proto) << 32)
/* the 32-bit word of two 16-bit values, lo at the lower address */
#define lb_join16(lo, hi) ((__u32)(__u16)(lo) | (__u32)(__u16)(hi) << 16)
#else
#define lb_key_tail(p0, p1, proto) \
	((__u64)(__u16)(p0) << 48 | (__u64)(__u16)(p1) << 32 | (__u64)(__u8)(proto) << 24)
#define lb_join16(lo, hi) ((__u32)(__u16)(lo) << 16 | (__u32)(__u16)(hi))
#endif

/* the flow key and the translation key as 64-bit words (8-byte aligned on the stack) */
union lb_flow_key_words {
	struct lb_flow_key k;
	__u64 w[sizeof(struct lb_flow_key) / 8];
};

union lb_nat_key_words {
	struct lb_nat_key k;
	__u64 w[sizeof(struct lb_nat_key) / 8];
};

_Static_assert(sizeof(struct lb_flow_key) == 40 && __builtin_offsetof(struct lb_flow_key, cport) == 32,
	       "lb_flow_key: two addresses, then the lb_key_tail word");
_Static_assert(sizeof(struct lb_nat_key) == 24 && __builtin_offsetof(struct lb_nat_key, bport) == 16,
	       "lb_nat_key: an address, then the lb_key_tail word");

/* word i (0-3) of a 16-byte address in a map value or on the stack */
static __always_inline __u32 lb_w(const __u8 *a, int i)
{
	return ((const lb_u32 *)a)[i];
}

static __always_inline int lb_is_zero(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return !(w[0] | w[1] | w[2] | w[3]);
}

static __always_inline int lb_same16(const __u8 *a, const __u8 *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return !((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]));
}

/* ::ffff:0:0/96, the SDK's IPv4 addresses */
static __always_inline int lb_is_v4(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return !w[0] && !w[1] && w[2] == bpf_htonl(0xffff);
}

/* --- choosing a backend -------------------------------------------------------------------- */

/* the backend of the flow's Maglev slot (or of one of the next slots, see LB_RING_PROBES) */
static __always_inline struct lb_backend *lb_pick(const struct lb_vip *vip, __u32 hash, __u32 *id_out)
{
	__u32 size = lb_ring_size, slot, idx, *id;
	struct lb_backend *b;
	int i;

	if (!size)
		return NULL;
	slot = hash % size;
	for (i = 0; i < LB_RING_PROBES; i++) {
		idx = vip->ring * size + slot;
		id = bpf_map_lookup_elem(&lb_ring, &idx);
		if (id && *id) {
			b = bpf_map_lookup_elem(&lb_backends, id);
			if (b && b->vip_tag == vip->tag) {
				*id_out = *id;
				return b;
			}
		}
		slot = slot + 1 == size ? 0 : slot + 1;
	}
	return NULL;
}

static __always_inline void lb_backend_flow(__u32 id)
{
	struct lb_backend_stat one = { .flows = 1 }, *s;

	s = bpf_map_lookup_elem(&lb_backend_stats, &id);
	if (s) {
		s->flows++;
		return;
	}
	if (bpf_map_update_elem(&lb_backend_stats, &id, &one, BPF_NOEXIST)) {
		s = bpf_map_lookup_elem(&lb_backend_stats, &id); /* another CPU made it meanwhile */
		if (s)
			s->flows++;
	}
}

static __always_inline int lb_same_nat(const struct lb_nat *a, const struct lb_nat *b)
{
	return lb_same16(a->client, b->client) && lb_same16(a->vip, b->vip) && a->cport == b->cport &&
	       a->vport == b->vport;
}

/*
 * A SNAT port for a new full-NAT flow: the first of LB_SNAT_TRIES ports, from a
 * hash of the flow, whose translation is free (or already this flow's: the flow
 * entry was evicted, or another CPU raced us). 0: none.
 */
static __always_inline __u16 lb_snat_port(const struct lb_flow_key *fk, const struct lb_backend *b,
					  __u32 hash, const struct lb_settings *s)
{
	struct lb_nat_key nk = {};
	struct lb_nat nv = {}, *cur;
	__u32 span, off;
	int i;

	if (s->port_max < s->port_min)
		return 0;
	span = (__u32)s->port_max - s->port_min + 1;
	off = lb_fmix(hash ^ LB_SNAT_SALT) % span;
	__builtin_memcpy(nk.backend, b->addr, 16);
	nk.bport = b->port;
	nk.proto = fk->proto;
	__builtin_memcpy(nv.client, fk->client, 16);
	__builtin_memcpy(nv.vip, fk->vip, 16);
	nv.cport = fk->cport;
	nv.vport = fk->vport;
	for (i = 0; i < LB_SNAT_TRIES; i++) {
		nk.snat_port = s->port_min + off;
		if (!bpf_map_update_elem(&lb_nat, &nk, &nv, BPF_NOEXIST))
			return nk.snat_port;
		cur = bpf_map_lookup_elem(&lb_nat, &nk);
		if (cur && lb_same_nat(cur, &nv))
			return nk.snat_port;
		off = off + 1 == span ? 0 : off + 1;
	}
	return 0;
}

/* --- rewriting ---------------------------------------------------------------------------- */

/*
 * Checksum deltas, accumulated: the ones' complement sum of ~old + new over
 * every 16-bit word that changes, applied once per checksum (RFC 1624 eqn. 3).
 * The same bytes as one alv_csum_update*() per field (alveole/csum.h): ones'
 * complement addition is associative, and both keep a non-zero sum non-zero.
 * Summed as whole 32-bit words in a 64-bit accumulator (2^16 = 1 modulo
 * 0xffff, so a word counts as its two halves) and folded once: two
 * instructions a word instead of seven, and no spills (IPv6 has 16 words).
 */
static __always_inline __u64 lb_delta32(__u32 old, __u32 new)
{
	return (__u64)(__u32)~old + new;
}

static __always_inline __sum16 lb_csum_apply(__sum16 csum, __u64 delta)
{
	__u64 sum = (__u16)~csum + delta;

	/* two rounds bring any 64-bit sum below 2^32 */
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	return (__sum16)~alv_csum_fold((__u32)sum);
}

/* addresses and ports of a TCP/UDP packet, checksums patched (NAT both ways) */
static __always_inline int lb_rewrite(struct alv_pkt *pkt, const struct alv_parsed *h, const __u8 *saddr,
				      __u16 sport, const __u8 *daddr, __u16 dport)
{
	int udp = h->l4_proto == IPPROTO_UDP;
	__u64 l4_delta, ip_delta;
	__u32 newports, i;
	__be16 *ports;
	__sum16 *csum;

	ports = alv_ptr(pkt, h->l4_off, 4);
	csum = alv_ptr(pkt, h->l4_off + (udp ? 6 : 16), 2);
	if (!ports || !csum)
		return -1;
	newports = lb_join16(bpf_htons(sport), bpf_htons(dport));
	l4_delta = lb_delta32(*(lb_u32 *)ports, newports);
	*(lb_u32 *)ports = newports;
	if (h->family == ALV_FAMILY_IPV4) {
		struct iphdr *ip = alv_ptr(pkt, h->l3_off, sizeof(*ip));
		__be32 s = lb_w(saddr, 3), d = lb_w(daddr, 3);

		if (!ip)
			return -1;
		ip_delta = lb_delta32(ip->saddr, s) + lb_delta32(ip->daddr, d);
		ip->saddr = s;
		ip->daddr = d;
		ip->check = lb_csum_apply(ip->check, ip_delta);
		l4_delta += ip_delta;
	} else {
		struct ipv6hdr *ip6 = alv_ptr(pkt, h->l3_off, sizeof(*ip6));
		lb_u32 *w;

		if (!ip6)
			return -1;
		w = (lb_u32 *)&ip6->saddr;
#pragma unroll
		for (i = 0; i < 4; i++) {
			__u32 sw = lb_w(saddr, i), dw = lb_w(daddr, i);

			l4_delta += lb_delta32(w[i], sw) + lb_delta32(w[i + 4], dw);
			w[i] = sw;
			w[i + 4] = dw;
		}
	}
	/* UDP: a zero checksum means none (IPv4) and stays; a computed zero is sent as 0xffff */
	if (udp && !*csum)
		return 0;
	*csum = lb_csum_apply(*csum, l4_delta);
	if (udp && !*csum)
		*csum = (__sum16)0xffff;
	return 0;
}

/* the ones' complement sum of a 32-bit word's two halves */
static __always_inline __u32 lb_sum32(__u32 x)
{
	return (x & 0xffff) + (x >> 16);
}

/*
 * DSR: wrap the IP packet in an outer header from src to the backend. The
 * Ethernet header and its VLAN tags move to the new front; the innermost
 * ethertype becomes the outer header's. Ethernet padding stays behind the
 * inner packet (the outer length does not count it). Both headers are read
 * and built in registers and written as 32/64-bit words: the IPv4 checksum
 * is summed from those registers, never read back from the packet.
 */
static __always_inline int lb_encap(struct alv_pkt *pkt, const struct alv_parsed *h, const __u8 *daddr,
				    const __u8 *src)
{
	__u32 inner_len = h->ip_end - h->l3_off, l2 = h->l3_off, depth = h->vlan_depth;
	int outer4 = lb_is_v4(daddr), inner4 = h->family == ALV_FAMILY_IPV4;
	__u8 proto = inner4 ? IPPROTO_IPIP : IPPROTO_IPV6;
	__be16 ethertype = bpf_htons(outer4 ? ETH_P_IP : ETH_P_IPV6);
	__u32 tag0, tag1, macs2;
	__u64 macs;
	__u8 *p, *old;

	if (inner_len > 0xffff - 40 || l2 != 14 + 4 * depth || depth > 2)
		return -1;
	if (bpf_xdp_adjust_head(pkt->ctx, outer4 ? -20 : -40))
		return -1;
	alv_pkt_reload(pkt);
	/* the old L2 header (22 bytes: MACs and up to two tags), now 20 or 40 bytes in */
	if (outer4) {
		p = alv_ptr(pkt, 0, 20 + 22);
		old = p + 20;
	} else {
		p = alv_ptr(pkt, 0, 40 + 22);
		old = p + 40;
	}
	if (!p)
		return -1;
	macs = *(__u64 *)old;
	macs2 = *(lb_u32 *)(old + 8);
	tag0 = *(lb_u32 *)(old + 12);
	tag1 = *(lb_u32 *)(old + 16);
	*(__u64 *)p = macs;
	*(lb_u32 *)(p + 8) = macs2;
	if (depth == 0) {
		*(__be16 *)(p + 12) = ethertype;
	} else if (depth == 1) {
		*(lb_u32 *)(p + 12) = tag0;
		*(__be16 *)(p + 16) = ethertype;
	} else {
		*(lb_u32 *)(p + 12) = tag0;
		*(lb_u32 *)(p + 16) = tag1;
		*(__be16 *)(p + 20) = ethertype;
	}
	if (outer4) {
		lb_u32 *ip = alv_ptr(pkt, l2, sizeof(struct iphdr));
		__u32 w0, w1, w2, s = lb_w(src, 3), d = lb_w(daddr, 3), sum;

		if (!ip)
			return -1;
		/* version/IHL, TOS, total length | id 0, DF | TTL, protocol, checksum 0 */
		w0 = bpf_htonl(0x45000000 | (__u32)h->tos << 16 | (inner_len + 20));
		w1 = bpf_htonl(LB_IP_DF);
		w2 = bpf_htonl((__u32)LB_TUNNEL_TTL << 24 | (__u32)proto << 16);
		sum = lb_sum32(w0) + lb_sum32(w1) + lb_sum32(w2) + lb_sum32(s) + lb_sum32(d);
		ip[0] = w0;
		ip[1] = w1;
		ip[2] = w2;
		ip[3] = s;
		ip[4] = d;
		((struct iphdr *)ip)->check = (__sum16)~alv_csum_fold(sum);
	} else {
		lb_u32 *ip6 = alv_ptr(pkt, l2, sizeof(struct ipv6hdr));
		int i;

		if (!ip6)
			return -1;
		ip6[0] = bpf_htonl(0x60000000 | (__u32)h->tos << 20);
		ip6[1] = bpf_htonl(inner_len << 16 | (__u32)proto << 8 | LB_TUNNEL_TTL);
#pragma unroll
		for (i = 0; i < 4; i++) {
			ip6[2 + i] = lb_w(src, i);
			ip6[6 + i] = lb_w(daddr, i);
		}
	}
	return 0;
}

/* --- leaving ------------------------------------------------------------------------------- */

/*
 * fib egress: look the packet's new destination up in the node's routes and
 * neighbours and send it from XDP; anything else goes to the stack. The egress
 * is decided before the MACs change: a frame passed to the stack keeps its own.
 */
static __always_inline enum alv_verdict lb_fib(struct alv_pkt *pkt, __u32 l3_off, __u32 vlans)
{
	struct bpf_fib_lookup f = {};
	__u8 *eth;
	long rc;

	if (vlans)
		return lb_verdict(pkt, LB_FIB_PASS, ALV_PASS);
	eth = alv_ptr(pkt, 0, 14);
	if (!eth)
		return lb_verdict(pkt, LB_FIB_PASS, ALV_PASS);
	if (eth[12] == 0x08 && eth[13] == 0x00) {
		struct iphdr *ip = alv_ptr(pkt, l3_off, sizeof(*ip));

		if (!ip)
			return lb_verdict(pkt, LB_FIB_PASS, ALV_PASS);
		f.family = AF_INET;
		f.tos = ip->tos;
		f.l4_protocol = ip->protocol;
		f.tot_len = bpf_ntohs(ip->tot_len);
		f.ipv4_src = ip->saddr;
		f.ipv4_dst = ip->daddr;
	} else {
		struct ipv6hdr *ip6 = alv_ptr(pkt, l3_off, sizeof(*ip6));

		if (!ip6)
			return lb_verdict(pkt, LB_FIB_PASS, ALV_PASS);
		f.family = AF_INET6;
		f.l4_protocol = ip6->nexthdr;
		f.tot_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
		__builtin_memcpy(f.ipv6_src, &ip6->saddr, 16);
		__builtin_memcpy(f.ipv6_dst, &ip6->daddr, 16);
	}
	f.ifindex = pkt->ifindex;
	rc = bpf_fib_lookup(pkt->ctx, &f, sizeof(f), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return lb_verdict(pkt, LB_FIB_PASS, ALV_PASS);
	if (f.ifindex == pkt->ifindex) {
		rc = XDP_TX;
	} else {
		rc = bpf_redirect_map(&lb_ports, f.ifindex, XDP_PASS);
		if (rc != XDP_REDIRECT)
			return lb_verdict(pkt, LB_FIB_PASS, ALV_PASS);
	}
	eth = alv_ptr(pkt, 0, 12);
	if (!eth)
		return ALV_ABORTED;
	__builtin_memcpy(eth, f.dmac, 6);
	__builtin_memcpy(eth + 6, f.smac, 6);
	if (rc == XDP_TX)
		return ALV_TX;
	pkt->redirect_rc = rc;
	return ALV_REDIRECT;
}

static __always_inline enum alv_verdict lb_out(struct alv_pkt *pkt, __u32 l3_off, __u32 vlans)
{
	if (lb_egress == LB_EGRESS_CHAIN)
		return ALV_CONTINUE;
	if (lb_egress == LB_EGRESS_FIB)
		return lb_fib(pkt, l3_off, vlans);
	return ALV_PASS;
}

/* --- the packet's way through ------------------------------------------------------------ */

/* a flow's packet to its backend: full-NAT rewrite or DSR encapsulation, then out */
static __always_inline enum alv_verdict lb_forward(struct alv_pkt *pkt, const struct alv_parsed *h,
						   const struct lb_settings *s, const struct lb_backend *b,
						   __u16 snat_port, __u32 flags, __u32 reason)
{
	__u32 len = pkt->len; /* bytes as received */
	int v4 = lb_is_v4(b->addr);

	if (flags & LB_VIP_DSR) {
		if (lb_is_zero(v4 ? s->tunnel4 : s->tunnel6))
			return lb_verdict(pkt, LB_NO_ADDRESS, ALV_DROP);
		if (lb_encap(pkt, h, b->addr, v4 ? s->tunnel4 : s->tunnel6))
			return lb_verdict(pkt, LB_ERROR, ALV_DROP);
	} else {
		if (lb_is_zero(v4 ? s->snat4 : s->snat6))
			return lb_verdict(pkt, LB_NO_ADDRESS, ALV_DROP);
		if (lb_rewrite(pkt, h, v4 ? s->snat4 : s->snat6, snat_port, b->addr, b->port))
			return lb_verdict(pkt, LB_ERROR, ALV_DROP);
	}
	lb_count(reason, len);
	return lb_out(pkt, h->l3_off, h->vlan_depth);
}

/* a packet to a VIP that no known flow (with a live backend) covers: a backend from the ring */
static __always_inline enum alv_verdict lb_new_flow(struct alv_pkt *pkt, const struct alv_parsed *h,
						    const struct lb_settings *s, struct lb_flow_key *fk, int known)
{
	struct lb_vip_key vk = {};
	struct lb_flow nf = {};
	struct lb_backend *b;
	struct lb_vip *vip;
	__u32 id = 0, hash;

	__builtin_memcpy(vk.addr, fk->vip, 16);
	vk.port = fk->vport;
	vk.proto = fk->proto;
	vip = bpf_map_lookup_elem(&lb_vips, &vk);
	if (!vip) {
		if (known) /* its VIP is gone: forget the flow */
			bpf_map_delete_elem(&lb_flows, fk);
		return lb_verdict(pkt, LB_OTHER, ALV_CONTINUE);
	}
	hash = lb_flow_hash(fk);
	b = lb_pick(vip, hash, &id);
	if (!b)
		return lb_verdict(pkt, LB_NO_BACKEND, ALV_DROP);
	if (!(vip->flags & LB_VIP_DSR)) {
		if (lb_is_zero(lb_is_v4(b->addr) ? s->snat4 : s->snat6))
			return lb_verdict(pkt, LB_NO_ADDRESS, ALV_DROP);
		nf.snat_port = lb_snat_port(fk, b, hash, s);
		if (!nf.snat_port)
			return lb_verdict(pkt, LB_NO_PORT, ALV_DROP);
	}
	nf.backend = id;
	nf.vip_tag = vip->tag;
	nf.flags = vip->flags;
	bpf_map_update_elem(&lb_flows, fk, &nf, BPF_ANY);
	lb_backend_flow(id);
	return lb_forward(pkt, h, s, b, nf.snat_port, nf.flags, known ? LB_REPINNED : LB_NEW);
}

/* full-NAT replies: backend -> SNAT address and port, back to VIP -> client */
static __always_inline enum alv_verdict lb_reply(struct alv_pkt *pkt, const struct alv_parsed *h,
						 const struct lb_nat *n)
{
	if (lb_rewrite(pkt, h, n->vip, n->vport, n->client, n->cport))
		return lb_verdict(pkt, LB_ERROR, ALV_DROP);
	lb_count(LB_REPLY, pkt->len);
	return lb_out(pkt, h->l3_off, h->vlan_depth);
}

/*
 * The order of the lookups puts the busy paths first: a reply (to the SNAT
 * address, with a translation); a known flow (its backend still serving the
 * VIP: no VIP lookup at all); then the VIP table, for new flows.
 */
static __always_inline enum alv_verdict lb(struct alv_pkt *pkt)
{
	union lb_flow_key_words fk;
	struct lb_settings *s;
	struct lb_backend *b;
	struct alv_parsed h;
	struct lb_flow *f;
	__u64 s0, s1;
	__u32 zero = 0;

	if (alv_parse(pkt, &h) != ALV_PARSE_OK)
		return lb_verdict(pkt, LB_UNPARSED, ALV_CONTINUE);
	if (!(h.layers & ALV_LAYER_PROTO) || (h.l4_proto != IPPROTO_TCP && h.l4_proto != IPPROTO_UDP))
		return lb_verdict(pkt, LB_OTHER, ALV_CONTINUE);
	if (h.frag)
		return lb_verdict(pkt, LB_FRAGMENT, ALV_CONTINUE);
	s = bpf_map_lookup_elem(&lb_settings, &zero);
	if (!s)
		return lb_verdict(pkt, LB_OTHER, ALV_CONTINUE);

	/* the parser wrote the addresses as 32-bit words: read them so (alv_addr_word64) */
	s0 = alv_addr_word64(&h.saddr, 0);
	s1 = alv_addr_word64(&h.saddr, 1);
	if (lb_same16(h.daddr.b, h.family == ALV_FAMILY_IPV4 ? s->snat4 : s->snat6)) {
		union lb_nat_key_words nk;
		struct lb_nat *n;

		nk.w[0] = s0;
		nk.w[1] = s1;
		nk.w[2] = lb_key_tail(h.sport, h.dport, h.l4_proto); /* bport, snat_port, proto */
		n = bpf_map_lookup_elem(&lb_nat, &nk);
		if (n)
			return lb_reply(pkt, &h, n);
	}

	fk.w[0] = s0;
	fk.w[1] = s1;
	fk.w[2] = alv_addr_word64(&h.daddr, 0);
	fk.w[3] = alv_addr_word64(&h.daddr, 1);
	fk.w[4] = lb_key_tail(h.sport, h.dport, h.l4_proto); /* cport, vport, proto */
	f = bpf_map_lookup_elem(&lb_flows, &fk);
	if (f) {
		b = bpf_map_lookup_elem(&lb_backends, &f->backend);
		if (b && b->vip_tag == f->vip_tag)
			return lb_forward(pkt, &h, s, b, f->snat_port, f->flags, LB_ESTABLISHED);
	}
	return lb_new_flow(pkt, &h, s, &fk.k, f != NULL);
}

ALV_VNF_XDP(lb_xdp, lb)

char LICENSE[] SEC("license") = "GPL";
