// SPDX-License-Identifier: GPL-2.0
/* a test VNF: writes its tag into the first free payload byte (so the output packet
 * shows which VNFs ran, in order), then returns a configured verdict. With mark = 0
 * it leaves packets alone (live-frames pages are recycled: marks would accumulate). */
#include <alveole/vnf.h>

const volatile __u8 tag = 1;
const volatile __u32 verdict = ALV_CONTINUE;
const volatile __u8 mark = 1;

static __always_inline enum alv_verdict hop(struct alv_pkt *pkt)
{
	__u8 *p = pkt->data + 14;

	if (!mark)
		return verdict;
#pragma unroll
	for (int i = 0; i < 16; i++) {
		if ((void *)(p + i + 1) > pkt->data_end)
			return ALV_ABORTED;
		if (p[i] == 0) {
			p[i] = tag;
			break;
		}
	}
	return verdict;
}

ALV_VNF_XDP(hop_xdp, hop)
ALV_VNF_TC(hop_tc, hop)

char LICENSE[] SEC("license") = "GPL";
