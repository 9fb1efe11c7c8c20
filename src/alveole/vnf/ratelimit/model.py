"""The rate limiter's reference model: buckets in a dict, the bucket arithmetic of alveole.vnf.bucket.

With ``clock="virtual"`` the model's clock advances exactly as the kernel's
(one step per keyed packet), so verdicts and every bucket's ``tat`` match to
the nanosecond.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..bucket import BucketResult, Clock, VirtualClock, bucket_conf, cost, take
from ..model import Outcome as ModelOutcome
from ..model import ReferenceModel
from ..parse import Family, Layer, Parsed, parse
from ..verdict import Hook, Verdict
from .config import RatelimitConfig
from .state import BucketKey, Outcome, buckets, outcome_counts

if TYPE_CHECKING:
    from ..instance import VnfInstance

__all__ = ["RatelimitModel"]


class RatelimitModel(ReferenceModel):
    """Keys packets, takes from their bucket, drops (or counts) what is over the limit."""

    config: RatelimitConfig

    def __init__(self, config: RatelimitConfig, clock: Callable[[], int] | None = None) -> None:
        super().__init__(config)
        self.conf = bucket_conf(config.rate, config.burst, config.unit)
        self.clock = clock or config.model_clock()
        self.buckets: dict[BucketKey, int] = {}
        self.counts: dict[Outcome, list[int]] = {o: [0, 0] for o in Outcome}

    def key_of(self, p: Parsed) -> BucketKey:
        src, dst = p.src, p.dst
        assert src is not None and dst is not None
        if self.config.key == "5tuple":
            return BucketKey(src, dst, p.sport, p.dport, p.l4_proto)
        prefix = self.config.src_prefix_v4 if p.family == Family.IPV4 else self.config.src_prefix_v6
        zero = type(src)(0)
        masked = ipaddress.ip_network((src, prefix), strict=False).network_address
        return BucketKey(masked, zero, 0, 0, 0)

    def _count(self, outcome: Outcome, frame: bytes) -> None:
        self.counts[outcome][0] += 1
        self.counts[outcome][1] += len(frame)

    def process(self, frame: bytes, hook: Hook) -> ModelOutcome:
        p = parse(frame)
        if not p.has(Layer.IP):
            self._count(Outcome.UNKEYED, frame)
            return ModelOutcome(Verdict.CONTINUE, frame)
        key = self.key_of(p)
        units = len(frame) if self.config.unit == "bytes" else 1
        result, self.buckets[key] = take(
            self.buckets.get(key, 0), self.conf, self.clock(), cost(self.conf, units)
        )
        if result == BucketResult.OK:
            self._count(Outcome.CONFORMED, frame)
            return ModelOutcome(Verdict.CONTINUE, frame)
        self._count(Outcome.EXCEEDED, frame)
        return ModelOutcome(Verdict.CONTINUE if self.config.over_limit == "continue" else Verdict.DROP, frame)

    def state_diff(self, instance: VnfInstance) -> list[str]:
        """Counters exactly; buckets: the same keys, the same ``tat`` with the virtual clock.

        LRU tables may evict before they are full: keys are compared exactly only while
        the model holds fewer than half ``table_size`` per family.
        """
        diffs = []
        for outcome, counts in outcome_counts(instance).items():
            if list(counts) != self.counts[outcome]:
                diffs.append(f"counts[{outcome.name}]: kernel {list(counts)}, model {self.counts[outcome]}")
        kernel = buckets(instance)
        small = all(
            sum(1 for k in self.buckets if k.src.version == fam) < self.config.table_size // 2
            for fam in (4, 6)
        )
        extra = sorted(map(str, kernel.keys() - self.buckets.keys()))
        missing = sorted(map(str, self.buckets.keys() - kernel.keys())) if small else []
        if extra or missing:
            diffs.append(f"buckets only in the kernel: {extra}, only in the model: {missing}")
        if self.config.clock_id == Clock.VIRTUAL:
            for key, tat in kernel.items():
                if key in self.buckets and self.buckets[key] != tat:
                    diffs.append(f"bucket {key}: kernel tat {tat}, model {self.buckets[key]}")
            if isinstance(self.clock, VirtualClock) and instance.maps["alv_vclock"][0] != self.clock.now:
                diffs.append(
                    f"virtual clock: kernel {instance.maps['alv_vclock'][0]}, model {self.clock.now}"
                )
        return diffs
