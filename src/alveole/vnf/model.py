"""The reference model of a VNF: what the kernel program should do, in plain Python.

A model is built from a config, keeps whatever state the VNF keeps (flows,
buckets, ...) and answers, packet after packet, with an :class:`Outcome`: the
verdict and the bytes the packet leaves with. Fixture tables, the malformed
corpus and the differential tests compare it with the kernel. Models parse
with :func:`alveole.vnf.parse.parse`, the mirror of the C parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .verdict import Hook, Verdict

if TYPE_CHECKING:
    from .instance import VnfInstance

__all__ = ["Outcome", "ReferenceModel"]


@dataclass(frozen=True)
class Outcome:
    """A verdict and the packet's bytes afterwards."""

    verdict: Verdict
    data: bytes


class ReferenceModel:
    """Base class of reference models. Subclasses implement :meth:`process`."""

    def __init__(self, config: Any) -> None:
        self.config = config

    def process(self, frame: bytes, hook: Hook) -> Outcome:
        """The VNF's verdict and output bytes for ``frame``, updating the model's state."""
        raise NotImplementedError

    def state_diff(self, instance: VnfInstance) -> list[str]:
        """Differences between the model's state and the kernel's maps (empty: they agree).

        Stateless VNFs keep the default. Called by the generic tests after a
        run of packets.
        """
        return []
