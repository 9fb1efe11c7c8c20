"""The VNF catalog: every sub-package of :mod:`alveole.vnf` that exposes ``SPEC``.

Adding a VNF is adding a folder; nothing else registers it. A folder that
fails to import is an error (raised, not skipped): a broken VNF must not
vanish silently from the catalog and from the generic tests.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path

from ..errors import UnknownVnfError
from .spec import VnfSpec

__all__ = ["catalog", "get"]

_PACKAGE = "alveole.vnf"
_ROOT = Path(__file__).resolve().parent


@functools.cache
def _discover() -> tuple[tuple[str, VnfSpec], ...]:
    found = []
    for info in sorted(pkgutil.iter_modules([str(_ROOT)]), key=lambda i: i.name):
        if not info.ispkg or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{_PACKAGE}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, VnfSpec):
            if spec.name != info.name:
                raise ValueError(
                    f"VNF folder {info.name!r} declares SPEC.name {spec.name!r}: they must match"
                )
            found.append((spec.name, spec))
    return tuple(found)


def catalog() -> dict[str, VnfSpec]:
    """Every registered VNF, by name (sorted)."""
    return dict(_discover())


def get(name: str) -> VnfSpec:
    """The spec of VNF ``name``; :class:`UnknownVnfError` names the known ones otherwise."""
    specs = catalog()
    try:
        return specs[name]
    except KeyError:
        raise UnknownVnfError(name, list(specs)) from None
