"""flowmon's reference model: the flow tables as Python dicts, from the reference parser."""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING

from ..model import Outcome, ReferenceModel
from ..parse import Frag, Layer, Parsed, ParseStatus, parse
from ..verdict import Hook, Verdict
from .config import FlowmonConfig, prefix_key
from .flows import FlowKey, OtherReason, other_counts, read_flows

if TYPE_CHECKING:
    from ..instance import VnfInstance

__all__ = ["FlowmonModel"]

_ICMP = (1, 58)


class FlowmonModel(ReferenceModel):
    """Flows keyed as flowmon.bpf.c keys them; every packet continues unchanged."""

    config: FlowmonConfig

    def __init__(self, config: FlowmonConfig) -> None:
        super().__init__(config)
        self.flows: dict[FlowKey, list[int]] = {}  # packets, bytes, tcp_flags
        self.other: dict[OtherReason, list[int]] = {r: [0, 0] for r in OtherReason}
        self._ignore = [prefix_key(n) for n in config.ignore]

    def key_of(self, p: Parsed) -> FlowKey:
        fields = set(self.config.key)
        cls = ipaddress.IPv4Address if p.family == 4 else ipaddress.IPv6Address
        raw_src, raw_dst = (p.saddr[12:], p.daddr[12:]) if p.family == 4 else (p.saddr, p.daddr)
        zero = bytes(len(raw_src))
        dport = (p.icmp_type << 8 | p.icmp_code) if p.l4_proto in _ICMP else p.dport
        return FlowKey(
            family=int(p.family),
            src=cls(raw_src if "src" in fields else zero),
            dst=cls(raw_dst if "dst" in fields else zero),
            proto=p.l4_proto if "proto" in fields else 0,
            sport=p.sport if "sport" in fields else 0,
            dport=dport if "dport" in fields else 0,
            vlan=p.vlan_id[0] if "vlan" in fields else 0,
            later_fragment=bool(p.frag & Frag.LATER),
        )

    def _ignored(self, p: Parsed) -> bool:
        # the kernel looks the 16-byte forms up in one LPM trie: same here
        src, dst = ipaddress.IPv6Address(p.saddr), ipaddress.IPv6Address(p.daddr)
        return any(src in net or dst in net for net in self._ignore)

    def process(self, frame: bytes, hook: Hook) -> Outcome:
        p = parse(frame)
        if p.status != ParseStatus.OK:
            self._count_other(OtherReason.UNPARSED, len(frame))
        elif not p.has(Layer.IP):
            self._count_other(OtherReason.NOT_IP, len(frame))
        elif self._ignored(p):
            self._count_other(OtherReason.IGNORED, len(frame))
        else:
            slot = self.flows.setdefault(self.key_of(p), [0, 0, 0])
            slot[0] += 1
            slot[1] += len(frame)
            slot[2] |= p.tcp_flags
        return Outcome(Verdict.CONTINUE, frame)

    def _count_other(self, reason: OtherReason, length: int) -> None:
        self.other[reason][0] += 1
        self.other[reason][1] += length

    def state_diff(self, instance: VnfInstance) -> list[str]:
        """Flows (packets, bytes, TCP flags, sane timestamps) and "other" counters.

        LRU tables may evict before they are full (per-CPU free lists), so the
        comparison is exact only while the model holds fewer flows per family
        than half the table; beyond, every kernel flow must still be a model
        flow with no more traffic than the model saw.
        """
        diffs: list[str] = []
        now = time.monotonic_ns()
        kernel = {f.key: f for f in read_flows(instance)}
        exact = all(
            sum(1 for k in self.flows if k.family == fam) < self.config.table_size // 2 for fam in (4, 6)
        )
        for key, f in kernel.items():
            want = self.flows.get(key)
            if want is None:
                diffs.append(f"kernel flow {key} not in the model")
                continue
            got = [f.packets, f.bytes, f.tcp_flags]
            if (exact and got != want) or (not exact and (got[0] > want[0] or got[1] > want[1])):
                diffs.append(f"flow {key}: kernel packets/bytes/flags {got}, model {want}")
            if not 0 < f.first_seen_ns <= f.last_seen_ns <= now:
                diffs.append(f"flow {key}: timestamps {f.first_seen_ns}..{f.last_seen_ns} (now {now})")
        if exact:
            diffs += [f"model flow {key} not in the kernel" for key in self.flows.keys() - kernel.keys()]
        for reason, counts in other_counts(instance).items():
            if list(counts) != self.other[reason]:
                diffs.append(f"other[{reason.name}]: kernel {list(counts)}, model {self.other[reason]}")
        return diffs
