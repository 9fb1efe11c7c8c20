// SPDX-License-Identifier: GPL-2.0
/* maps of every shape the typed map layer must round-trip */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

struct flow_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

enum color { RED = 1, GREEN = 2, BLUE = 7 };

struct flow_val {
	__u64 packets;
	__u64 bytes;
	enum color color;
	__u32 flags : 3;
	__u32 level : 5;
	char name[8];
	__u16 hist[4];
};

struct lpm_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__type(key, struct flow_key);
	__type(value, struct flow_val);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct flow_val);
} pcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v6_key);
	__type(value, __u32);
} routes6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} jump SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} ports SEC(".maps");

const volatile __u32 answer = 1;
__u64 hits = 0;

SEC("xdp")
int xdp_jump_target(struct xdp_md *ctx)
{
	return XDP_DROP;
}

/* count in arr[0], then tail-call jump[0] (falls back to PASS when empty) */
SEC("xdp")
int xdp_entry(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&arr, &zero);

	if (v)
		__sync_fetch_and_add(v, answer);
	hits++;
	bpf_tail_call(ctx, &jump, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
