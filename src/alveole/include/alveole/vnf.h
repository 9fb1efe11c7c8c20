/* SPDX-License-Identifier: GPL-2.0 */
/*
 * alveole VNF contract: verdicts, per-verdict counters, and the chain hand-off.
 *
 * A VNF body is one function that looks at a packet and returns an
 * enum alv_verdict. ALV_VNF_XDP()/ALV_VNF_TC() wrap it into a hook entry
 * point that counts the verdict (packets and bytes, per CPU) and turns it into
 * the hook's action:
 *
 *   verdict        XDP                    TC
 *   ALV_CONTINUE   next VNF of the chain; at the end of the chain: PASS
 *   ALV_PASS       XDP_PASS               TC_ACT_OK
 *   ALV_DROP       XDP_DROP               TC_ACT_SHOT
 *   ALV_TX         XDP_TX                 (not allowed: counted as ABORTED, TC_ACT_SHOT)
 *   ALV_REDIRECT   what bpf_redirect*() returned (stored in pkt->redirect_rc)
 *   ALV_ABORTED    XDP_ABORTED            TC_ACT_SHOT
 *
 * Chains: every VNF object carries the chain maps below (one program array per hook type). A chain's dispatcher
 * (alveole/chain) and all its member VNFs share them (libbpf reuses the fds).
 * The dispatcher reads the active generation once per packet, sets the
 * per-CPU cursor {gen, pos = 0} and tail-calls slot gen * ALV_CHAIN_MAX + 0.
 * ALV_CONTINUE advances pos and tail-calls the next slot; an empty slot ends
 * the chain (PASS). A chain change fills the inactive generation, then flips
 * the generation with one map write, so a packet sees the old chain or the new
 * one, never a mix. A VNF loaded alone has empty chain maps: CONTINUE = PASS.
 */
#ifndef __ALVEOLE_VNF_H
#define __ALVEOLE_VNF_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

enum alv_verdict {
	ALV_CONTINUE = 0,
	ALV_PASS = 1,
	ALV_DROP = 2,
	ALV_TX = 3,
	ALV_REDIRECT = 4,
	ALV_ABORTED = 5,
	ALV_VERDICT_MAX = 6,
};

enum alv_hook {
	ALV_HOOK_XDP = 0,
	ALV_HOOK_TC = 1,
};

#define ALV_CHAIN_MAX 16 /* VNFs per chain; two generations of slots */

struct alv_counter {
	__u64 packets;
	__u64 bytes;
};

struct alv_chain_cursor {
	__u32 gen; /* generation the packet entered with */
	__u32 pos; /* position of the VNF running now */
};

/* packets and bytes per verdict, per CPU: the standard per-VNF counters */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ALV_VERDICT_MAX);
	__type(key, __u32);
	__type(value, struct alv_counter);
} alv_stats SEC(".maps");

/* the chain's programs: slot = gen * ALV_CHAIN_MAX + pos. A program array holds
 * programs of one type only, hence one map per hook type. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2 * ALV_CHAIN_MAX);
	__type(key, __u32);
	__type(value, __u32);
} alv_chain_xdp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2 * ALV_CHAIN_MAX);
	__type(key, __u32);
	__type(value, __u32);
} alv_chain_tc SEC(".maps");

/* where the current packet is in the chain */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct alv_chain_cursor);
} alv_chain_cursor SEC(".maps");

/* what a VNF body sees */
struct alv_pkt {
	void *data;
	void *data_end;
	void *ctx;        /* struct xdp_md * or struct __sk_buff * */
	__u32 hook;       /* enum alv_hook */
	__u32 ifindex;    /* ingress ifindex (XDP, TC ingress) */
	__s64 redirect_rc; /* return value of bpf_redirect*() for ALV_REDIRECT */
};

static __always_inline void alv_count(__u32 verdict, __u64 bytes)
{
	struct alv_counter *c = bpf_map_lookup_elem(&alv_stats, &verdict);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* tail-call the next VNF of the chain; returns only when there is none */
static __always_inline void alv_chain_next(void *ctx, void *progs)
{
	__u32 zero = 0;
	struct alv_chain_cursor *cur = bpf_map_lookup_elem(&alv_chain_cursor, &zero);

	if (!cur)
		return;
	cur->pos++;
	if (cur->pos >= ALV_CHAIN_MAX || cur->gen > 1)
		return;
	bpf_tail_call(ctx, progs, cur->gen * ALV_CHAIN_MAX + cur->pos);
}

static __always_inline int alv_xdp_action(struct xdp_md *ctx, struct alv_pkt *pkt, enum alv_verdict v)
{
	__u64 len = (__u64)((long)ctx->data_end - (long)ctx->data);

	if (v >= ALV_VERDICT_MAX)
		v = ALV_ABORTED;
	alv_count(v, len);
	switch (v) {
	case ALV_CONTINUE:
		alv_chain_next(ctx, &alv_chain_xdp);
		return XDP_PASS;
	case ALV_PASS:
		return XDP_PASS;
	case ALV_DROP:
		return XDP_DROP;
	case ALV_TX:
		return XDP_TX;
	case ALV_REDIRECT:
		return (int)pkt->redirect_rc;
	default:
		return XDP_ABORTED;
	}
}

static __always_inline int alv_tc_action(struct __sk_buff *skb, struct alv_pkt *pkt, enum alv_verdict v)
{
	if (v >= ALV_VERDICT_MAX || v == ALV_TX)
		v = ALV_ABORTED;
	alv_count(v, skb->len);
	switch (v) {
	case ALV_CONTINUE:
		alv_chain_next(skb, &alv_chain_tc);
		return TC_ACT_OK;
	case ALV_PASS:
		return TC_ACT_OK;
	case ALV_REDIRECT:
		return (int)pkt->redirect_rc;
	default:
		return TC_ACT_SHOT;
	}
}

/* re-read the packet pointers after a helper that may move data (adjust_head, ...) */
static __always_inline void alv_pkt_reload(struct alv_pkt *pkt)
{
	if (pkt->hook == ALV_HOOK_XDP) {
		struct xdp_md *x = pkt->ctx;

		pkt->data = (void *)(long)x->data;
		pkt->data_end = (void *)(long)x->data_end;
	} else {
		struct __sk_buff *s = pkt->ctx;

		pkt->data = (void *)(long)s->data;
		pkt->data_end = (void *)(long)s->data_end;
	}
}

/*
 * ALV_VNF_XDP(entry, body): define SEC("xdp") int entry(struct xdp_md *) running
 * enum alv_verdict body(struct alv_pkt *). Same for ALV_VNF_TC with SEC("tc").
 */
#define ALV_VNF_XDP(entry, body)                                                  \
	SEC("xdp")                                                                \
	int entry(struct xdp_md *ctx)                                             \
	{                                                                         \
		struct alv_pkt pkt = {                                            \
			.data = (void *)(long)ctx->data,                          \
			.data_end = (void *)(long)ctx->data_end,                  \
			.ctx = ctx,                                               \
			.hook = ALV_HOOK_XDP,                                     \
			.ifindex = ctx->ingress_ifindex,                          \
		};                                                                \
		return alv_xdp_action(ctx, &pkt, body(&pkt));                     \
	}

#define ALV_VNF_TC(entry, body)                                                   \
	SEC("tc")                                                                 \
	int entry(struct __sk_buff *skb)                                          \
	{                                                                         \
		struct alv_pkt pkt = {                                            \
			.data = (void *)(long)skb->data,                          \
			.data_end = (void *)(long)skb->data_end,                  \
			.ctx = skb,                                               \
			.hook = ALV_HOOK_TC,                                      \
			.ifindex = skb->ingress_ifindex,                          \
		};                                                                \
		return alv_tc_action(skb, &pkt, body(&pkt));                      \
	}

#endif /* __ALVEOLE_VNF_H */
