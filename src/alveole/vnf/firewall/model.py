"""The firewall's reference model: the rules tried one by one, in priority order.

No classifier here: a linear first match over the rules (:func:`.match.first_match`) is
the definition the kernel's decision trees must agree with, packet for packet, and hit
counter for hit counter.

Stateful mode mirrors ``firewall.bpf.c`` step for step on a
:class:`~alveole.conntrack.ConntrackModel`: an ICMP error about a tracked flow is
related, a packet of a tracked flow is established (both accepted, counted apart from the
rules), and a packet the rules accept opens a flow when :func:`opens` says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...conntrack import ConntrackModel, Tuple
from ...conntrack.key import inner_of, is_echo_request, is_icmp_error, tuple_of
from ...conntrack.states import IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, TCP_ACK, TCP_SYN
from ..model import Outcome, ReferenceModel
from ..parse import Layer, Parsed, parse
from ..verdict import Hook, Verdict
from .config import FirewallConfig
from .match import first_match, key_of
from .tables import OTHER_REASONS, default_hits, other_counts, rule_hits

if TYPE_CHECKING:
    from ..instance import VnfInstance

__all__ = ["FirewallModel", "opens"]

_VERDICT = {"accept": Verdict.CONTINUE, "drop": Verdict.DROP}


def opens(p: Parsed, t: Tuple) -> bool:
    """``fw_opens``: whether a packet the rules accepted starts a flow.

    A TCP SYN without ACK (a mid-stream packet creates no state), an ICMP echo request
    (only echoes have a tuple), any other trackable packet.
    """
    if t.key.proto == IPPROTO_TCP:
        return t.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN
    if p.has(Layer.L4) and p.l4_proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
        return is_echo_request(p.family, p.icmp_type)
    return True


class FirewallModel(ReferenceModel):
    """Verdicts and counters of a linear first-match firewall; packets leave unchanged."""

    config: FirewallConfig

    def __init__(self, config: FirewallConfig) -> None:
        super().__init__(config)
        self.hits = [[0, 0] for _ in config.rules]  # per rule, config order
        self.default = [0, 0]
        self.other = {name: [0, 0] for name in OTHER_REASONS}
        self.ct = ConntrackModel()

    def decide(self, frame: bytes) -> tuple[Verdict, int | None]:
        """The rules' verdict and the index (in ``config.rules``) of the rule that decided, if any.

        Stateless: the flow table is not consulted (see :meth:`process`).
        """
        p = parse(frame)
        if not p.ok:
            return Verdict.DROP, None
        if not p.has(Layer.IP):
            return _VERDICT[self.config.non_ip], None
        key = key_of(p)
        assert key is not None
        rank = first_match(self.config.matches, key)
        if rank is None:
            return _VERDICT[self.config.default], None
        index = self.config.ordered[rank]
        return _VERDICT[self.config.rules[index].action], index

    def _count(self, slot: list[int], frame: bytes) -> None:
        slot[0] += 1
        slot[1] += len(frame)

    def process(self, frame: bytes, hook: Hook) -> Outcome:
        p = parse(frame)
        if not p.ok:
            self._count(self.other["unparsed"], frame)
            return Outcome(Verdict.DROP, frame)
        if not p.has(Layer.IP):
            self._count(self.other["not_ip"], frame)
            return Outcome(_VERDICT[self.config.non_ip], frame)
        t = None
        if self.config.stateful:
            if is_icmp_error(p):
                inner = inner_of(p, frame)
                if inner is not None and self.ct.related(inner.tuple) is not None:
                    self._count(self.other["related"], frame)
                    return Outcome(Verdict.CONTINUE, frame)
            t = tuple_of(p, frame)
            if t is not None:
                found = self.ct.lookup(t)
                if found is not None:
                    self.ct.update(found[0], found[1], t, len(frame))
                    self._count(self.other["established"], frame)
                    return Outcome(Verdict.CONTINUE, frame)
        verdict, index = self.decide(frame)
        self._count(self.default if index is None else self.hits[index], frame)
        if verdict == Verdict.CONTINUE and t is not None and opens(p, t):
            self.ct.create(t, len(frame))
        return Outcome(verdict, frame)

    def state_diff(self, instance: VnfInstance) -> list[str]:
        """Per-rule hits, default hits, the frames the rules never saw, and the flow table."""
        diffs = []
        for h in rule_hits(instance, self.config):
            want = self.hits[h.index]
            if [h.packets, h.bytes] != want:
                diffs.append(
                    f"rules.{h.index} ({h.rule.describe()}): kernel hits {[h.packets, h.bytes]}, model {want}"
                )
        got = list(default_hits(instance))
        if got != self.default:
            diffs.append(f"default policy: kernel hits {got}, model {self.default}")
        for name, counts in other_counts(instance).items():
            if list(counts) != self.other[name]:
                diffs.append(f"{name}: kernel {list(counts)}, model {self.other[name]}")
        # exact (every flow, the pressure counters) while the LRU cannot have evicted any
        size = instance.maps["alv_ct4"].max_entries
        diffs += self.ct.state_diff(instance.maps, exact=len(self.ct.entries) < size // 2)
        return diffs
