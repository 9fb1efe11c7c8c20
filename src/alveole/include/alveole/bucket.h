/* SPDX-License-Identifier: GPL-2.0 */
/*
 * alveole/bucket.h: token buckets that several CPUs update without a lock,
 * and the clock they read. Used by the ddos guard (SYNs per source) and the
 * rate limiter (packets or bytes per key). Mirrored in Python by
 * alveole.vnf.bucket, integer for integer.
 *
 * The bucket
 * ----------
 * A bucket holds up to `burst` units (packets or bytes) and refills at `rate`
 * units per second. It is kept as ONE 64-bit number, tat (the "theoretical
 * arrival time" of GCRA, ITU-T I.371): the time, in ns, at which the bucket
 * will be full again. Tokens are time in disguise:
 *
 *     tokens(now) = burst                         when tat <= now
 *                 = burst - (tat - now) / cost1   otherwise (cost1: ns per unit)
 *
 * A packet of n units conforms when taking them leaves the bucket not below
 * empty, i.e. when the debt after it stays within the burst:
 *
 *     next = max(tat, now) + cost(n);   conforms  <=>  next - now <= burst_ns
 *
 * and only a conforming packet moves tat to next. A new bucket has tat = 0:
 * full.
 *
 * Fixed point, no floats: struct alv_bucket_conf holds cost_fp, the ns one
 * unit costs with 16 fractional bits, and burst_ns = ceil(burst * cost_fp /
 * 2^16). cost(n) = ceil(n * cost_fp / 2^16): rounding up makes the bucket a
 * little strict, never lax (at most 1 ns per packet). In packets mode cost_fp
 * is a whole number of ns (ceil(1e9 / rate) << 16), so a full bucket lets
 * exactly `burst` packets through at once. The Python side computes the conf
 * (alveole.vnf.bucket.bucket_conf) and bounds rate, burst and units so that
 * nothing overflows 64 bits.
 *
 * Several CPUs
 * ------------
 * Because tat is the whole state, one compare-and-swap commits a decision:
 * read tat, decide, cmpxchg(&tat, old, next). If another CPU moved tat in
 * between, the cmpxchg fails and the decision is taken again from the value
 * it moved to, at most ALV_BUCKET_RETRIES times; each failure means another
 * CPU's packet went through, so the loop is short. A packet that loses every
 * round is refused (ALV_BUCKET_CONTENDED: counted apart by the VNFs). No
 * spin lock (a lock would serialize the common, uncontended case through a
 * second cache line) and no per-CPU buckets: per-CPU buckets with rate/N each
 * are wrong for skewed traffic (a flow whose packets all land on one CPU gets
 * 1/N of its rate), and right only when RSS spreads every key evenly.
 *
 * The clock
 * ---------
 * alv_now() reads the clock selected at load by the const volatile alv_clock:
 *   ALV_CLOCK_COARSE   bpf_ktime_get_coarse_ns(): CLOCK_MONOTONIC at clock-tick
 *                      granularity (4 ms at HZ=250), ~3 ns a call here;
 *   ALV_CLOCK_PRECISE  bpf_ktime_get_ns(): CLOCK_MONOTONIC, ~25 ns a call here;
 *   ALV_CLOCK_VIRTUAL  a test clock: the alv_vclock map's counter, advanced by
 *                      alv_clock_step_ns at every reading (atomically). A VNF
 *                      reads the clock once per packet that reaches a bucket,
 *                      so "packets arrive every step ns": fixtures and
 *                      differential tests are deterministic, and the Python
 *                      model counts the same readings.
 * The verifier drops the branches not taken. With the coarse clock, time moves
 * in ticks: within a tick no tokens arrive, at the tick a tick's worth arrive
 * at once. The long-run rate is exact; a burst can exceed `burst` by at most
 * rate * tick.
 */
#ifndef __ALVEOLE_BUCKET_H
#define __ALVEOLE_BUCKET_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef ALV_BUCKET_RETRIES
#define ALV_BUCKET_RETRIES 8 /* compare-and-swap rounds before a packet is refused */
#endif

#define ALV_BUCKET_FP_SHIFT 16
#define ALV_BUCKET_UNITS_MAX (1U << 20) /* units charged per packet are capped (no overflow) */

enum alv_clock {
	ALV_CLOCK_COARSE = 0,
	ALV_CLOCK_PRECISE = 1,
	ALV_CLOCK_VIRTUAL = 2,
};

enum alv_bucket_result {
	ALV_BUCKET_OK = 0,        /* conforms: the units were taken */
	ALV_BUCKET_OVER = 1,      /* over the limit: the bucket is unchanged */
	ALV_BUCKET_CONTENDED = 2, /* lost ALV_BUCKET_RETRIES races for the bucket: refused */
};

struct alv_bucket {
	__u64 tat; /* ns at which the bucket is full again; 0: a new, full bucket */
};

struct alv_bucket_conf {
	__u64 cost_fp;  /* ns per unit << ALV_BUCKET_FP_SHIFT, rounded up */
	__u64 burst_ns; /* the burst as time: ceil(burst * cost_fp >> ALV_BUCKET_FP_SHIFT) */
};

/* the clock buckets read (see above); set before load */
const volatile __u32 alv_clock = ALV_CLOCK_COARSE;
const volatile __u64 alv_clock_step_ns = 1000;

/* the virtual clock's time (ALV_CLOCK_VIRTUAL only) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} alv_vclock SEC(".maps");

static __always_inline __u64 alv_now(void)
{
	if (alv_clock == ALV_CLOCK_VIRTUAL) {
		__u32 zero = 0;
		__u64 *t = bpf_map_lookup_elem(&alv_vclock, &zero);

		if (!t)
			return 0;
		return __sync_fetch_and_add(t, alv_clock_step_ns) + alv_clock_step_ns;
	}
	if (alv_clock == ALV_CLOCK_PRECISE)
		return bpf_ktime_get_ns();
	return bpf_ktime_get_coarse_ns();
}

/* ns that `units` cost, rounded up */
static __always_inline __u64 alv_bucket_cost(const struct alv_bucket_conf *conf, __u64 units)
{
	if (units > ALV_BUCKET_UNITS_MAX)
		units = ALV_BUCKET_UNITS_MAX;
	return (units * conf->cost_fp + (1ULL << ALV_BUCKET_FP_SHIFT) - 1) >> ALV_BUCKET_FP_SHIFT;
}

/* take `cost` ns worth of units from the bucket at `now`: enum alv_bucket_result */
static __always_inline int alv_bucket_take(struct alv_bucket *b, const struct alv_bucket_conf *conf, __u64 now,
					   __u64 cost)
{
	__u64 old, next;
	int i;

	for (i = 0; i < ALV_BUCKET_RETRIES; i++) {
		old = *(volatile __u64 *)&b->tat;
		next = (old > now ? old : now) + cost;
		if (next - now > conf->burst_ns)
			return ALV_BUCKET_OVER;
		if (__sync_val_compare_and_swap(&b->tat, old, next) == old)
			return ALV_BUCKET_OK;
	}
	return ALV_BUCKET_CONTENDED;
}

/*
 * The bucket of `key` in `table` (a hash or LRU hash of struct alv_bucket),
 * created full when absent; NULL only when it cannot be kept (an LRU table
 * far too small evicted it at once). Two CPUs creating the same bucket: one
 * insert wins (BPF_NOEXIST), both then use the winner's.
 */
static __always_inline struct alv_bucket *alv_bucket_get(void *table, const void *key)
{
	struct alv_bucket *b = bpf_map_lookup_elem(table, key);
	struct alv_bucket fresh = {};

	if (b)
		return b;
	bpf_map_update_elem(table, key, &fresh, BPF_NOEXIST);
	b = bpf_map_lookup_elem(table, key);
	/* two inlined callers with different tables: clang would merge this lookup
	 * into one call site whose map is not a constant, which the verifier does
	 * not inline (a slower call); it never merges asm statements */
	asm volatile("" : "+r"(b));
	return b;
}

#endif /* __ALVEOLE_BUCKET_H */
