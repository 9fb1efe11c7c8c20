"""The base of every VNF config: a pydantic model that knows how it reaches the kernel.

A config reaches a loaded VNF in three ways, and a subclass says which by
overriding three methods:

* :meth:`VnfConfig.rodata`: ``const volatile`` globals, fixed at load (the
  verifier prunes code on them, so they are free at run time);
* :meth:`VnfConfig.map_sizes`: ``max_entries`` of maps, fixed at load;
* :meth:`VnfConfig.map_entries`: the desired content of the VNF's config maps,
  one dict per map, applied as a diff (:meth:`alveole.bpf.Map.sync_to`: adds
  and changes before removals, never a clear under traffic) by
  :meth:`VnfConfig.sync`, which a VNF overrides when its update depends on what
  its maps hold (the firewall's double-buffered classifier).

Changing what the first two return needs a new program (a live update);
:meth:`alveole.vnf.VnfInstance.apply` refuses it with
:class:`~alveole.errors.ReloadRequiredError`. The third can change at any time.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic

from ..errors import VnfConfigError

if TYPE_CHECKING:
    from ..bpf import Map

__all__ = ["VnfConfig", "validate_config"]

C = TypeVar("C", bound="VnfConfig")


class VnfConfig(pydantic.BaseModel):
    """Base class of VNF configs: strict (unknown fields are errors), immutable."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    def rodata(self) -> dict[str, Any]:
        """``const volatile`` globals to set before load: name -> value."""
        return {}

    def map_sizes(self) -> dict[str, int]:
        """``max_entries`` to set before load: map name -> size."""
        return {}

    def map_entries(self) -> dict[str, dict[Any, Any]]:
        """Desired content of every config map: map name -> {key: value}.

        Return every config map each time (an empty dict empties it): a map
        left out would keep stale entries.
        """
        return {}

    def sync(self, maps: Mapping[str, Map], only: Set[str] | None = None) -> dict[str, tuple[int, int, int]]:
        """Bring the config maps among ``maps`` (name -> map) to this config; returns
        (added, changed, removed) per map written. ``only``: write just these maps (those
        a loader has just created; the others already hold the config).

        The default writes :meth:`map_entries`, map by map in order, as diffs. A VNF whose
        update depends on what its maps hold (double-buffered tables, stable slots)
        overrides this; it must keep every intermediate state valid for packets in flight.
        """
        return {
            name: maps[name].sync_to(dict(want))
            for name, want in self.map_entries().items()
            if only is None or name in only
        }


def validate_config(vnf: str, model: type[C], value: C | Mapping[str, Any] | None) -> C:
    """``value`` as a ``model`` instance (None: the defaults); errors name the fields."""
    if isinstance(value, model):
        return value
    if isinstance(value, VnfConfig):
        raise VnfConfigError(vnf, [("", f"expected a {model.__name__}, got a {type(value).__name__}")])
    try:
        return model.model_validate(dict(value or {}))
    except pydantic.ValidationError as e:
        raise VnfConfigError(
            vnf, [(".".join(str(p) for p in err["loc"]), err["msg"]) for err in e.errors()]
        ) from None
