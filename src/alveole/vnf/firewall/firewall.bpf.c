// SPDX-License-Identifier: GPL-2.0
/*
 * firewall: ordered 5-tuple rules (prefixes, protocol, port ranges, ICMP type),
 * first match by priority, compiled in Python into multi-way decision trees
 * (HiCuts/HyperCuts: nodes cut one or two fields on bit-aligned ranges, roots
 * up to three, with path compression; EffiCuts-style separate trees for wide
 * rules; one set of trees per family and protocol class; see classifier.py).
 * A lookup walks at most FW_TREES_MAX trees of at most FW_DEPTH_MAX nodes, one
 * array lookup per level, then checks the rules of one leaf: its cost depends
 * on the depth and the leaf sizes, not on the number of rules.
 *
 * Verdicts: accept -> ALV_CONTINUE (on through the chain), drop -> ALV_DROP.
 * Frames that are not IP: the configured verdict (accept by default: ARP must
 * pass). IP frames that do not parse (truncated, malformed, unsupported) are
 * dropped: a firewall cannot classify what it cannot read.
 *
 * Updates never expose a half-written classifier: every table is split in two
 * halves, Python writes the inactive half (as a diff), then flips
 * fw_conf[0].active with one map write. A packet reads the active half once.
 *
 * Stateful mode (fw_stateful, set at load from config.stateful; docs/vnfs/firewall.md):
 * a flow-table hit decides before the rules. ICMP errors about a tracked flow
 * are accepted as related, packets of a tracked flow (either direction) as
 * established; both are counted in fw_other, not in the rule hits. A packet the
 * rules accept opens a flow when it is an opening packet (fw_opens: a TCP SYN
 * without ACK, an ICMP echo request, any UDP or other-protocol packet); a
 * mid-stream TCP packet passes on the rules alone and creates nothing (like
 * nf_conntrack_tcp_loose=0). A dropped packet creates nothing. Stateless (the
 * default), the verifier removes the stateful path: what remains is one load
 * of the flag (the two paths are separate so that no conntrack variable stays
 * live across the classifier call).
 */
#include <alveole/vnf.h>
#include <alveole/parse.h>
#include <alveole/btf.h>
#include <alveole/conntrack.h>

/* the classifier's bounds (classifier.py has the same; a test compares them through BTF) */
enum fw_limits {
	FW_DEPTH_MAX = 24,   /* nodes on a path */
	FW_LEAF_MAX = 64,    /* rules in one leaf */
	FW_TREES_MAX = 4,    /* trees per family and protocol class */
	FW_PROTO_CLASSES = 4, /* TCP, UDP, ICMP (of the family), other */
	FW_KEY_WORDS = 11,   /* src[4], dst[4], proto, sport, dportx */
	FW_LEAF_BLOCK = 8,   /* rule indexes per fw_leaves entry (a leaf starts a block) */
	FW_LEAF_INLINE = 4,  /* ... the first of them also in the leaf's own record */
};

#define FW_NO_RULE 0xffffffffU  /* no rule matched (and: no such tree) */
#define FW_NO_MATCH ((__u64)FW_NO_RULE << 32)
#define FW_SLOT_MASK 0xffffff   /* hit counter slots: 24 bits */
#define FW_LEAF_FIELD 0xff      /* fw_slot.field of a leaf */
#define FW_ICMP_BASE (1U << 16) /* dportx of ICMP: FW_ICMP_BASE + type */
#define FW_DPORTX_NONE (FW_ICMP_BASE + 256)

/* packets the rules never see, by reason */
enum fw_other_reason {
	FW_NOT_IP = 0,      /* not IPv4/IPv6: conf.non_ip_verdict */
	FW_UNPARSED = 1,    /* IP that does not parse: dropped */
	FW_ESTABLISHED = 2, /* stateful: a packet of a tracked flow, accepted */
	FW_RELATED = 3,     /* stateful: an ICMP error about a tracked flow, accepted */
	FW_OTHER_MAX = 4,
};

/* config.stateful: 0 leaves the conntrack code dead, and the verifier removes it */
const volatile __u32 fw_stateful = 0;

/*
 * A node or a leaf of a tree (32 bytes: the array lookup shifts instead of
 * multiplying). A node cuts one or two fields: its children are the
 * consecutive slots base .. base + n - 1, n = (kmask + 1) << bits2, each a
 * full copy of the child's slot (one lookup per level). A node that checks
 * has two miss slots after them: base + n (the first check failed), base + n
 * + 1 (the second one did). A leaf (field FW_LEAF_FIELD) has kmask rules from
 * fw_leaves entry base on; its first FW_LEAF_INLINE are also in its first
 * words (cmask ...): a leaf of up to 4 rules costs no fw_leaves lookup.
 */
struct fw_slot {
	__u32 cmask;   /* key[field] & cmask must equal cvalue ... */
	__u32 cvalue;
	__u32 cmask2;  /* ... and key[field2] & cmask2 cvalue2 */
	__u32 cvalue2;
	__u32 base;    /* node: first child slot; leaf: its first entry in fw_leaves */
	__u16 kmask;   /* node: i = (key[field] >> shift) & kmask; leaf: rule count */
	__u16 kmask2;  /* node: i2 = (key[field2] >> shift2) & kmask2; child: base + (i << bits2 | i2) */
	__u8 field;    /* key word; FW_LEAF_FIELD: a leaf */
	__u8 shift;
	__u8 field2;
	__u8 shift2;
	__u8 bits2;
	__u8 empty;    /* bit i: miss slot i is an empty leaf (no lookup: the walk ends) */
	__u8 pad[2];   /* 32 bytes exactly: a value size of 40 would cost a multiply per level */
};

/*
 * A tree's root, in the config header (no lookup), may cut a third field
 * (large trees only, classifier.py): i3 = (key[field3] >> shift3) & kmask3
 * gives the low bits3 bits of the child's index, base + ((i << bits2 | i2)
 * << bits3 | i3) (shifts only), the miss slots following the n << bits3
 * children. When the third check fails, the walk goes on at slot miss3 (empty
 * bit 2: no rule). Without a third cut these are all 0 (the check passes).
 */
struct fw_root {
	struct fw_slot s;
	__u32 cmask3;
	__u32 cvalue3;
	__u32 miss3;
	__u16 kmask3;
	__u8 field3;
	__u8 shift3;
	__u8 bits3;
	__u8 pad[19]; /* 64 bytes: a root's address is a shift */
};

/* the enums above are used as numbers only: keep their BTF for Python's tests */
ALV_BTF_EXPORT(enum fw_limits);
ALV_BTF_EXPORT(enum fw_other_reason);

/* fw_conf[0]: which half packets use; fw_conf[1 + half]: that half's header */
struct fw_conf {
	__u32 active;          /* [0] only: 0 or 1 */
	__u32 default_verdict; /* no rule matched: ALV_CONTINUE or ALV_DROP */
	__u32 non_ip_verdict;  /* frames that are not IP */
	__u32 pad;
	__u64 tag;             /* digest of the config this half holds (Python skips no-op updates) */
	/* per family (IPv4, IPv6) and protocol class (TCP, UDP, ICMP, other): each tree's best
	 * (lowest) rule index, FW_NO_RULE for no tree, and its root (here: one lookup less) */
	__u32 best[2][FW_PROTO_CLASSES][FW_TREES_MAX];
	struct fw_root root[2][FW_PROTO_CLASSES][FW_TREES_MAX];
};

/* a rule as the kernel checks it; addresses in host order per 32-bit word, masked */
struct fw_rule {
	__u32 src[4];
	__u32 src_mask[4];
	__u32 dst[4];
	__u32 dst_mask[4];
	__u32 dportx_lo; /* destination port, ICMP type (FW_ICMP_BASE + type), or FW_DPORTX_NONE */
	__u32 dportx_hi;
	__u16 sport_lo;
	__u16 sport_hi;
	__u8 proto_lo;
	__u8 proto_hi;
	__u8 verdict;    /* ALV_CONTINUE (accept) or ALV_DROP */
	__u8 final;      /* bit v6: no later tree of the family can beat this rule's match (final.py) */
	__u32 slot;      /* index in fw_hits */
};

/*
 * Leaves' rule lists, 8 per entry: a leaf starts an entry (the rest of its
 * last one is padding), so a scan looks up one entry per 8 rules and reads
 * the rules' indexes from it (no lookup, no index through the stack, per rule).
 */
struct fw_leaf_block {
	__u32 rule[FW_LEAF_BLOCK];
};

/* a rule's stable identity (Python only): blake2b of its id, or of its match and action */
struct fw_id {
	__u8 digest[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, struct fw_conf);
} fw_conf SEC(".maps");

/* the classifier tables, two halves each (sizes set by config.map_sizes) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 32768);
	__type(key, __u32);
	__type(value, struct fw_slot);
} fw_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 1024);
	__type(key, __u32);
	__type(value, struct fw_leaf_block); /* a leaf's rules (indexes in fw_rules), in priority order */
} fw_leaves SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 1024);
	__type(key, __u32);
	__type(value, struct fw_rule); /* in priority order within a half: a lower index wins */
} fw_rules SEC(".maps");

/* hits per rule slot (slot 0: the default policy), per CPU */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1024 + 1);
	__type(key, __u32);
	__type(value, struct alv_counter);
} fw_hits SEC(".maps");

/* rule identity -> slot: kept by Python so that a rule keeps its counter across updates */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fw_id);
	__type(value, __u32);
} fw_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FW_OTHER_MAX);
	__type(key, __u32);
	__type(value, struct alv_counter);
} fw_other SEC(".maps");

/* what a packet is classified on (see match.py): host-order words */
struct fw_key {
	__u32 w[16]; /* src[0..3], dst[4..7], proto 8, sport 9, dportx 10; the rest 0 */
};

static __always_inline void fw_count(void *map, __u32 slot, __u32 len)
{
	struct alv_counter *c = bpf_map_lookup_elem(map, &slot);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

/*
 * The slot a packet goes to from node s: 0, or 1 when that is an empty miss
 * (no rule: the walk ends). i3, bits3: a root's third cut (0 below the root).
 */
static __always_inline int fw_child(const struct fw_slot *s, const struct fw_key *k, __u32 i3, __u32 bits3,
				    __u32 *idx)
{
	__u32 v = k->w[s->field & 15], v2 = k->w[s->field2 & 15], miss = 0;

	if ((v & s->cmask) != s->cvalue)
		miss = 1;
	else if ((v2 & s->cmask2) != s->cvalue2)
		miss = 2;
	if (miss) {
		if (s->empty & miss)
			return 1;
		/* the miss slots follow the children */
		*idx = s->base + ((((__u32)s->kmask + 1) << (s->bits2 & 15)) << bits3) + miss - 1;
		return 0;
	}
	*idx = s->base + ((((((v >> (s->shift & 31)) & s->kmask) << (s->bits2 & 15)) |
			     ((v2 >> (s->shift2 & 31)) & s->kmask2)) << bits3) | i3);
	return 0;
}

/*
 * Follow nodes from a tree's root down to a leaf: returns the leaf's record
 * (NULL: no leaf). The root's step is apart: its third cut (all zeros when it
 * has none: the check passes, i3 is 0) gives the low bits of the child's index,
 * or sends the packet to its miss3 slot.
 */
static __always_inline const struct fw_slot *fw_walk(const struct fw_root *r, const struct fw_key *k)
{
	const struct fw_slot *s = &r->s;
	__u32 i, v, idx;

	if (s->field == FW_LEAF_FIELD)
		return s;
	v = k->w[r->field3 & 15];
	if ((v & r->cmask3) != r->cvalue3) {
		if (s->empty & 4)
			return NULL;
		idx = r->miss3;
	} else if (fw_child(s, k, (v >> (r->shift3 & 31)) & r->kmask3, r->bits3 & 15, &idx)) {
		return NULL;
	}
	s = bpf_map_lookup_elem(&fw_slots, &idx);
	for (i = 1; i < FW_DEPTH_MAX; i++) {
		if (!s)
			return NULL;
		if (s->field == FW_LEAF_FIELD)
			return s;
		if (fw_child(s, k, 0, 0, &idx))
			return NULL;
		s = bpf_map_lookup_elem(&fw_slots, &idx);
	}
	return NULL; /* deeper than the compiler builds */
}

static __always_inline int fw_in(__u32 v, __u32 lo, __u32 hi)
{
	return v >= lo && v <= hi;
}

/* whether word i of the key differs from the rule's (masked) address word */
#define FW_DIFF(k, addr, mask, i) (((k) & (mask)[i]) != (addr)[i])

/*
 * Whether rule r matches key k. The protocol is checked in the trees of other
 * protocols only (proto_any 0): a TCP, UDP or ICMP tree holds the rules of that
 * protocol and the rules of any protocol, which all match its packets.
 */
static __always_inline int fw_matches(const struct fw_rule *r, const struct fw_key *k, __u32 v6, __u32 proto_any)
{
	if (FW_DIFF(k->w[3], r->src, r->src_mask, 3) || FW_DIFF(k->w[7], r->dst, r->dst_mask, 3))
		return 0;
	if (!fw_in(k->w[10], r->dportx_lo, r->dportx_hi) || !fw_in(k->w[9], r->sport_lo, r->sport_hi))
		return 0;
	if (!proto_any && !fw_in(k->w[8], r->proto_lo, r->proto_hi))
		return 0;
	/* IPv4 trees hold IPv4 and any-family rules: words 0-2 are the ::ffff: prefix or masked out */
	if (v6) {
		if (FW_DIFF(k->w[0], r->src, r->src_mask, 0) || FW_DIFF(k->w[1], r->src, r->src_mask, 1) ||
		    FW_DIFF(k->w[2], r->src, r->src_mask, 2))
			return 0;
		if (FW_DIFF(k->w[4], r->dst, r->dst_mask, 0) || FW_DIFF(k->w[5], r->dst, r->dst_mask, 1) ||
		    FW_DIFF(k->w[6], r->dst, r->dst_mask, 2))
			return 0;
	}
	return 1;
}

/*
 * Scan a leaf (from fw_walk; NULL: none) for its first rule that matches and
 * beats best (a lower index in fw_rules): returns index << 32 | verdict << 24
 * | slot of that rule, else best as it was. A rule final in this family
 * comes out with index 0: no tree's best rule ranks before that, so the
 * lookup ends there. Only values read from maps come out: a leaf position
 * would carry the loop counter, and the verifier would walk every later tree
 * once per iteration of this loop.
 */
static __always_inline __u64 fw_scan(const struct fw_slot *leaf, __u64 best, const struct fw_key *k, __u32 v6,
					 __u32 proto_any)
{
	__u32 count, base, block, i;
	const struct fw_leaf_block *b = NULL;
	const __u32 *ri;
	struct fw_rule *r;

	if (!leaf)
		return best;
	count = leaf->kmask;
	base = leaf->base;
	for (i = 0; i < FW_LEAF_MAX; i++) {
		if (i >= count)
			break;
		if (i < FW_LEAF_INLINE) {
			ri = &leaf->cmask + i; /* the leaf's record holds its first rules */
		} else {
			if (i == FW_LEAF_INLINE || !(i % FW_LEAF_BLOCK)) {
				block = base + i / FW_LEAF_BLOCK;
				b = bpf_map_lookup_elem(&fw_leaves, &block);
			}
			if (!b)
				break;
			ri = &b->rule[i % FW_LEAF_BLOCK];
		}
		if (*ri >= best >> 32)
			break;
		r = bpf_map_lookup_elem(&fw_rules, ri);
		if (!r)
			break;
		if (fw_matches(r, k, v6, proto_any)) {
			__u64 rank = r->final & (1 << v6) ? 0 : *ri;

			return rank << 32 | (__u32)r->verdict << 24 | (r->slot & FW_SLOT_MASK);
		}
	}
	return best;
}

/*
 * The decision for an IP packet: verdict << 24 | hit counter slot, from the
 * first matching rule over the trees of its family (v6) and protocol class
 * (c), else the default policy (slot 0).
 */
static __always_inline __u32 fw_lookup_in(const struct fw_key *k, const __u32 v6, __u32 c, const __u32 proto_any)
{
	__u64 best = FW_NO_MATCH;
	struct fw_conf *sel, *head;
	__u32 zero = 0, half, t;

	if (!k)
		return ALV_ABORTED << 24;
	sel = bpf_map_lookup_elem(&fw_conf, &zero);
	if (!sel)
		return ALV_ABORTED << 24;
	half = 1 + (sel->active & 1);
	head = bpf_map_lookup_elem(&fw_conf, &half);
	if (!head)
		return ALV_ABORTED << 24;
	c &= FW_PROTO_CLASSES - 1;
	/* trees are in order of their best rule: stop when none can win any more (a final
	 * match has index 0) */
	for (t = 0; t < FW_TREES_MAX; t++) {
		if (head->best[v6][c][t] >= best >> 32)
			break;
		best = fw_scan(fw_walk(&head->root[v6][c][t], k), best, k, v6, proto_any);
	}
	if (best == FW_NO_MATCH)
		return head->default_verdict << 24;
	return (__u32)best;
}

/*
 * One global function per family: the verifier checks each once, on its own,
 * whatever the caller knows about the key (a protocol the parser's branches
 * made constant would otherwise multiply the paths through every loop), and
 * the IPv4 one carries no IPv6 word checks (fewer registers live in the leaf
 * scan: measured 2-4 ns less at 100k rules, 1-2 at 1k). Each inlines the
 * lookup twice: without the protocol check for TCP, UDP and ICMP trees, with it
 * for the others (a flag passed down the scan cost the 100-rule row ~1 ns).
 */
static __always_inline __u32 fw_lookup_family(const struct fw_key *k, const __u32 v6, __u32 c)
{
	if (c == FW_PROTO_CLASSES - 1)
		return fw_lookup_in(k, v6, c, 0);
	return fw_lookup_in(k, v6, c, 1);
}

__attribute__((noinline)) __u32 fw_lookup4(const struct fw_key *k, __u32 c)
{
	return fw_lookup_family(k, 0, c);
}

__attribute__((noinline)) __u32 fw_lookup6(const struct fw_key *k, __u32 c)
{
	return fw_lookup_family(k, 1, c);
}

/* the trees a protocol uses: TCP, UDP, ICMP (of the family), other (classifier.proto_class) */
static __always_inline __u32 fw_proto_class(__u32 proto, __u32 v6)
{
	if (proto == IPPROTO_TCP)
		return 0;
	if (proto == IPPROTO_UDP)
		return 1;
	if (proto == (v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP))
		return 2;
	return 3;
}

/* the key: addresses as host-order words, protocol, source port, dportx (see match.py) */
static __always_inline void fw_key(const struct alv_parsed *h, struct fw_key *k)
{
	__u32 i;

	for (i = 0; i < 4; i++) {
		k->w[i] = bpf_ntohl(h->saddr.w[i]);
		k->w[4 + i] = bpf_ntohl(h->daddr.w[i]);
	}
	k->w[8] = h->l4_proto;
	k->w[9] = 0;
	k->w[10] = FW_DPORTX_NONE;
	if (h->layers & ALV_LAYER_L4) { /* TCP, UDP, or ICMP/ICMPv6 in its own family */
		if (h->l4_proto == IPPROTO_TCP || h->l4_proto == IPPROTO_UDP) {
			k->w[9] = h->sport;
			k->w[10] = h->dport;
		} else {
			k->w[10] = FW_ICMP_BASE + h->icmp_type;
		}
	}
}

/*
 * Whether a packet the rules accepted opens a flow: a TCP SYN without ACK
 * (no state for a mid-stream packet), an ICMP echo request (alv_ct_tuple
 * tracks only echoes), anything else that is trackable.
 */
static __always_inline int fw_opens(const struct alv_parsed *h, const struct alv_ct_tuple *t)
{
	if (t->proto == IPPROTO_TCP)
		return (t->tcp_flags & (ALV_TCP_SYN | ALV_TCP_ACK)) == ALV_TCP_SYN;
	if (h->layers & ALV_LAYER_L4 && (h->l4_proto == IPPROTO_ICMP || h->l4_proto == IPPROTO_ICMPV6))
		return alv_ct_is_echo_request(h->family, h->icmp_type);
	return 1;
}

/* the rules' verdict for an IP packet, counted in fw_hits (by rule, slot 0: the default) */
static __always_inline enum alv_verdict fw_decide(struct alv_pkt *pkt, const struct alv_parsed *h)
{
	struct fw_key k = {};
	__u32 found, v6;

	fw_key(h, &k);
	v6 = h->family == ALV_FAMILY_IPV6;
	if (v6)
		found = fw_lookup6(&k, fw_proto_class(h->l4_proto, 1));
	else
		found = fw_lookup4(&k, fw_proto_class(h->l4_proto, 0));
	if (found >> 24 == ALV_ABORTED)
		return ALV_ABORTED;
	fw_count(&fw_hits, found & FW_SLOT_MASK, pkt->len);
	return found >> 24 == ALV_DROP ? ALV_DROP : ALV_CONTINUE;
}

/* stateful mode: the flow table decides before the rules; an accepted opening packet starts a flow */
static __always_inline enum alv_verdict fw_decide_stateful(struct alv_pkt *pkt, const struct alv_parsed *h)
{
	struct alv_ct_stats *cs = alv_ct_stats_get();
	__u64 now = bpf_ktime_get_coarse_ns();
	enum alv_verdict verdict;
	struct alv_ct_entry *e;
	struct alv_ct_tuple t;
	int dir = 0;

	if (alv_ct_is_icmp_error(h) && alv_ct_related(pkt, h, now, cs)) {
		fw_count(&fw_other, FW_RELATED, pkt->len);
		return ALV_CONTINUE;
	}
	if (alv_ct_tuple(pkt, h, &t))
		return fw_decide(pkt, h); /* untrackable (later fragment, ICMP other than echo) */
	e = alv_ct_lookup(&t, now, &dir, cs);
	if (e) {
		alv_ct_update(e, dir, &t, pkt->len, now);
		fw_count(&fw_other, FW_ESTABLISHED, pkt->len);
		return ALV_CONTINUE;
	}
	verdict = fw_decide(pkt, h);
	/* a dropped packet creates nothing; -EEXIST: another CPU created the flow first */
	if (verdict == ALV_CONTINUE && fw_opens(h, &t))
		alv_ct_create(&t, pkt->len, now, NULL, ALV_CT_DIR_ORIG, cs);
	return verdict;
}

static __always_inline enum alv_verdict firewall(struct alv_pkt *pkt)
{
	struct alv_parsed h;
	struct fw_conf *sel, *head;
	__u32 zero = 0, half;

	if (alv_parse(pkt, &h) != ALV_PARSE_OK) {
		fw_count(&fw_other, FW_UNPARSED, pkt->len);
		return ALV_DROP;
	}
	if (!(h.layers & ALV_LAYER_IP)) {
		fw_count(&fw_other, FW_NOT_IP, pkt->len);
		sel = bpf_map_lookup_elem(&fw_conf, &zero);
		if (!sel)
			return ALV_ABORTED;
		half = 1 + (sel->active & 1);
		head = bpf_map_lookup_elem(&fw_conf, &half);
		if (!head)
			return ALV_ABORTED;
		return head->non_ip_verdict == ALV_DROP ? ALV_DROP : ALV_CONTINUE;
	}
	/* two separate paths: the stateless one keeps nothing live for the stateful one */
	if (fw_stateful)
		return fw_decide_stateful(pkt, &h);
	return fw_decide(pkt, &h);
}

ALV_VNF_XDP(firewall_xdp, firewall)
ALV_VNF_TC(firewall_tc, firewall)

char LICENSE[] SEC("license") = "GPL";
