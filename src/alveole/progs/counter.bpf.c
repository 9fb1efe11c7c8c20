// SPDX-License-Identifier: GPL-2.0
/* count packets and bytes in a per-CPU array, then return a configured action (pass by
 * default): the cost of the cheapest useful VNF, and a receiver that counts what arrives */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 action = XDP_PASS;

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counter);
} counters SEC(".maps");

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct counter *c = bpf_map_lookup_elem(&counters, &zero);

	if (c) {
		c->packets++;
		c->bytes += ctx->data_end - ctx->data;
	}
	return action;
}

char LICENSE[] SEC("license") = "GPL";
