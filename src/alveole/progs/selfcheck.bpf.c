// SPDX-License-Identifier: GPL-2.0
/* self-check VNF: drop UDP/IPv4 to one configured port, pass the rest, count both */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

const volatile __u16 blocked_port = 9; /* set from Python before load */

struct verdicts {
	__u64 passed;
	__u64 dropped;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct verdicts);
} stats SEC(".maps");

static __always_inline int verdict(int action)
{
	__u32 zero = 0;
	struct verdicts *v = bpf_map_lookup_elem(&stats, &zero);

	if (v) {
		if (action == XDP_DROP)
			v->dropped++;
		else
			v->passed++;
	}
	return action;
}

SEC("xdp")
int xdp_selfcheck(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return verdict(XDP_PASS);
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->ihl < 5 || ip->protocol != IPPROTO_UDP)
		return verdict(XDP_PASS);
	/* non-first fragments carry no UDP header */
	if (ip->frag_off & bpf_htons(0x1fff))
		return verdict(XDP_PASS);
	udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > end)
		return verdict(XDP_PASS);
	return verdict(udp->dest == bpf_htons(blocked_port) ? XDP_DROP : XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
