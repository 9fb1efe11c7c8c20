"""JSON Schemas of the descriptors (``alveole vnfd schema``, ``alveole nsd schema``, docs/schemas/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .descriptors import Nsd, Vnfd

__all__ = ["nsd_schema", "vnfd_schema", "write_schemas"]

_ID = "https://alveole.invalid/schemas/{}.schema.json"


def _schema(model: type[Vnfd] | type[Nsd], name: str, title: str) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": _ID.format(name),
        **schema,
        "title": title,
    }


def vnfd_schema() -> dict[str, Any]:
    return _schema(Vnfd, "vnfd", "alveole VNF descriptor (VNFD)")


def nsd_schema() -> dict[str, Any]:
    return _schema(Nsd, "nsd", "alveole NS descriptor (NSD)")


def write_schemas(folder: Path) -> list[Path]:
    """Write vnfd.schema.json and nsd.schema.json into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, schema in (("vnfd", vnfd_schema()), ("nsd", nsd_schema())):
        path = folder / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        out.append(path)
    return out
