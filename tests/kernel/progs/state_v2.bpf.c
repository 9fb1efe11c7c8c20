// SPDX-License-Identifier: GPL-2.0
/* a stateful test VNF, version 2: counts packets per source MAC byte in a hash map
 * (version 2 also counts bytes: the value layout changed)  */
#include <alveole/vnf.h>

struct seen {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct seen);
} seen_by_src SEC(".maps");

static __always_inline enum alv_verdict count(struct alv_pkt *pkt)
{
	__u8 *p = pkt->data;
	struct seen zero = {}, *s;
	__u32 key;

	if ((void *)(p + 12) > pkt->data_end)
		return ALV_CONTINUE;
	key = p[11];
	s = bpf_map_lookup_elem(&seen_by_src, &key);
	if (!s) {
		bpf_map_update_elem(&seen_by_src, &key, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&seen_by_src, &key);
		if (!s)
			return ALV_CONTINUE;
	}
	__sync_fetch_and_add(&s->packets, 1);
	__sync_fetch_and_add(&s->bytes, pkt->data_end - pkt->data);
	return ALV_CONTINUE;
}

ALV_VNF_XDP(state_xdp, count)

char LICENSE[] SEC("license") = "GPL";
