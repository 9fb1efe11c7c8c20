// SPDX-License-Identifier: GPL-2.0
/* one ring-buffer event per packet: its length and first bytes */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <alveole/btf.h>

struct pkt_event {
	__u32 len;
	__u32 seq;
	__u8 head[4];
};
ALV_BTF_EXPORT(struct pkt_event);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

__u32 seq = 0;

SEC("xdp")
int xdp_report(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct pkt_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return XDP_PASS;
	e->len = end - data;
	e->seq = __sync_fetch_and_add(&seq, 1);
	if (data + 4 <= end)
		__builtin_memcpy(e->head, data, 4);
	else
		__builtin_memset(e->head, 0, 4);
	bpf_ringbuf_submit(e, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
