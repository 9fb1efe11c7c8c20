"""The BPF toolchain: clang with a content-addressed cache, and vmlinux.h for CO-RE."""

from __future__ import annotations

import os

from ..bpf.object import BpfObject
from .compile import (
    CompiledObject,
    cache_dir,
    clang_identity,
    compile_bpf,
    parse_diagnostics,
    sdk_include_dir,
)
from .vmlinux import vmlinux_include_dir

__all__ = [
    "CompiledObject",
    "cache_dir",
    "clang_identity",
    "compile_bpf",
    "open_source",
    "parse_diagnostics",
    "sdk_include_dir",
    "vmlinux_include_dir",
]


def open_source(
    source: str | os.PathLike[str], *, name: str | None = None, defines: dict[str, str | int] | None = None
) -> BpfObject:
    """Compile ``source`` (cached) and open the object, ready to configure and load."""
    compiled = compile_bpf(source, defines=defines)
    return BpfObject.open(compiled.path, name=name or os.path.basename(source).split(".")[0])
