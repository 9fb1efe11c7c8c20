// SPDX-License-Identifier: GPL-2.0
/* rejected by the verifier: reads the packet without a bounds check */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} some_map SEC(".maps");

SEC("xdp")
int xdp_unchecked(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;

	return data[12] == 0x08 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
