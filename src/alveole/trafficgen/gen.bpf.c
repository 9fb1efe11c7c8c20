// SPDX-License-Identifier: GPL-2.0
/* traffic generator, run with BPF_F_TEST_XDP_LIVE_FRAMES: every frame is rebuilt from a
 * template (live-frames pages are recycled and a receiver may rewrite headers in place),
 * its flow fields are varied per frame with checksums fixed, then it is redirected out of
 * one interface. frames are counted per CPU: the count is what the generator sent. */
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define GEN_MAX_FRAME 2048 /* power of two: offsets are masked with GEN_MAX_FRAME - 1 */

struct gen_template {
	__u32 len;	   /* frame length */
	__u32 copy_len;	   /* bytes rewritten per frame: the headers, or the whole frame */
	__u16 ip_csum_off; /* IPv4 header checksum; 0: none */
	__u16 l4_csum_off; /* UDP/TCP checksum; 0: none */
	__u16 sport_off;   /* source port; 0: not varied */
	__u16 saddr_off;   /* low 16 bits of the source address; 0: not varied */
	__u8 udp;	   /* a UDP checksum of 0 must be sent as 0xffff */
	__u8 pad[3];
	__u8 data[GEN_MAX_FRAME];
};

const volatile __u32 target_ifindex = 0;
const volatile __u32 n_templates = 1;
const volatile __u32 n_flows = 1;	/* distinct flows per template */
const volatile __u32 flow_ports = 1; /* flows varied by source port first, then by address */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_template);
} gen_templates SEC(".maps");

/* frames generated on this CPU (also the position in the template and flow cycles) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} gen_sent SEC(".maps");

/* one's complement update for a 16-bit field change (rfc 1624), byte order independent */
static __always_inline __u16 csum_replace(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

static __always_inline __u16 *field(void *data, void *end, __u16 off)
{
	__u16 *p = data + (off & (GEN_MAX_FRAME - 1));

	if ((void *)(p + 1) > end)
		return 0;
	return p;
}

static __always_inline int vary(struct xdp_md *ctx, struct gen_template *t, __u32 flow)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u16 port_step = flow % flow_ports;
	__u16 addr_step = flow / flow_ports;
	__u16 *p, *ipc = 0, *l4c = 0, old, new;

	if (t->ip_csum_off && !(ipc = field(data, end, t->ip_csum_off)))
		return -1;
	if (t->l4_csum_off && !(l4c = field(data, end, t->l4_csum_off)))
		return -1;
	if (port_step && t->sport_off) {
		if (!(p = field(data, end, t->sport_off)))
			return -1;
		old = *p;
		new = bpf_htons(bpf_ntohs(old) + port_step);
		*p = new;
		if (l4c)
			*l4c = csum_replace(*l4c, old, new);
	}
	if (addr_step && t->saddr_off) {
		if (!(p = field(data, end, t->saddr_off)))
			return -1;
		old = *p;
		new = bpf_htons(bpf_ntohs(old) + addr_step);
		*p = new;
		if (ipc)
			*ipc = csum_replace(*ipc, old, new);
		if (l4c) /* the pseudo-header covers the source address */
			*l4c = csum_replace(*l4c, old, new);
	}
	if (l4c && t->udp && *l4c == 0)
		*l4c = 0xffff;
	return 0;
}

SEC("xdp")
int xdp_gen(struct xdp_md *ctx)
{
	__u32 zero = 0, idx = 0, copy;
	struct gen_template *t;
	__u64 *sent, n;
	long have;

	/* the program is also attached to the sending interface (see generator.py): frames
	 * that arrive there are not ours to rewrite */
	if (ctx->ingress_ifindex == target_ifindex)
		return XDP_PASS;
	sent = bpf_map_lookup_elem(&gen_sent, &zero);
	if (!sent)
		return XDP_ABORTED;
	n = *sent;
	if (n_templates > 1)
		idx = n % n_templates;
	t = bpf_map_lookup_elem(&gen_templates, &idx);
	if (!t)
		return XDP_ABORTED;
	/* the buffer holds the largest template: shrink it to this one */
	have = (long)ctx->data_end - (long)ctx->data;
	if (have != t->len && bpf_xdp_adjust_tail(ctx, (int)t->len - (int)have))
		return XDP_ABORTED;
	copy = t->copy_len;
	if (copy < 1 || copy > GEN_MAX_FRAME)
		return XDP_ABORTED;
	if (bpf_xdp_store_bytes(ctx, 0, t->data, copy))
		return XDP_ABORTED;
	if (n_flows > 1 && vary(ctx, t, (n / n_templates) % n_flows))
		return XDP_ABORTED;
	*sent = n + 1; /* counted only when the frame is complete */
	return bpf_redirect(target_ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
