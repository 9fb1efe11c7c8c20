// SPDX-License-Identifier: GPL-2.0
/* transmit every frame out of one interface: with BPF_F_TEST_XDP_LIVE_FRAMES this makes
 * test_run a packet generator (the kernel recycles the page, so nothing else is needed) */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 target_ifindex = 0;

SEC("xdp")
int xdp_redirect_out(struct xdp_md *ctx)
{
	return bpf_redirect(target_ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
