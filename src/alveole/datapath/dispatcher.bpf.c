// SPDX-License-Identifier: GPL-2.0
/*
 * The chain dispatcher: the one program attached to a hook. It reads the chain's
 * active generation once per packet and jumps to the first VNF of that
 * generation. Every later hop is a jump made by the VNFs themselves (see
 * <alveole/vnf.h>). An empty chain returns the end verdict.
 */
#include <alveole/vnf.h>

/* enter the chain: returns only when the active generation is empty (the end verdict) */
static __always_inline enum alv_verdict enter_chain(void *ctx, void *progs)
{
	__u32 zero = 0;
	struct alv_chain_conf *conf = bpf_map_lookup_elem(&alv_chain_conf, &zero);

	if (!conf)
		return ALV_ABORTED;
	/* two call sites with constant keys, which clang must not merge into one call with
	 * a variable key: both become direct jumps (no retpoline) */
	if (conf->gen == 0)
		bpf_tail_call_static(ctx, progs, 0);
	else
		bpf_tail_call_static(ctx, progs, ALV_CHAIN_MAX);
	return conf->end == ALV_DROP ? ALV_DROP : ALV_PASS;
}
SEC("xdp")
int alv_dispatch_xdp(struct xdp_md *ctx)
{
	switch (enter_chain(ctx, &alv_chain_xdp)) {
	case ALV_PASS:
		return XDP_PASS;
	case ALV_DROP:
		return XDP_DROP;
	default:
		return XDP_ABORTED;
	}
}

SEC("tc")
int alv_dispatch_tc(struct __sk_buff *skb)
{
	switch (enter_chain(skb, &alv_chain_tc)) {
	case ALV_PASS:
		return TC_ACT_OK;
	default:
		return TC_ACT_SHOT;
	}
}

char LICENSE[] SEC("license") = "GPL";
