// SPDX-License-Identifier: GPL-2.0
/*
 * lb_bench: lb.bpf.c plus benchmark entries that put each frame back as it came.
 *
 * BPF_PROG_TEST_RUN with repeat > 1 runs a program again and again on the same
 * buffer: after one pass of the LB, the frame is addressed to a backend (or
 * wrapped in a tunnel header), and the next passes would time another path.
 * lb_bench_xdp saves the frame's first LB_BENCH_SAVE bytes, runs the LB, moves
 * the head back and restores them: every pass sees the original frame.
 * lb_bench_noop_xdp does the same around a bare XDP_PASS: timing it gives the
 * harness's own cost, to subtract (what is left is the LB entry's cost over a
 * bare program, the pktcost floor).
 */
#include "lb.bpf.c"

#define LB_BENCH_SAVE 64 /* the benchmark frames are 64 bytes */

struct lb_bench_frame {
	__u8 b[LB_BENCH_SAVE];
};

/* the saved bytes (not on the stack: the LB's frame needs it) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_bench_frame);
} lb_bench_saved SEC(".maps");

static __always_inline int lb_bench_run(struct xdp_md *ctx, int noop)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct lb_bench_frame *saved;
	struct alv_pkt pkt;
	long len, grown;
	__u32 zero = 0;
	int rc;

	saved = bpf_map_lookup_elem(&lb_bench_saved, &zero);
	if (!saved || bpf_xdp_load_bytes(ctx, 0, saved->b, LB_BENCH_SAVE))
		return XDP_ABORTED;
	asm volatile("" : "+r"(data), "+r"(data_end));
	pkt = (struct alv_pkt){
		.data = data,
		.data_end = data_end,
		.ctx = ctx,
		.hook = ALV_HOOK_XDP,
		.ifindex = ctx->ingress_ifindex,
		.len = (__u32)((long)data_end - (long)data),
	};
	len = pkt.len;
	rc = noop ? XDP_PASS : alv_xdp_action(ctx, &pkt, lb(&pkt));
	/* data_end stays: a pushed header shows as a longer frame */
	grown = (long)ctx->data_end - (long)ctx->data;
	alv_opaque(grown); /* else clang computes data_end - (data + len), which the verifier refuses */
	grown -= len;
	if (grown > 0 && grown <= 64 && bpf_xdp_adjust_head(ctx, (int)grown))
		return XDP_ABORTED;
	saved = bpf_map_lookup_elem(&lb_bench_saved, &zero);
	if (!saved || bpf_xdp_store_bytes(ctx, 0, saved->b, LB_BENCH_SAVE))
		return XDP_ABORTED;
	return rc;
}

SEC("xdp")
int lb_bench_xdp(struct xdp_md *ctx)
{
	return lb_bench_run(ctx, 0);
}

SEC("xdp")
int lb_bench_noop_xdp(struct xdp_md *ctx)
{
	return lb_bench_run(ctx, 1);
}
