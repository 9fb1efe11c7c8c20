"""clang + the object cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alveole.errors import CompileError
from alveole.toolchain import compile_bpf, vmlinux_include_dir

GOOD = """// SPDX-License-Identifier: GPL-2.0
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "local.h"
SEC("xdp") int xdp_prog(struct xdp_md *ctx) { return VERDICT; }
char LICENSE[] SEC("license") = "GPL";
"""


def _write(tmp: Path, verdict: str = "XDP_PASS") -> Path:
    (tmp / "local.h").write_text(f"#define VERDICT {verdict}\n")
    src = tmp / "prog.bpf.c"
    src.write_text(GOOD)
    return src


def test_warm_compile_is_a_cache_hit(tmp_path: Path) -> None:
    src = _write(tmp_path)
    cold = compile_bpf(src)
    warm = compile_bpf(src)
    assert not cold.cached and warm.cached
    assert warm.path == cold.path
    assert warm.path.read_bytes()[:4] == b"\x7fELF"


def test_changed_header_invalidates_the_cache(tmp_path: Path) -> None:
    src = _write(tmp_path)
    first = compile_bpf(src)
    header = tmp_path / "local.h"
    header.write_text("#define VERDICT XDP_DROP\n")
    os.utime(header, ns=(1, 1))  # even with a stale mtime, the content decides
    second = compile_bpf(src)
    assert not second.cached
    assert second.path != first.path


def test_compile_error_carries_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "broken.bpf.c"
    src.write_text("#include <linux/bpf.h>\n\nint f(void) {\n  return undefined_name;\n}\n")
    with pytest.raises(CompileError) as info:
        compile_bpf(src)
    err = info.value
    assert err.errors, err.output
    first = err.errors[0]
    assert first.file.endswith("broken.bpf.c")
    assert first.line == 4
    assert "undefined_name" in first.message
    assert "broken.bpf.c:4:" in str(err)


def test_vmlinux_header_is_generated_once() -> None:
    first = vmlinux_include_dir()
    assert (first / "vmlinux.h").stat().st_size > 100_000
    assert vmlinux_include_dir() == first
