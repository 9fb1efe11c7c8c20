// SPDX-License-Identifier: GPL-2.0
/* a VNF the verifier rejects: it reads the packet without a bounds check */
#include <alveole/vnf.h>

static __always_inline enum alv_verdict bad(struct alv_pkt *pkt)
{
	__u8 *p = pkt->data;

	return p[20] ? ALV_DROP : ALV_CONTINUE;
}

ALV_VNF_XDP(bad_xdp, bad)

char LICENSE[] SEC("license") = "GPL";
