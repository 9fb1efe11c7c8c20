// SPDX-License-Identifier: GPL-2.0
/* the smallest VNF: counts the packet (alv_stats) and hands it to the next one */
#include <alveole/vnf.h>

static __always_inline enum alv_verdict noop(struct alv_pkt *pkt)
{
	return ALV_CONTINUE;
}

ALV_VNF_XDP(noop_xdp, noop)
ALV_VNF_TC(noop_tc, noop)

char LICENSE[] SEC("license") = "GPL";
