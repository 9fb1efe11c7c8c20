// SPDX-License-Identifier: GPL-2.0
/* maps for the batch-insert floor: a hash map and an LPM trie sized for 100k entries */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__type(key, __u32);
	__type(value, __u64);
} floor_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 131072);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4_key);
	__type(value, __u32);
} floor_lpm SEC(".maps");

/* a program keeps the object loadable on libbpf versions that want one */
SEC("xdp")
int xdp_floor_maps(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
