// SPDX-License-Identifier: GPL-2.0
/* biolatency: block I/O latency (issue -> completion) as log2 histograms per operation,
 * from the BTF-typed block_rq_issue / block_rq_complete tracepoints (CO-RE) */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define MAX_SLOTS 32
#define REQ_OP_MASK 0xff
#define OP_READ 0
#define OP_WRITE 1
#define OP_OTHER 2

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* struct request * */
	__type(value, __u64); /* issue time, ns */
} issued SEC(".maps");

/* [op * MAX_SLOTS + log2(latency in us)] -> count */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3 * MAX_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} latency_us_log2 SEC(".maps");

static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 slot = 0;

#pragma unroll
	for (int i = 0; i < MAX_SLOTS - 1; i++) {
		if (v <= 1)
			break;
		v >>= 1;
		slot++;
	}
	return slot;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(rq_issue, struct request *rq)
{
	__u64 key = (__u64)rq, now = bpf_ktime_get_ns();

	bpf_map_update_elem(&issued, &key, &now, BPF_ANY);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(rq_complete, struct request *rq, int error, unsigned int nr_bytes)
{
	__u64 key = (__u64)rq, *start, *count;
	__u32 op, slot;

	start = bpf_map_lookup_elem(&issued, &key);
	if (!start)
		return 0;
	op = BPF_CORE_READ(rq, cmd_flags) & REQ_OP_MASK;
	op = op == REQ_OP_READ ? OP_READ : op == REQ_OP_WRITE ? OP_WRITE : OP_OTHER;
	slot = op * MAX_SLOTS + log2_slot((bpf_ktime_get_ns() - *start) / 1000);
	count = bpf_map_lookup_elem(&latency_us_log2, &slot);
	if (count)
		(*count)++;
	bpf_map_delete_elem(&issued, &key);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
