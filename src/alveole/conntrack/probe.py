"""ctprobe: the conntrack core alone, as a VNF spec the framework can drive.

``ctprobe.bpf.c`` tracks every packet and tells, through its verdict, what
conntrack made of it (see the C file); :class:`CtProbeModel` predicts the
same from :class:`~alveole.conntrack.model.ConntrackModel`. The spec is not in
the VNF catalog (it is a test harness, not a network function): tests pass
it to :func:`alveole.vnf.compare` and :func:`alveole.vnf.run_fixtures`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from ..vnf.config import VnfConfig
from ..vnf.model import Outcome, ReferenceModel
from ..vnf.parse import Layer, ParseStatus, parse
from ..vnf.spec import VnfSpec
from ..vnf.verdict import Hook, Verdict
from .key import inner_of, is_icmp_error, tuple_of
from .model import ConntrackModel
from .states import Timeouts

if TYPE_CHECKING:
    from ..vnf.instance import VnfInstance

__all__ = ["SPEC", "CtProbeConfig", "CtProbeModel"]

SOURCE = Path(__file__).with_name("ctprobe.bpf.c")


class CtProbeConfig(VnfConfig):
    table_size: int = Field(4096, ge=16, le=1 << 22)
    timeouts: Timeouts = Timeouts()

    def map_sizes(self) -> dict[str, int]:
        return {"alv_ct4": self.table_size, "alv_ct6": self.table_size}

    def map_entries(self) -> dict[str, dict[Any, Any]]:
        return {"alv_ct_conf": self.timeouts.conf_entry()}


class CtProbeModel(ReferenceModel):
    """What ctprobe answers, packet after packet."""

    config: CtProbeConfig

    def __init__(self, config: CtProbeConfig) -> None:
        super().__init__(config)
        self.ct = ConntrackModel()

    def process(self, frame: bytes, hook: Hook) -> Outcome:
        p = parse(frame)
        if p.status != ParseStatus.OK or not p.has(Layer.IP):
            return Outcome(Verdict.DROP, frame)
        if is_icmp_error(p):
            inner = inner_of(p, frame)
            found = inner is not None and self.ct.related(inner.tuple) is not None
            return Outcome(Verdict.CONTINUE if found else Verdict.DROP, frame)
        t = tuple_of(p, frame)
        if t is None:
            self.ct._count("untracked")
            return Outcome(Verdict.DROP, frame)
        got = self.ct.track(t, len(frame))
        if got == "new":
            return Outcome(Verdict.PASS, frame)
        return Outcome(Verdict.DROP if got is None else Verdict.CONTINUE, frame)

    def state_diff(self, instance: VnfInstance) -> list[str]:
        exact = len(self.ct.entries) < self.config.table_size // 2
        return self.ct.state_diff(instance.maps, exact=exact)


SPEC = VnfSpec(
    name="ctprobe",
    summary="the conntrack core alone: tracks every packet (a test harness, not in the catalog)",
    source=SOURCE,
    entries={"xdp": "ctprobe_xdp", "tc": "ctprobe_tc"},
    config=CtProbeConfig,
    model=CtProbeModel,
    maps=("alv_ct4", "alv_ct6", "alv_ct_conf", "alv_ct_stats", "alv_ct_gc"),
)
