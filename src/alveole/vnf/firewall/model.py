"""The firewall's reference model: the rules tried one by one, in priority order.

No classifier here: a linear first match over the rules (:func:`.match.first_match`) is
the definition the kernel's decision trees must agree with, packet for packet, and hit
counter for hit counter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..model import Outcome, ReferenceModel
from ..parse import Layer, parse
from ..verdict import Hook, Verdict
from .config import FirewallConfig
from .match import first_match, key_of
from .tables import default_hits, other_counts, rule_hits

if TYPE_CHECKING:
    from ..instance import VnfInstance

__all__ = ["FirewallModel"]

_VERDICT = {"accept": Verdict.CONTINUE, "drop": Verdict.DROP}


class FirewallModel(ReferenceModel):
    """Verdicts and counters of a linear first-match firewall; packets leave unchanged."""

    config: FirewallConfig

    def __init__(self, config: FirewallConfig) -> None:
        super().__init__(config)
        self.hits = [[0, 0] for _ in config.rules]  # per rule, config order
        self.default = [0, 0]
        self.other = {"not_ip": [0, 0], "unparsed": [0, 0]}

    def decide(self, frame: bytes) -> tuple[Verdict, int | None]:
        """The verdict and the index (in ``config.rules``) of the rule that decided, if any."""
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

    def process(self, frame: bytes, hook: Hook) -> Outcome:
        verdict, index = self.decide(frame)
        p = parse(frame)
        if not p.ok:
            slot = self.other["unparsed"]
        elif not p.has(Layer.IP):
            slot = self.other["not_ip"]
        elif index is None:
            slot = self.default
        else:
            slot = self.hits[index]
        slot[0] += 1
        slot[1] += len(frame)
        return Outcome(verdict, frame)

    def state_diff(self, instance: VnfInstance) -> list[str]:
        """Per-rule hits, default hits and the frames the rules never saw."""
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
        return diffs
