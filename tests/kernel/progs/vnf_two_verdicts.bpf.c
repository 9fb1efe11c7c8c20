// SPDX-License-Identifier: GPL-2.0
/* breaks the VNF contract on purpose: counts a DROP by hand, then returns PASS */
#include <alveole/vnf.h>

static __always_inline enum alv_verdict two_verdicts(struct alv_pkt *pkt)
{
	alv_count(ALV_DROP, pkt->len);
	return ALV_PASS;
}

ALV_VNF_XDP(two_verdicts_xdp, two_verdicts)

char LICENSE[] SEC("license") = "GPL";
