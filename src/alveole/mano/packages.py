"""From a VNFD and a config to what the datapath runs (a :class:`~alveole.datapath.MemberSpec`).

* catalog programs: :func:`alveole.datapath.catalog.member_for` validates the config
  with the VNF's own pydantic model and builds the member (globals, map sizes,
  map entries, fixture-table probe); the VNFD adds its version, its defaults and
  its map migrations;
* source programs: the VNFD's ``configurableProperties.properties`` are the
  config schema; each property sets a ``const volatile`` global or a map's
  ``max_entries``.

Every catalog VNF is also a **built-in VNFD** (``vnfdId`` = its name), so an NSD
can use ``vnfdId: flowmon`` without onboarding anything.

``mapMigrations`` values: ``copy`` (entries carry over unchanged: a resized
table), ``drop`` (discard on purpose), or ``package.module:function`` (a
function from the old entries to the new ones, see :mod:`alveole.datapath.compat`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic

from .. import __version__
from ..datapath import COPY, DROP, MemberSpec
from ..datapath.compat import Migration
from ..errors import AlveoleError, VnfConfigError
from .descriptors import ConfigurableProperties, Program, Vnfd, pydantic_errors
from .errors import DescriptorError

__all__ = [
    "BUILTIN_PROVIDER",
    "builtin_vnfds",
    "check_vnfd",
    "config_schema",
    "effective_config",
    "load_migration",
    "member_spec",
    "merge_patch",
]

BUILTIN_PROVIDER = "alveole"


def _catalog() -> dict[str, Any]:
    from ..vnf.catalog import catalog

    return catalog()


def builtin_vnfds() -> dict[str, Vnfd]:
    """One VNFD per catalog VNF, ``vnfdId`` = the VNF's name."""
    out = {}
    for name, spec in _catalog().items():
        hooks = (["xdp"] if "xdp" in spec.entries else []) + (
            ["tc-ingress", "tc-egress"] if "tc" in spec.entries else []
        )
        out[name] = Vnfd(
            vnfdId=name,
            vnfProvider=BUILTIN_PROVIDER,
            vnfProductName=name,
            vnfSoftwareVersion=str(getattr(spec, "version", __version__)),
            description=spec.summary,
            program=Program(catalog=name),
            supportedHooks=hooks,
            configurableProperties=ConfigurableProperties(),
        )
    return out


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge key by key, ``null`` removes a key, the rest replaces."""
    if not isinstance(patch, Mapping):
        return patch
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def effective_config(vnfd: Vnfd, config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The VNFD's defaults with ``config`` merged over them (JSON merge patch)."""
    return merge_patch(dict(vnfd.configurableProperties.defaults), dict(config or {}))


@functools.cache
def _source_model(props_json: str, name: str) -> type[pydantic.BaseModel]:
    props = ConfigurableProperties.model_validate_json(props_json).properties
    fields: dict[str, Any] = {}
    for key, p in props.items():
        if p.type == "boolean":
            fields[key] = (bool, pydantic.Field(p.default, strict=True, description=p.description))
        else:
            fields[key] = (
                int,
                pydantic.Field(p.default, strict=True, ge=p.minimum, le=p.maximum, description=p.description),
            )
    return pydantic.create_model(  # type: ignore[call-overload,no-any-return]
        f"{name}_config", __config__=pydantic.ConfigDict(extra="forbid", title=f"{name} config"), **fields
    )


def config_model(vnfd: Vnfd) -> type[pydantic.BaseModel]:
    """The pydantic model of a VNFD's config (the catalog VNF's, or one built from its properties)."""
    if vnfd.program.catalog is not None:
        return _catalog_spec(vnfd.program.catalog).config  # type: ignore[no-any-return]
    return _source_model(vnfd.configurableProperties.model_dump_json(by_alias=True), vnfd.vnfProductName)


def config_schema(vnfd: Vnfd) -> dict[str, Any]:
    """The JSON Schema of the VNF's config."""
    return config_model(vnfd).model_json_schema()


def _catalog_spec(name: str) -> Any:
    from ..vnf.catalog import get

    return get(name)


def load_migration(ref: str) -> Migration | str:
    """``copy`` / ``drop`` as they are; ``package.module:function`` imported."""
    if ref in (COPY, DROP):
        return ref
    module, _, func = ref.partition(":")
    try:
        fn = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as e:
        raise LookupError(f"cannot import {ref}: {e}") from None
    if not callable(fn):
        raise LookupError(f"{ref} is not a function")
    return fn  # type: ignore[no-any-return]


def _migrations(vnfd: Vnfd, what: str) -> dict[str, Migration | str]:
    out, errors = {}, []
    for name, ref in vnfd.mapMigrations.items():
        try:
            out[name] = load_migration(ref)
        except LookupError as e:
            errors.append((f"mapMigrations.{name}", str(e)))
    if errors:
        raise DescriptorError(what, errors)
    return out


def member_spec(
    vnfd: Vnfd, config: Mapping[str, Any] | None = None, *, what: str = "config", where: str = "config"
) -> MemberSpec:
    """The datapath member that runs ``vnfd`` with ``config`` (over its defaults).

    Errors are :class:`DescriptorError` about ``what``, their paths under ``where``.
    """
    cfg = effective_config(vnfd, config)
    migrations = _migrations(vnfd, what)
    if vnfd.program.catalog is not None:
        from ..datapath.catalog import member_for

        try:
            base = member_for(vnfd.program.catalog, cfg)
        except VnfConfigError as e:
            raise DescriptorError(
                what, [(f"{where}.{loc}" if loc else where, msg) for loc, msg in e.errors]
            ) from None
        except LookupError as e:
            raise DescriptorError(what, [("program.catalog", str(e))]) from None
        return dataclasses.replace(
            base,
            vnf=vnfd.vnfProductName,
            version=vnfd.vnfSoftwareVersion,
            migrations={**base.migrations, **migrations},
        )
    model = config_model(vnfd)
    try:
        valid = model.model_validate(cfg)
    except pydantic.ValidationError as e:
        raise DescriptorError(what, pydantic_errors(e, model, where)) from None
    values = valid.model_dump()
    props = vnfd.configurableProperties.properties
    globals_ = {p.global_ or key: int(values[key]) for key, p in props.items() if p.mapSize is None}
    sizes = {p.mapSize: int(values[key]) for key, p in props.items() if p.mapSize is not None}
    assert vnfd.program.source is not None
    return MemberSpec(
        vnf=vnfd.vnfProductName,
        version=vnfd.vnfSoftwareVersion,
        source=Path(vnfd.program.source),
        entries=dict(vnfd.program.entries),
        globals=globals_,
        map_sizes=sizes,  # type: ignore[arg-type]
        migrations=migrations,
        config=values,
    )


def check_vnfd(vnfd: Vnfd) -> None:
    """Everything about a VNFD that needs the world: its program exists, has the entry points,
    globals and maps it names; its hooks are the program's; its defaults validate."""
    what = f"VNFD {vnfd.vnfdId!r}"
    errors: list[tuple[str, str]] = []
    if vnfd.program.catalog is not None:
        known = _catalog()
        spec = known.get(vnfd.program.catalog)
        if spec is None:
            raise DescriptorError(
                what,
                [
                    (
                        "program.catalog",
                        f"no VNF {vnfd.program.catalog!r} in the catalog (have: {', '.join(known)})",
                    )
                ],
            )
        for i, hook in enumerate(vnfd.supportedHooks):
            kind = "xdp" if hook == "xdp" else "tc"
            if kind not in spec.entries:
                errors.append((f"supportedHooks[{i}]", f"{spec.name} has no {kind} entry point"))
    else:
        errors += _inspect_source(vnfd)
    if errors:
        raise DescriptorError(what, errors)
    member_spec(vnfd, {}, what=what, where="configurableProperties.defaults")


def _inspect_source(vnfd: Vnfd) -> list[tuple[str, str]]:
    from ..bpf import BpfObject
    from ..toolchain import compile_bpf

    assert vnfd.program.source is not None
    try:
        obj = BpfObject.open(compile_bpf(vnfd.program.source).path, name=vnfd.vnfProductName)
    except AlveoleError as e:
        return [("program.source", str(e))]
    errors = []
    try:
        for kind, entry in vnfd.program.entries.items():
            if entry not in obj.programs:
                errors.append(
                    (
                        f"program.entries.{kind}",
                        f"no program {entry!r} in the object (has: {', '.join(obj.programs)})",
                    )
                )
        for key, p in vnfd.configurableProperties.properties.items():
            where = f"configurableProperties.properties.{key}"
            if p.mapSize is not None and p.mapSize not in obj.maps:
                errors.append((f"{where}.mapSize", f"no map {p.mapSize!r} in the object"))
            elif p.mapSize is None and (p.global_ or key) not in obj.globals:
                errors.append((where, f"no global {(p.global_ or key)!r} in the object (const volatile)"))
        if "alv_stats" not in obj.maps:
            errors.append(("program.source", "not built on <alveole/vnf.h> (no alv_stats map)"))
    finally:
        obj.close()
    return errors
