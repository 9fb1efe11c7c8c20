// SPDX-License-Identifier: GPL-2.0
/*
 * ctprobe: the conntrack core alone, for its differential tests and as the
 * smallest user of the API. Every trackable packet is tracked
 * (alv_ct_track); an ICMP error is looked up as related. The verdict tells
 * what conntrack made of the packet, so a model can be checked packet by
 * packet:
 *
 *   ALV_CONTINUE  the packet belongs to a flow that existed (either direction),
 *                 or is an ICMP error about one (related)
 *   ALV_PASS      the packet created its flow
 *   ALV_DROP      not tracked (not trackable, an unrelated ICMP error, a RST
 *                 without a flow, or the insert failed)
 */
#include <alveole/vnf.h>
#include <alveole/parse.h>
#include <alveole/conntrack.h>
#include <alveole/btf.h>

/* the enums Python mirrors (alveole.conntrack.states), checked against this BTF by a test */
ALV_BTF_EXPORT(enum alv_ct_state);
ALV_BTF_EXPORT(enum alv_ct_dir);
ALV_BTF_EXPORT(enum alv_ct_nat_kind);

static __always_inline enum alv_verdict ctprobe(struct alv_pkt *pkt)
{
	struct alv_ct_stats *s = alv_ct_stats_get();
	__u64 now = bpf_ktime_get_coarse_ns();
	struct alv_ct_tuple t;
	struct alv_parsed h;
	int ret;

	if (alv_parse(pkt, &h) != ALV_PARSE_OK || !(h.layers & ALV_LAYER_IP))
		return ALV_DROP;
	if (alv_ct_is_icmp_error(&h))
		return alv_ct_related(pkt, &h, now, s) ? ALV_CONTINUE : ALV_DROP;
	if (alv_ct_tuple(pkt, &h, &t)) {
		alv_ct_count(s, untracked);
		return ALV_DROP;
	}
	ret = alv_ct_track(&t, pkt->len, now, s);
	if (ret == ALV_CT_NEW)
		return ALV_PASS;
	return ret < 0 ? ALV_DROP : ALV_CONTINUE;
}

ALV_VNF_XDP(ctprobe_xdp, ctprobe)
ALV_VNF_TC(ctprobe_tc, ctprobe)

char LICENSE[] SEC("license") = "GPL";
