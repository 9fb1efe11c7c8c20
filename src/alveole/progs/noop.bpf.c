// SPDX-License-Identifier: GPL-2.0
/* the floor: an XDP program that only returns XDP_PASS */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_noop(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* the same floor for TC hooks */
SEC("tc")
int tc_noop(struct __sk_buff *skb)
{
	return -1; /* TC_ACT_UNSPEC: let the next program or the stack decide */
}

char LICENSE[] SEC("license") = "GPL";
