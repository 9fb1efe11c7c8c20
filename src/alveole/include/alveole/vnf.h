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
 *   ALV_CONTINUE   next VNF of the chain; past the last one: the chain's end verdict
 *                  (PASS by default, DROP for a chain configured to drop at its end)
 *   ALV_PASS       XDP_PASS               TC_ACT_OK
 *   ALV_DROP       XDP_DROP               TC_ACT_SHOT
 *   ALV_TX         XDP_TX                 (not allowed: counted as ABORTED, TC_ACT_SHOT)
 *   ALV_REDIRECT   what bpf_redirect*() returned (stored in pkt->redirect_rc)
 *   ALV_ABORTED    XDP_ABORTED            TC_ACT_SHOT
 *
 * Chains: every VNF object carries the chain maps below (one program array per
 * hook type, and the chain's conf). A chain's dispatcher (alveole/datapath) and
 * all its member VNFs share them (libbpf reuses the fds). Slot
 * gen * ALV_CHAIN_MAX + pos holds the VNF at position pos of generation gen.
 * Each member is loaded for its slot: the chain manager sets the const volatile
 * alv_next_slot before load, so the verifier sees a constant key and the JIT
 * turns ALV_CONTINUE into a direct jump to the next VNF (an indirect tail call
 * costs ~18 ns here with retpolines, a direct one ~2 ns). The dispatcher reads
 * the active generation once per packet and jumps to its first slot. A chain
 * change loads the new generation's members, fills the inactive generation,
 * then flips the generation with one map write: a packet sees the old chain or
 * the new one, never a mix. Past the last VNF (empty next slot) the chain ends
 * with its end verdict (conf.end: PASS, or DROP). A VNF loaded alone has no next
 * slot and empty maps: CONTINUE = PASS.
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

#define ALV_NO_NEXT 0xffffffff

struct alv_chain_conf {
	__u32 gen; /* active generation: 0 or 1 */
	__u32 end; /* the chain's end verdict: ALV_DROP, else PASS */
};

/* the slot of the next VNF, set by the chain manager before load (a constant to the verifier) */
const volatile __u32 alv_next_slot = ALV_NO_NEXT;

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

/* the chain's active generation and end verdict */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct alv_chain_conf);
} alv_chain_conf SEC(".maps");

/* what a VNF body sees */
struct alv_pkt {
	void *data;
	void *data_end;
	void *ctx;        /* struct xdp_md * or struct __sk_buff * */
	__u32 hook;       /* enum alv_hook */
	__u32 ifindex;    /* ingress ifindex (XDP, TC ingress) */
	__u32 len;        /* frame length: data_end - data in XDP, skb->len in TC (see below) */
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

/* jump to the next VNF of the chain; returns (the chain's end verdict) only when there is none */
static __always_inline enum alv_verdict alv_chain_next(void *ctx, void *progs)
{
	__u32 zero = 0;
	struct alv_chain_conf *conf;

	if (alv_next_slot < 2 * ALV_CHAIN_MAX)
		bpf_tail_call(ctx, progs, alv_next_slot);
	conf = bpf_map_lookup_elem(&alv_chain_conf, &zero);
	return conf && conf->end == ALV_DROP ? ALV_DROP : ALV_PASS;
}

static __always_inline int alv_xdp_action(struct xdp_md *ctx, struct alv_pkt *pkt, enum alv_verdict v)
{
	__u64 len = (__u64)((long)ctx->data_end - (long)ctx->data);

	if (v >= ALV_VERDICT_MAX)
		v = ALV_ABORTED;
	alv_count(v, len);
	switch (v) {
	case ALV_CONTINUE:
		return alv_chain_next(ctx, &alv_chain_xdp) == ALV_DROP ? XDP_DROP : XDP_PASS;
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
		return alv_chain_next(skb, &alv_chain_tc) == ALV_DROP ? TC_ACT_SHOT : TC_ACT_OK;
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
	void *data, *data_end;

	if (pkt->hook == ALV_HOOK_XDP) {
		struct xdp_md *x = pkt->ctx;

		data = (void *)(long)x->data;
		data_end = (void *)(long)x->data_end;
	} else {
		struct __sk_buff *s = pkt->ctx;

		data = (void *)(long)s->data;
		data_end = (void *)(long)s->data_end;
	}
	asm volatile("" : "+r"(data), "+r"(data_end)); /* see ALV_VNF_XDP */
	pkt->data = data;
	pkt->data_end = data_end;
	if (pkt->hook == ALV_HOOK_XDP)
		pkt->len = (__u32)((long)data_end - (long)data);
	else
		pkt->len = ((struct __sk_buff *)pkt->ctx)->len;
}

/*
 * Non-linear skbs (TC): an skb's bytes may sit partly in pages outside the
 * linear area that data..data_end covers (GRO, large sends). The TC entry
 * pulls the first ALV_TC_PULL_LEN bytes (or the whole frame if shorter) into
 * the linear area before the body runs, and only when they are not there
 * already, so headers are directly readable. pkt->len is still the whole
 * frame (skb->len); alv_parse() reports headers beyond the linear area as
 * ALV_PARSE_UNSUPPORTED, never as truncated. A body that needs more bytes
 * calls bpf_skb_pull_data() itself, then alv_pkt_reload().
 */
#ifndef ALV_TC_PULL_LEN
#define ALV_TC_PULL_LEN 256 /* tags + IPv4/TCP with options, or IPv6 + a few extension headers */
#endif

static __always_inline void alv_tc_pull(struct __sk_buff *skb)
{
	__u32 want = skb->len < ALV_TC_PULL_LEN ? skb->len : ALV_TC_PULL_LEN;

	if ((long)skb->data + want > (long)skb->data_end)
		bpf_skb_pull_data(skb, want);
}

/*
 * ALV_VNF_XDP(entry, body): define SEC("xdp") int entry(struct xdp_md *) running
 * enum alv_verdict body(struct alv_pkt *). Same for ALV_VNF_TC with SEC("tc"),
 * which first pulls the headers into the linear area (alv_tc_pull).
 * Parsing and checksum helpers: alveole/parse.h, alveole/csum.h.
 */
#define ALV_VNF_XDP(entry, body)                                                  \
	SEC("xdp")                                                                \
	int entry(struct xdp_md *ctx)                                             \
	{                                                                         \
		void *data = (void *)(long)ctx->data;                            \
		void *data_end = (void *)(long)ctx->data_end;                    \
		struct alv_pkt pkt;                                               \
									          \
		/* hide that the pointers came from u32 fields, or clang          \
		 * zero-extends them as scalars the verifier refuses */           \
		asm volatile("" : "+r"(data), "+r"(data_end));                    \
		pkt = (struct alv_pkt){                                           \
			.data = data,                                             \
			.data_end = data_end,                                     \
			.ctx = ctx,                                               \
			.hook = ALV_HOOK_XDP,                                     \
			.ifindex = ctx->ingress_ifindex,                          \
			.len = (__u32)((long)data_end - (long)data),              \
		};                                                                \
		return alv_xdp_action(ctx, &pkt, body(&pkt));                     \
	}

#define ALV_VNF_TC(entry, body)                                                   \
	SEC("tc")                                                                 \
	int entry(struct __sk_buff *skb)                                          \
	{                                                                         \
		void *data, *data_end;                                            \
		struct alv_pkt pkt;                                               \
									          \
		alv_tc_pull(skb);                                                 \
		data = (void *)(long)skb->data;                                   \
		data_end = (void *)(long)skb->data_end;                           \
									          \
		asm volatile("" : "+r"(data), "+r"(data_end));                    \
		pkt = (struct alv_pkt){                                           \
			.data = data,                                             \
			.data_end = data_end,                                     \
			.ctx = skb,                                               \
			.hook = ALV_HOOK_TC,                                      \
			.ifindex = skb->ingress_ifindex,                          \
			.len = skb->len,                                          \
		};                                                                \
		return alv_tc_action(skb, &pkt, body(&pkt));                      \
	}

#endif /* __ALVEOLE_VNF_H */
