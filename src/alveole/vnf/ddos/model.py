"""The ddos guard's reference model: the blocklist as a set of prefixes, the SYN buckets as a dict.

The model does not walk the kernel's trie: it asks the plain question ("is the
source inside a listed prefix?"), so a wrong trie shows up as a disagreement.
SYN buckets use :mod:`alveole.vnf.bucket`, the same integer arithmetic as
``alveole/bucket.h``; with ``clock="virtual"`` the model's clock advances
exactly as the kernel's (one step per SYN that reaches a bucket).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..bucket import BucketResult, Clock, VirtualClock, bucket_conf, cost, take
from ..model import Outcome, ReferenceModel
from ..parse import Family, Layer, Parsed, parse
from ..verdict import Hook, Verdict
from .blocklist import Network, normalize
from .config import DdosConfig
from .state import Reason, drop_counts, syn_buckets

if TYPE_CHECKING:
    from ..instance import VnfInstance

__all__ = ["DdosModel", "PrefixSet", "is_syn", "masked"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_SYN, _ACK = 0x02, 0x10
_TCP = 6


class PrefixSet:
    """Prefixes by length: membership in one set lookup per distinct length."""

    def __init__(self, nets: Iterable[Network]) -> None:
        self._by_len: dict[int, dict[int, set[int]]] = {4: {}, 6: {}}
        for n in normalize(nets):
            shift = n.max_prefixlen - n.prefixlen
            self._by_len[n.version].setdefault(n.prefixlen, set()).add(int(n.network_address) >> shift)

    def __contains__(self, address: Address) -> bool:
        width, value = address.max_prefixlen, int(address)
        return any((value >> (width - length)) in s for length, s in self._by_len[address.version].items())


def is_syn(p: Parsed) -> bool:
    """A TCP SYN without ACK whose header the parser read."""
    return p.has(Layer.L4) and p.l4_proto == _TCP and (p.tcp_flags & (_SYN | _ACK)) == _SYN


def masked(address: Address, prefixlen: int) -> Address:
    return ipaddress.ip_network((address, prefixlen), strict=False).network_address


class DdosModel(ReferenceModel):
    """Drops blocked sources and SYNs over their source's rate; everything else continues."""

    config: DdosConfig

    def __init__(self, config: DdosConfig, clock: Callable[[], int] | None = None) -> None:
        super().__init__(config)
        self.blocked = PrefixSet(config.blocklist)
        self.syn = bucket_conf(config.syn_rate, config.syn_burst) if config.syn_rate else None
        self.clock = clock or config.model_clock()
        self.buckets: dict[Address, int] = {}  # masked source -> tat
        self.drops: dict[Reason, list[int]] = {r: [0, 0] for r in Reason}

    def _drop(self, reason: Reason, frame: bytes) -> Outcome:
        self.drops[reason][0] += 1
        self.drops[reason][1] += len(frame)
        return Outcome(Verdict.DROP, frame)

    def process(self, frame: bytes, hook: Hook) -> Outcome:
        p = parse(frame)
        if not p.has(Layer.IP):
            return Outcome(Verdict.CONTINUE, frame)
        src = p.src
        assert src is not None
        if src in self.blocked:
            return self._drop(Reason.BLOCKLIST, frame)
        if self.syn is None or not is_syn(p):
            return Outcome(Verdict.CONTINUE, frame)
        prefix = self.config.syn_prefix_v4 if p.family == Family.IPV4 else self.config.syn_prefix_v6
        key = masked(src, prefix)
        result, self.buckets[key] = take(self.buckets.get(key, 0), self.syn, self.clock(), cost(self.syn, 1))
        if result != BucketResult.OK:
            return self._drop(Reason.SYN_FLOOD, frame)
        return Outcome(Verdict.CONTINUE, frame)

    def state_diff(self, instance: VnfInstance) -> list[str]:
        """Drop counters exactly; SYN buckets: the same sources, the same ``tat`` with the virtual clock.

        LRU tables may evict before they are full: buckets are compared exactly only
        while the model holds fewer than half ``syn_table_size`` per family.
        """
        diffs = []
        for reason, counts in drop_counts(instance).items():
            if list(counts) != self.drops[reason]:
                diffs.append(f"drops[{reason.label}]: kernel {list(counts)}, model {self.drops[reason]}")
        kernel = syn_buckets(instance)
        small = all(
            sum(1 for a in self.buckets if a.version == fam) < self.config.syn_table_size // 2
            for fam in (4, 6)
        )
        virtual = self.config.clock_id == Clock.VIRTUAL
        extra = sorted(map(str, kernel.keys() - self.buckets.keys()))
        missing = sorted(map(str, self.buckets.keys() - kernel.keys())) if small else []
        if extra or missing:
            diffs.append(f"SYN buckets only in the kernel: {extra}, only in the model: {missing}")
        if virtual:
            for addr, tat in kernel.items():
                if addr in self.buckets and self.buckets[addr] != tat:
                    diffs.append(f"SYN bucket {addr}: kernel tat {tat}, model {self.buckets[addr]}")
        if virtual and isinstance(self.clock, VirtualClock):
            now = instance.maps["alv_vclock"][0]
            if now != self.clock.now:
                diffs.append(f"virtual clock: kernel {now}, model {self.clock.now}")
        return diffs
