"""What a VNF folder declares: its :class:`VnfSpec`, its fixtures, its benchmark rows.

A VNF lives in ``alveole/vnf/<name>/`` and exposes ``SPEC = VnfSpec(...)`` from
its ``__init__.py``; :func:`alveole.vnf.catalog` finds it there. See
docs/vnf-sdk.md for the whole recipe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import VnfConfig, validate_config
from .model import ReferenceModel
from .verdict import HOOKS, Hook, Verdict

if TYPE_CHECKING:
    from ..bpf import Program

__all__ = ["CostCase", "CostRow", "Fixture", "VnfSpec"]


def _bytes(packet: Any) -> bytes:
    return packet if isinstance(packet, bytes) else bytes(packet)


@dataclass(frozen=True)
class Fixture:
    """One row of a VNF's fixture table (the Katran model).

    ``packet`` and ``output`` are scapy packets or bytes; ``output=None`` means
    the packet leaves unchanged; ``hooks=None`` means every hook of the VNF.
    Rows with the same ``config`` (None: the VNF's defaults) that follow each
    other run in order on one loaded program and one model, so stateful VNFs
    can express sequences.
    """

    description: str
    packet: Any
    verdict: Verdict
    output: Any = None
    config: VnfConfig | Mapping[str, Any] | None = None
    hooks: tuple[Hook, ...] | None = None

    @property
    def frame(self) -> bytes:
        return _bytes(self.packet)

    @property
    def expected_output(self) -> bytes:
        return self.frame if self.output is None else _bytes(self.output)


@dataclass
class CostCase:
    """A program ready for timing and the frames to cycle through it."""

    program: Program
    frames: list[bytes]
    hook: Hook = "xdp"
    # test_run repeats a frame on what the last repetition left: a VNF that rewrites
    # packets (a TTL, a checksum) caps the repeat so every pass takes the measured path
    max_repeat: int = 0


@dataclass(frozen=True)
class CostRow:
    """One row of ``alveole bench pktcost``: a name and how to set the measurement up.

    ``setup()`` returns a context manager that loads what is needed, fills any
    state (e.g. a flow table at its working size) and yields a :class:`CostCase`;
    leaving it releases everything.
    """

    name: str
    setup: Callable[[], AbstractContextManager[CostCase]]
    note: str = ""


@dataclass(frozen=True)
class VnfSpec:
    """Everything the framework needs to know about one VNF.

    * ``source``: the ``<name>.bpf.c`` file; ``entries``: its entry program per
      hook (the ALV_VNF_XDP/ALV_VNF_TC entry names);
    * ``config``: the pydantic model (a :class:`VnfConfig` subclass);
    * ``model``: the reference model class, built as ``model(config)``;
    * ``fixtures``: returns the fixture table (a function: scapy is imported late);
    * ``config_strategy``: returns a hypothesis strategy of configs for the
      differential tests (None: the default config only);
    * ``cost_rows``: returns the VNF's rows for ``alveole bench pktcost``;
    * ``version``: the program's version; bump it when ``<name>.bpf.c`` changes,
      so that a live update can tell versions apart;
    * ``migrations``: how a new version takes over maps whose definition
      changed (map name -> a function from the old entries to the new ones,
      ``"copy"`` for entries that carry over as they are, e.g. a resized
      table, or ``"drop"``); consumed by the datapath's live update.
    """

    name: str
    summary: str
    source: Path
    entries: Mapping[Hook, str]
    config: type[VnfConfig]
    model: type[ReferenceModel]
    fixtures: Callable[[], list[Fixture]] = list
    config_strategy: Callable[[], Any] | None = None
    cost_rows: Callable[[], list[CostRow]] = list
    maps: tuple[str, ...] = field(default=())  # the VNF's own maps, for `alveole vnf list`
    version: str = "1"
    migrations: Mapping[str, Any] = field(default_factory=dict)
    # maps one instance keeps across hooks when it runs on several (e.g. a NAT's flow tables on
    # an interface's ingress and egress): chain members of one group share them
    shared_maps: tuple[str, ...] = field(default=())

    @property
    def hooks(self) -> tuple[Hook, ...]:
        return tuple(h for h in HOOKS if h in self.entries)

    def entry(self, hook: Hook) -> str:
        try:
            return self.entries[hook]
        except KeyError:
            raise ValueError(
                f"VNF {self.name!r} has no {hook} entry (hooks: {', '.join(self.hooks)})"
            ) from None

    def validate(self, value: VnfConfig | Mapping[str, Any] | None = None) -> VnfConfig:
        """A config of this VNF from a model instance, a mapping, or None (defaults)."""
        return validate_config(self.name, self.config, value)

    def default_config(self) -> VnfConfig:
        return self.validate(None)
