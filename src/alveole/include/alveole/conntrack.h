/* SPDX-License-Identifier: GPL-2.0 */
/*
 * alveole/conntrack.h: connection tracking for VNFs (stateful firewall, NAT,
 * load balancer). Mirrored in Python by alveole.conntrack (reference model,
 * table decoding, garbage collection); docs/vnfs/conntrack.md has the recipe.
 *
 * The table
 * ---------
 alv_ct4 (IPv4 flows) and alv_ct6 (IPv6 flows) are LRU hashes owned by the VNF
 * that includes this header (each VNF instance has its own, pinned with its
 * chain member; size them with its config's map_sizes()). One entry per flow,
 * for both directions: the key is the flow's 5-tuple with its two endpoints
 * in a fixed order (alv_ct_key_order below), so a packet and its reply find
 * the same entry, and entry->orig says which endpoint opened the flow. One
 * table per family: an IPv4 key is 16 bytes, and a lookup with it costs ~8 ns
 * here against ~14 ns with the 40-byte key of an IPv6 flow. The API is the
 * same for both: a tuple carries its family, addresses come in the parser's
 * 16-byte form (IPv4 as ::ffff:a.b.c.d). ICMP echo flows use the identifier
 * as both ports.
 *
 * Trackable packets: TCP, UDP, ICMP/ICMPv6 echo request and reply, and any
 * other IP protocol (keyed by addresses and protocol, ports 0). Later
 * fragments carry no ports and are not tracked; ICMP errors are "related":
 * alv_ct_related() looks up the flow of the packet they quote.
 *
 * States and timeouts
 * -------------------
 * TCP: SYN_SENT (the initiator's SYN) -> SYN_RECV (the responder's SYN-ACK)
 * -> ESTABLISHED (the initiator's ACK); a FIN from the initiator gives
 * FIN_WAIT, from the responder CLOSE_WAIT, from both TIME_WAIT; a RST from
 * either side CLOSE. A plain SYN from the initiator reopens a TIME_WAIT or
 * CLOSE flow (SYN_SENT again). A flow first seen mid-stream (not a SYN) is
 * picked up as ESTABLISHED (like Linux's nf_conntrack_tcp_loose); a RST never
 * creates a flow. UDP, ICMP echo and other protocols: *_NEW until a packet
 * goes the other way, then *_REPLIED.
 *
 * alv_ct_conf holds one timeout per state (ns; 0 = never expires), written by
 * the VNF's config as a map diff. An entry idle for longer than its state's
 * timeout is dead: alv_ct_lookup() deletes it when it meets it, and the
 * garbage collector (alveole.conntrack.gc, from user space) deletes the ones
 * nobody meets, in batches. Times are bpf_ktime_get_coarse_ns() (clock tick
 * granularity, ~3 ns; bpf_ktime_get_ns() costs ~26 ns on this VM).
 *
 * Counters: per-direction packets and bytes in each entry (plain adds, see
 * alv_ct_update);
 * table pressure in alv_ct_stats (per CPU): lookups, misses, expired,
 * created, create_failed (the insert failed: the table is full of entries
 * the LRU cannot evict yet), races (another CPU created the flow first),
 * untracked, related. LRU evictions are not reported by the kernel; user
 * space infers them: created - live entries - deleted (alv_ct_gc.deleted
 * counts what user space deleted, expired what the datapath deleted).
 *
 * The NAT binding slot (entry->nat) is for VNFs that translate: a NAT keeps
 * the translated endpoint there, a load balancer its backend.
 *
 * API (all static inline; t, e, s as below):
 *   alv_ct_tuple(pkt, h, &t)          the packet's tuple; 0, or -1 if untrackable
 *   alv_ct_tuple_from(&t, ...)        a tuple from two endpoints (rewritten packets)
 *   alv_ct_endpoints(&t, ...)         and back: the packet's source and destination
 *   alv_ct_lookup(&t, now, &dir, s)   the live entry (NULL: none) and the packet's direction
 *   alv_ct_get(&t)                    the entry as it is (no counting, no expiry check)
 *   alv_ct_update(e, dir, &t, len, now)        account the packet, advance the state
 *   alv_ct_create(&t, len, now, nat, dir, s)   a new flow; 0, -EEXIST (lost a race), < 0
 *   alv_ct_track(&t, len, now, s)     lookup + update, or create: ALV_CT_DIR_*, ALV_CT_NEW, < 0
 *   alv_ct_inner(pkt, h, &in)         the packet quoted by an ICMP error
 *   alv_ct_related(pkt, h, now, s)    the entry an ICMP error is about (or NULL)
 */
#ifndef __ALVEOLE_CONNTRACK_H
#define __ALVEOLE_CONNTRACK_H

#include <linux/bpf.h>
#include <linux/errno.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <alveole/vnf.h>
#include <alveole/parse.h>

enum alv_ct_state {
	ALV_CT_NONE = 0,
	ALV_CT_SYN_SENT = 1,
	ALV_CT_SYN_RECV = 2,
	ALV_CT_ESTABLISHED = 3,
	ALV_CT_FIN_WAIT = 4,   /* the initiator sent a FIN */
	ALV_CT_CLOSE_WAIT = 5, /* the responder sent a FIN */
	ALV_CT_TIME_WAIT = 6,  /* both sent a FIN */
	ALV_CT_CLOSE = 7,      /* reset */
	/* not TCP: NEW (even) until a reply, then REPLIED (NEW + 1) */
	ALV_CT_UDP_NEW = 8,
	ALV_CT_UDP_REPLIED = 9,
	ALV_CT_ICMP_NEW = 10,
	ALV_CT_ICMP_REPLIED = 11,
	ALV_CT_OTHER_NEW = 12,
	ALV_CT_OTHER_REPLIED = 13,
	ALV_CT_STATE_MAX = 14,
};

enum alv_ct_dir {
	ALV_CT_DIR_ORIG = 0,  /* from the endpoint that opened the flow */
	ALV_CT_DIR_REPLY = 1,
	ALV_CT_NEW = 2,       /* alv_ct_track(): the packet created the flow */
};

enum alv_ct_nat_kind {
	ALV_CT_NAT_NONE = 0,
	ALV_CT_NAT_SNAT = 1, /* the initiator's source is translated (masquerade) */
	ALV_CT_NAT_DNAT = 2, /* the initiator's destination is translated (port forwarding) */
	ALV_CT_NAT_LB = 3,   /* a load balancer's backend choice */
};

#define ALV_TCP_FIN 0x01
#define ALV_TCP_SYN 0x02
#define ALV_TCP_RST 0x04
#define ALV_TCP_ACK 0x10

/* an IPv6 flow: endpoints in key order (alv_ct_key_order), ports in host order */
struct alv_ct_key {
	union alv_addr addr[2];
	__u16 port[2];  /* ICMP echo: the identifier, twice; other protocols: 0 */
	__u8 proto;
	__u8 pad[3];
};

/* an IPv4 flow: the same, with 4-byte addresses */
struct alv_ct_key4 {
	__be32 addr[2];
	__u16 port[2];
	__u8 proto;
	__u8 pad[3];
};

/* the binding of a translating VNF (NAT, load balancer) */
struct alv_ct_nat {
	union alv_addr addr; /* the translated endpoint's address */
	__u16 port;          /* and port (ICMP echo: identifier), host order */
	__u8 kind;           /* enum alv_ct_nat_kind */
	__u8 flags;          /* the VNF's own */
	__u32 aux;           /* the VNF's own (e.g. a backend index) */
};

struct alv_ct_entry {
	__u64 created_ns;   /* bpf_ktime_get_coarse_ns() */
	__u64 last_ns;      /* last packet, either direction */
	__u64 packets[2];   /* by direction: [ALV_CT_DIR_ORIG], [ALV_CT_DIR_REPLY] */
	__u64 bytes[2];
	__u8 state;         /* enum alv_ct_state */
	__u8 orig;          /* the key endpoint (0/1) that opened the flow */
	__u8 tcp_flags[2];  /* OR of the TCP flags seen, by direction */
	__u8 pad[4];
	struct alv_ct_nat nat;
};

struct alv_ct_conf {
	__u64 timeout_ns[16]; /* by enum alv_ct_state (ALV_CT_STATE_MAX used); 0: never expires */
};

/* table pressure, per CPU (see the header comment) */
struct alv_ct_stats {
	__u64 lookups;
	__u64 misses;
	__u64 expired;       /* found dead and deleted by the datapath */
	__u64 created;
	__u64 create_failed;
	__u64 races;
	__u64 untracked;     /* packets alv_ct_track() could not track */
	__u64 related;       /* ICMP errors matched to a flow */
};

/* what user space did to the table (written by alveole.conntrack.gc) */
struct alv_ct_gc {
	__u64 deleted;
	__u64 runs;
	__u64 last_ns;
};

#ifndef ALV_CT_SIZE
#define ALV_CT_SIZE 65536 /* the default max_entries; a VNF's config sizes it */
#endif

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ALV_CT_SIZE);
	__type(key, struct alv_ct_key4);
	__type(value, struct alv_ct_entry);
} alv_ct4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ALV_CT_SIZE);
	__type(key, struct alv_ct_key);
	__type(value, struct alv_ct_entry);
} alv_ct6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct alv_ct_conf);
} alv_ct_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct alv_ct_stats);
} alv_ct_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct alv_ct_gc);
} alv_ct_gc SEC(".maps");

/* a packet's flow and where it sits in it */
struct alv_ct_tuple {
	union {
		struct alv_ct_key key;   /* IPv6 */
		struct alv_ct_key4 key4; /* IPv4 */
	};
	__u8 family;    /* enum alv_family: which key */
	__u8 src;       /* the key endpoint (0/1) the packet comes from */
	__u8 tcp_flags;
	__u8 proto;     /* the key's, whatever the family */
} __attribute__((aligned(8))); /* keys are written as 64-bit words (see alv_ct_word) */

/* the packet an ICMP error quotes (alv_ct_inner) */
struct alv_ct_inner {
	struct alv_ct_tuple t; /* as the quoted packet travelled */
	__u16 l3_off;          /* its IP header */
	__u16 l4_off;          /* its TCP/UDP/ICMP header (8 bytes there at least) */
	__u8 family;           /* enum alv_family */
	__u8 proto;
	__u8 pad[2];
};

static __always_inline struct alv_ct_stats *alv_ct_stats_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&alv_ct_stats, &zero);
}

#define alv_ct_count(s, field)              \
	do {                                \
		if (s)                      \
			(s)->field++;       \
	} while (0)

/*
 * Building keys without store-forwarding stalls. The parser writes addresses
 * as 32-bit words, and the kernel hashes a key as 32-bit words and compares it
 * 8 bytes at a time: a load that spans two smaller stores still in the store
 * buffer cannot be forwarded and stalls (several ns each). So addresses are
 * read with 32-bit loads joined in registers (parse.h: alv_load32,
 * alv_addr_word64), and keys are written as whole 64-bit words (tuples are
 * 8-byte aligned for that; the may_alias type keeps later field-wise reads of
 * the key ordered after those stores). Measured:
 * ~3 ns a packet off the core alone (ctprobe), ~10 off the IPv4 NAT and ~5
 * off NAT66, which build two keys a packet.
 */
typedef __u64 __attribute__((may_alias)) alv_ct_word;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* the last key word: both ports (host order) and the protocol, pads zero */
#define alv_ct_key_tail(p0, p1, proto) \
	((__u64)(__u16)(p0) | (__u64)(__u16)(p1) << 16 | (__u64)(__u8)(proto) << 32)
#else
#define alv_ct_key_tail(p0, p1, proto) \
	((__u64)(__u16)(p0) << 48 | (__u64)(__u16)(p1) << 32 | (__u64)(__u8)(proto) << 24)
#endif

/*
 * The key order of two endpoints: 1 if (a, ap) sorts before (b, bp). IPv6
 * addresses compare as two native-endian 64-bit words, IPv4 ones as one
 * native-endian 32-bit word (the same order as their ::ffff:a.b.c.d form), then
 * ports: any total order does, this one is cheap (alveole.conntrack.key mirrors it).
 */
static __always_inline int alv_ct_words_order(__u64 a0, __u64 a1, __u16 ap, __u64 b0, __u64 b1, __u16 bp)
{
	if (a0 != b0)
		return a0 < b0;
	if (a1 != b1)
		return a1 < b1;
	return ap <= bp;
}

static __always_inline int alv_ct_key_order(const union alv_addr *a, __u16 ap, const union alv_addr *b, __u16 bp)
{
	return alv_ct_words_order(alv_addr_word64(a, 0), alv_addr_word64(a, 1), ap, alv_addr_word64(b, 0),
				  alv_addr_word64(b, 1), bp);
}

static __always_inline int alv_ct_key4_order(__be32 a, __u16 ap, __be32 b, __u16 bp)
{
	if (a != b)
		return a < b;
	return ap <= bp;
}

/* a tuple from the packet's source and destination endpoints (family: enum alv_family) */
static __always_inline void alv_ct_tuple_from(struct alv_ct_tuple *t, __u8 family, const union alv_addr *saddr,
					      __u16 sport, const union alv_addr *daddr, __u16 dport, __u8 proto,
					      __u8 tcp_flags)
{
	alv_ct_word *k = (alv_ct_word *)&t->key; /* whole words, pads included (they are hashed) */
	__u64 s0, s1, d0, d1;

	t->family = family;
	t->tcp_flags = tcp_flags;
	t->proto = proto;
	if (family == ALV_FAMILY_IPV4) {
		__u32 sa = alv_load32(&saddr->w[3]), da = alv_load32(&daddr->w[3]);

		if (alv_ct_key4_order(sa, sport, da, dport)) {
			k[0] = alv_join32(sa, da);
			k[1] = alv_ct_key_tail(sport, dport, proto);
			t->src = 0;
		} else {
			k[0] = alv_join32(da, sa);
			k[1] = alv_ct_key_tail(dport, sport, proto);
			t->src = 1;
		}
		return;
	}
	s0 = alv_addr_word64(saddr, 0);
	s1 = alv_addr_word64(saddr, 1);
	d0 = alv_addr_word64(daddr, 0);
	d1 = alv_addr_word64(daddr, 1);
	if (alv_ct_words_order(s0, s1, sport, d0, d1, dport)) {
		k[0] = s0;
		k[1] = s1;
		k[2] = d0;
		k[3] = d1;
		k[4] = alv_ct_key_tail(sport, dport, proto);
		t->src = 0;
	} else {
		k[0] = d0;
		k[1] = d1;
		k[2] = s0;
		k[3] = s1;
		k[4] = alv_ct_key_tail(dport, sport, proto);
		t->src = 1;
	}
}

/* the packet's source and destination endpoints, back from its tuple */
static __always_inline void alv_ct_endpoints(const struct alv_ct_tuple *t, union alv_addr *saddr, __u16 *sport,
					     union alv_addr *daddr, __u16 *dport)
{
	int s = t->src & 1;

	if (t->family == ALV_FAMILY_IPV4) {
		const struct alv_ct_key4 *k = &t->key4;

		saddr->w[0] = saddr->w[1] = daddr->w[0] = daddr->w[1] = 0;
		saddr->w[2] = daddr->w[2] = bpf_htonl(0xffff);
		saddr->w[3] = s ? k->addr[1] : k->addr[0];
		daddr->w[3] = s ? k->addr[0] : k->addr[1];
		*sport = s ? k->port[1] : k->port[0];
		*dport = s ? k->port[0] : k->port[1];
		return;
	}
	if (s) {
		*saddr = t->key.addr[1];
		*sport = t->key.port[1];
		*daddr = t->key.addr[0];
		*dport = t->key.port[0];
	} else {
		*saddr = t->key.addr[0];
		*sport = t->key.port[0];
		*daddr = t->key.addr[1];
		*dport = t->key.port[1];
	}
}

static __always_inline int alv_ct_addr_eq(const union alv_addr *a, const union alv_addr *b)
{
	return ((a->w[0] ^ b->w[0]) | (a->w[1] ^ b->w[1]) | (a->w[2] ^ b->w[2]) | (a->w[3] ^ b->w[3])) == 0;
}

static __always_inline int alv_ct_is_echo(__u8 family, __u8 type)
{
	if (family == ALV_FAMILY_IPV4)
		return type == 8 || type == 0;     /* echo request, reply */
	return type == 128 || type == 129;
}

static __always_inline int alv_ct_is_echo_request(__u8 family, __u8 type)
{
	return type == (family == ALV_FAMILY_IPV4 ? 8 : 128);
}

/* destination unreachable, time exceeded, parameter problem (and ICMPv6's packet too big) */
static __always_inline int alv_ct_is_icmp_error(const struct alv_parsed *h)
{
	if (!(h->layers & ALV_LAYER_L4))
		return 0;
	if (h->l4_proto == IPPROTO_ICMP)
		return h->icmp_type == 3 || h->icmp_type == 11 || h->icmp_type == 12;
	if (h->l4_proto == IPPROTO_ICMPV6)
		return h->icmp_type >= 1 && h->icmp_type <= 4;
	return 0;
}

/* the echo identifier of the ICMP header at off (host order), or -1 */
static __always_inline int alv_ct_echo_id(struct alv_pkt *pkt, __u32 off)
{
	struct alv_icmp_hdr *i = alv_ptr(pkt, off, sizeof(*i));

	if (!i)
		return -1;
	return bpf_ntohs(((__be16 *)&i->rest)[0]);
}

/* the packet's tuple; 0, or -1 when it cannot be tracked (later fragment, ICMP other than echo, not IP) */
static __always_inline int alv_ct_tuple(struct alv_pkt *pkt, const struct alv_parsed *h, struct alv_ct_tuple *t)
{
	__u16 sport = 0, dport = 0;
	int id;

	if (h->status != ALV_PARSE_OK || !(h->layers & ALV_LAYER_PROTO) || (h->frag & ALV_FRAG_LATER))
		return -1;
	if (h->l4_proto == IPPROTO_TCP || h->l4_proto == IPPROTO_UDP) {
		sport = h->sport;
		dport = h->dport;
	} else if (h->layers & ALV_LAYER_L4) {
		/* ICMP in its own family (the parser reads the other pairing as opaque) */
		if (!alv_ct_is_echo(h->family, h->icmp_type))
			return -1;
		id = alv_ct_echo_id(pkt, h->l4_off);
		if (id < 0)
			return -1;
		sport = dport = id;
	}
	alv_ct_tuple_from(t, h->family, &h->saddr, sport, &h->daddr, dport, h->l4_proto, h->tcp_flags);
	return 0;
}

static __always_inline __u64 alv_ct_timeout(__u8 state)
{
	__u32 zero = 0;
	struct alv_ct_conf *c = bpf_map_lookup_elem(&alv_ct_conf, &zero);

	if (!c || state >= ALV_CT_STATE_MAX)
		return 0;
	return c->timeout_ns[state];
}

static __always_inline int alv_ct_expired(const struct alv_ct_entry *e, __u64 now)
{
	__u64 last = e->last_ns, timeout;

	/*
	 * Seen within this clock tick, or another CPU stamped a later time than
	 * ours: not idle. Tested first, so a flow busier than the tick skips the
	 * timeout lookup.
	 */
	if (now <= last)
		return 0;
	timeout = alv_ct_timeout(e->state);
	return timeout && now - last > timeout;
}

/*
 * Keep a per-family map call site apart from the other family's: clang would
 * otherwise merge the two calls into one with a chosen map pointer, and the
 * verifier inlines a lookup only when its call site always sees the same map
 * (measured: +7 ns a packet per merged lookup, through the generic helper).
 */
#define alv_ct_call_site(x) asm volatile("" : "+r"(x))

/* the entry of t's flow as it is (NULL: none): no counting, no expiry check */
static __always_inline struct alv_ct_entry *alv_ct_get(const struct alv_ct_tuple *t)
{
	struct alv_ct_entry *e;

	if (t->family == ALV_FAMILY_IPV4) {
		e = bpf_map_lookup_elem(&alv_ct4, &t->key4);
		alv_ct_call_site(e);
		return e;
	}
	return bpf_map_lookup_elem(&alv_ct6, &t->key);
}

static __always_inline int alv_ct_put(const struct alv_ct_tuple *t, const struct alv_ct_entry *e, __u64 flags)
{
	if (t->family == ALV_FAMILY_IPV4)
		return bpf_map_update_elem(&alv_ct4, &t->key4, e, flags);
	return bpf_map_update_elem(&alv_ct6, &t->key, e, flags);
}

static __always_inline void alv_ct_delete(const struct alv_ct_tuple *t)
{
	if (t->family == ALV_FAMILY_IPV4)
		bpf_map_delete_elem(&alv_ct4, &t->key4);
	else
		bpf_map_delete_elem(&alv_ct6, &t->key);
}

/* the live entry of t's flow (NULL: none, or dead and now deleted); *dir gets the packet's direction */
static __always_inline struct alv_ct_entry *alv_ct_lookup(const struct alv_ct_tuple *t, __u64 now, int *dir,
							  struct alv_ct_stats *s)
{
	struct alv_ct_entry *e;

	alv_ct_count(s, lookups);
	e = alv_ct_get(t);
	if (!e) {
		alv_ct_count(s, misses);
		return NULL;
	}
	if (alv_ct_expired(e, now)) {
		alv_ct_count(s, expired);
		alv_ct_delete(t);
		return NULL;
	}
	*dir = t->src == e->orig ? ALV_CT_DIR_ORIG : ALV_CT_DIR_REPLY;
	return e;
}

/* the TCP state machine (see the header comment); d: the packet's direction */
static __always_inline void alv_ct_tcp(struct alv_ct_entry *e, int d, __u8 flags)
{
	__u8 state = e->state, fin_o, fin_r;

	if (flags & ALV_TCP_RST) {
		e->tcp_flags[d] |= flags;
		e->state = ALV_CT_CLOSE;
		return;
	}
	if ((flags & (ALV_TCP_SYN | ALV_TCP_ACK)) == ALV_TCP_SYN) {
		if (d == ALV_CT_DIR_ORIG && (state == ALV_CT_TIME_WAIT || state == ALV_CT_CLOSE)) {
			/* the initiator opens the flow again */
			e->tcp_flags[ALV_CT_DIR_ORIG] = flags;
			e->tcp_flags[ALV_CT_DIR_REPLY] = 0;
			e->state = ALV_CT_SYN_SENT;
			return;
		}
		e->tcp_flags[d] |= flags;
		return;
	}
	e->tcp_flags[d] |= flags;
	if (flags & ALV_TCP_SYN) { /* SYN-ACK */
		if (d == ALV_CT_DIR_REPLY && state == ALV_CT_SYN_SENT)
			e->state = ALV_CT_SYN_RECV;
		return;
	}
	if (state == ALV_CT_SYN_RECV && d == ALV_CT_DIR_ORIG && (flags & ALV_TCP_ACK))
		state = ALV_CT_ESTABLISHED;
	if (state >= ALV_CT_SYN_RECV && state <= ALV_CT_CLOSE_WAIT) {
		fin_o = e->tcp_flags[ALV_CT_DIR_ORIG] & ALV_TCP_FIN;
		fin_r = e->tcp_flags[ALV_CT_DIR_REPLY] & ALV_TCP_FIN;
		if (fin_o && fin_r)
			state = ALV_CT_TIME_WAIT;
		else if (fin_o)
			state = ALV_CT_FIN_WAIT;
		else if (fin_r)
			state = ALV_CT_CLOSE_WAIT;
	}
	if (state != e->state)
		e->state = state;
}

/* account a packet of direction dir in its flow's entry and advance the state */
static __always_inline void alv_ct_update(struct alv_ct_entry *e, int dir, const struct alv_ct_tuple *t, __u32 len,
					  __u64 now)
{
	int d = dir & 1;
	__u8 state;

	if (now > e->last_ns)
		e->last_ns = now;
	/*
	 * Plain adds, not atomics (which cost ~14 ns a packet here): the two
	 * directions are different fields, so only one direction of one flow
	 * handled by two CPUs at once can lose a count (not with RSS).
	 */
	e->packets[d]++;
	e->bytes[d] += len;
	if (t->proto == IPPROTO_TCP) {
		alv_ct_tcp(e, d, t->tcp_flags);
		return;
	}
	state = e->state;
	if (d == ALV_CT_DIR_REPLY && state >= ALV_CT_UDP_NEW && !(state & 1))
		e->state = state + 1; /* *_NEW -> *_REPLIED */
}

/* the state a flow starts in, from its first packet (of direction d); 0: do not track (a RST) */
static __always_inline __u8 alv_ct_initial(__u8 proto, __u8 flags, int d)
{
	__u8 state;

	if (proto == IPPROTO_TCP) {
		if (flags & ALV_TCP_RST)
			return ALV_CT_NONE;
		if ((flags & (ALV_TCP_SYN | ALV_TCP_ACK)) == ALV_TCP_SYN)
			return d == ALV_CT_DIR_ORIG ? ALV_CT_SYN_SENT : ALV_CT_ESTABLISHED;
		if ((flags & (ALV_TCP_SYN | ALV_TCP_ACK)) == (ALV_TCP_SYN | ALV_TCP_ACK) && d == ALV_CT_DIR_REPLY)
			return ALV_CT_SYN_RECV;
		if (flags & ALV_TCP_FIN)
			return d == ALV_CT_DIR_ORIG ? ALV_CT_FIN_WAIT : ALV_CT_CLOSE_WAIT;
		return ALV_CT_ESTABLISHED; /* picked up mid-stream */
	}
	if (proto == IPPROTO_UDP)
		state = ALV_CT_UDP_NEW;
	else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
		state = ALV_CT_ICMP_NEW;
	else
		state = ALV_CT_OTHER_NEW;
	return state + (d == ALV_CT_DIR_REPLY);
}

/*
 * Create t's flow from one of its packets: dir ALV_CT_DIR_ORIG when the
 * packet's sender opens the flow (the usual case), ALV_CT_DIR_REPLY to create
 * it from a reply (a NAT restoring a flow it holds a binding for). nat may be
 * NULL. Returns 0; -EEXIST when the flow exists (another CPU created it
 * first: look it up); -EPERM for a packet that must not create a flow (a
 * RST); another negative error when the insert failed.
 */
static __always_inline int alv_ct_create(const struct alv_ct_tuple *t, __u32 len, __u64 now,
					 const struct alv_ct_nat *nat, int dir, struct alv_ct_stats *s)
{
	struct alv_ct_entry e = {};
	int d = dir & 1, err;

	e.state = alv_ct_initial(t->proto, t->tcp_flags, d);
	if (e.state == ALV_CT_NONE) {
		alv_ct_count(s, untracked);
		return -EPERM;
	}
	e.created_ns = now;
	e.last_ns = now;
	e.orig = t->src ^ d;
	e.packets[d] = 1;
	e.bytes[d] = len;
	if (t->proto == IPPROTO_TCP)
		e.tcp_flags[d] = t->tcp_flags;
	if (nat)
		e.nat = *nat;
	err = alv_ct_put(t, &e, BPF_NOEXIST);
	if (err == -EEXIST) {
		alv_ct_count(s, races);
		return err;
	}
	if (err) {
		alv_ct_count(s, create_failed);
		return err;
	}
	alv_ct_count(s, created);
	return 0;
}

/*
 * Track a packet: update its flow, or create the flow with the packet's
 * sender as initiator. Returns the packet's direction (ALV_CT_DIR_ORIG or
 * ALV_CT_DIR_REPLY) in an existing flow, ALV_CT_NEW when it created the flow,
 * or < 0 (not created: see alv_ct_create).
 */
static __always_inline int alv_ct_track(const struct alv_ct_tuple *t, __u32 len, __u64 now, struct alv_ct_stats *s)
{
	struct alv_ct_entry *e;
	int dir = ALV_CT_DIR_ORIG, err;

	e = alv_ct_lookup(t, now, &dir, s);
	if (!e) {
		err = alv_ct_create(t, len, now, NULL, ALV_CT_DIR_ORIG, s);
		if (err != -EEXIST)
			return err ? err : ALV_CT_NEW;
		e = alv_ct_get(t);
		if (!e)
			return -ENOENT;
		dir = t->src == e->orig ? ALV_CT_DIR_ORIG : ALV_CT_DIR_REPLY;
	}
	alv_ct_update(e, dir, t, len, now);
	return dir;
}

/*
 * The packet an ICMP error quotes: its tuple (as it travelled), and where its
 * headers are. 0, or -1 when h is not an ICMP error or the quote is not a
 * trackable packet (IPv6 extension headers in the quote are not walked; a
 * quoted later fragment has no ports). The quote must hold the IP header and
 * 8 bytes of L4 header inside the outer IP packet.
 */
static __always_inline int alv_ct_inner(struct alv_pkt *pkt, const struct alv_parsed *h, struct alv_ct_inner *in)
{
	union alv_addr saddr = {}, daddr = {};
	__u32 l3 = h->l4_off + 8, l4;
	__u16 sport = 0, dport = 0;
	__u8 *l4h, proto;

	if (!alv_ct_is_icmp_error(h))
		return -1;
	if (h->family == ALV_FAMILY_IPV4) {
		struct iphdr *ip = alv_ptr(pkt, l3, sizeof(*ip));

		if (!ip || ip->version != 4 || ip->ihl < 5)
			return -1;
		if (bpf_ntohs(ip->frag_off) & 0x1fff)
			return -1; /* a later fragment: no ports */
		l4 = l3 + ip->ihl * 4;
		proto = ip->protocol;
		saddr.w[2] = daddr.w[2] = bpf_htonl(0xffff);
		saddr.w[3] = ip->saddr;
		daddr.w[3] = ip->daddr;
	} else {
		struct ipv6hdr *ip6 = alv_ptr(pkt, l3, sizeof(*ip6));

		if (!ip6 || ip6->version != 6)
			return -1;
		l4 = l3 + sizeof(*ip6);
		proto = ip6->nexthdr;
		__builtin_memcpy(saddr.b, &ip6->saddr, 16);
		__builtin_memcpy(daddr.b, &ip6->daddr, 16);
	}
	if (l4 + 8 > h->ip_end)
		return -1;
	l4h = alv_ptr(pkt, l4, 8);
	if (!l4h)
		return -1;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		sport = (__u16)l4h[0] << 8 | l4h[1];
		dport = (__u16)l4h[2] << 8 | l4h[3];
	} else if (proto == (h->family == ALV_FAMILY_IPV4 ? IPPROTO_ICMP : IPPROTO_ICMPV6)) {
		if (!alv_ct_is_echo(h->family, l4h[0]))
			return -1;
		sport = dport = (__u16)l4h[4] << 8 | l4h[5];
	} else {
		return -1;
	}
	alv_ct_tuple_from(&in->t, h->family, &saddr, sport, &daddr, dport, proto, 0);
	in->l3_off = l3;
	in->l4_off = l4;
	in->family = h->family;
	in->proto = proto;
	return 0;
}

/* the live entry of the flow an ICMP error is about (NULL: none); counts it as related */
static __always_inline struct alv_ct_entry *alv_ct_related(struct alv_pkt *pkt, const struct alv_parsed *h,
							   __u64 now, struct alv_ct_stats *s)
{
	struct alv_ct_inner in;
	struct alv_ct_entry *e;
	int dir;

	if (alv_ct_inner(pkt, h, &in))
		return NULL;
	e = alv_ct_lookup(&in.t, now, &dir, s);
	if (e)
		alv_ct_count(s, related);
	return e;
}

#endif /* __ALVEOLE_CONNTRACK_H */
