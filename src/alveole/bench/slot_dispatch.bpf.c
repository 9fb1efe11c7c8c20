// SPDX-License-Identifier: GPL-2.0
/* a minimal dispatcher for the start-up benchmark: attached once, it tail-calls whatever
 * XDP program sits in slot 0, so a VNF goes live with one map write instead of an XDP
 * attach (which re-patches the kernel's XDP dispatcher and waits for an RCU grace period) */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} slot SEC(".maps");

SEC("xdp")
int xdp_slot_dispatch(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &slot, 0);
	return XDP_PASS; /* empty slot */
}

char LICENSE[] SEC("license") = "GPL";
