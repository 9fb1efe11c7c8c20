"""Compile ``*.bpf.c`` into BPF objects with clang, through a content-addressed cache.

The cache works like ccache's direct mode: a first key hashes the compiler
identity, the flags and the source; its manifest lists the headers the last
compile read (from clang's ``-MD`` output) with their hashes. A warm compile
re-checks those headers (by stat, then by content when the stat changed) and
returns the cached object without running clang: a few milliseconds.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CompileError, Diagnostic, MissingKernelFeatureError

__all__ = [
    "CompiledObject",
    "cache_dir",
    "clang_identity",
    "compile_bpf",
    "parse_diagnostics",
    "sdk_include_dir",
]

_DIAG = re.compile(
    r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>fatal error|error|warning|note): "
    r"(?P<msg>.*)$",
    re.M,
)
_ARCH = {"x86_64": "x86", "aarch64": "arm64", "arm64": "arm64", "s390x": "s390", "ppc64le": "powerpc"}


@dataclass(frozen=True)
class CompiledObject:
    """A compiled BPF object in the cache."""

    path: Path
    source: Path
    cached: bool  # True when no compiler ran
    seconds: float
    warnings: list[Diagnostic] = field(default_factory=list)

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()


def cache_dir() -> Path:
    base = os.environ.get("ALVEOLE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "alveole"
    )
    return Path(base)


def sdk_include_dir() -> Path:
    """The alveole SDK headers (``#include <alveole/...>``)."""
    return Path(__file__).resolve().parent.parent / "include"


def _clang() -> str:
    path = shutil.which(os.environ.get("ALVEOLE_CLANG", "clang"))
    if not path:
        raise MissingKernelFeatureError("clang (the BPF compiler)", "apt install clang llvm")
    return path


@functools.cache
def clang_identity() -> str:
    """clang's path and version line, remembered across processes by the binary's stat."""
    clang = os.path.realpath(_clang())
    st = os.stat(clang)
    stamp = f"{clang}:{st.st_size}:{st.st_mtime_ns}"
    memo = cache_dir() / "clang-identity.json"
    try:
        data = json.loads(memo.read_text())
        if data.get("stamp") == stamp:
            return data["identity"]
    except (OSError, ValueError, KeyError):
        pass
    out = subprocess.run([clang, "--version"], capture_output=True, text=True, check=True).stdout
    identity = f"{clang} {out.splitlines()[0] if out else '?'}"
    _atomic_write(memo, json.dumps({"stamp": stamp, "identity": identity}).encode())
    return identity


def _base_flags(include_dirs: list[Path], defines: dict[str, str | int]) -> list[str]:
    machine = platform.machine()
    flags = [
        "-O2",
        "-g",
        "-target",
        "bpf",
        "-mcpu=v3",
        "-Wall",
        "-Wno-unused-function",
        f"-D__TARGET_ARCH_{_ARCH.get(machine, machine)}",
    ]
    multiarch = Path(f"/usr/include/{machine}-linux-gnu")
    if multiarch.is_dir():
        flags.append(f"-I{multiarch}")
    flags.append(f"-I{sdk_include_dir()}")
    flags += [f"-I{d}" for d in include_dirs]
    flags += [f"-D{k}={v}" for k, v in sorted(defines.items())]
    return flags


def parse_diagnostics(output: str) -> list[Diagnostic]:
    return [
        Diagnostic(m["file"], int(m["line"]), int(m["col"]), m["sev"], m["msg"])
        for m in _DIAG.finditer(output)
    ]


def compile_bpf(
    source: str | os.PathLike[str],
    *,
    include_dirs: list[str | os.PathLike[str]] | None = None,
    defines: dict[str, str | int] | None = None,
    use_cache: bool = True,
) -> CompiledObject:
    """Compile ``source`` to a BPF object (cached); raises :class:`CompileError` with diagnostics."""
    t0 = time.perf_counter()
    src = Path(source).resolve()
    if not src.is_file():
        raise FileNotFoundError(f"no BPF source at {src}")
    text = src.read_bytes()
    incs = [Path(d).resolve() for d in include_dirs or []]
    if b"vmlinux.h" in text:
        from .vmlinux import vmlinux_include_dir

        incs.append(vmlinux_include_dir())
    flags = _base_flags(incs, defines or {})
    primary = _sha(clang_identity().encode(), "\0".join(flags).encode(), str(src).encode(), text)
    objects = cache_dir() / "objects"
    manifest_path = objects / f"{primary}.manifest.json"
    if use_cache:
        hit = _manifest_lookup(manifest_path, objects)
        if hit is not None:
            obj, warnings = hit
            return CompiledObject(obj, src, True, time.perf_counter() - t0, warnings)

    objects.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=objects, prefix=".build-") as tmp:
        out = Path(tmp) / "out.o"
        dep = Path(tmp) / "out.d"
        cmd = [_clang(), *flags, "-MD", "-MF", str(dep), "-c", str(src), "-o", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        diagnostics = parse_diagnostics(proc.stderr)
        if proc.returncode != 0:
            raise CompileError(str(src), diagnostics, proc.stderr)
        deps = _read_depfile(dep, src)
        dep_hashes = {str(p): _file_stamp(p) for p in deps}
        digest = _sha(
            primary.encode(), json.dumps(sorted((k, v["sha"]) for k, v in dep_hashes.items())).encode()
        )
        final = objects / f"{digest}.o"
        os.replace(out, final)
    warnings = [d for d in diagnostics if d.severity == "warning"]
    entry = {"object": final.name, "deps": dep_hashes, "warnings": [d.__dict__ for d in warnings]}
    _manifest_store(manifest_path, entry)
    return CompiledObject(final, src, False, time.perf_counter() - t0, warnings)


# --- cache internals -------------------------------------------------------------------


def _sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()[:40]


def _file_stamp(path: Path) -> dict[str, object]:
    st = path.stat()
    return {"size": st.st_size, "mtime": st.st_mtime_ns, "sha": hashlib.sha256(path.read_bytes()).hexdigest()}


def _dep_unchanged(path: str, stamp: dict[str, object]) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    if st.st_size == stamp["size"] and st.st_mtime_ns == stamp["mtime"]:
        return True
    if st.st_size != stamp["size"]:
        return False
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() == stamp["sha"]


def _manifest_lookup(manifest: Path, objects: Path) -> tuple[Path, list[Diagnostic]] | None:
    try:
        entries = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    for entry in entries:
        obj = objects / entry["object"]
        if obj.exists() and all(_dep_unchanged(p, s) for p, s in entry["deps"].items()):
            return obj, [Diagnostic(**d) for d in entry.get("warnings", [])]
    return None


def _manifest_store(manifest: Path, entry: dict[str, object]) -> None:
    try:
        entries = json.loads(manifest.read_text())
    except (OSError, ValueError):
        entries = []
    entries = [*[e for e in entries if e.get("object") != entry["object"]][-7:], entry]
    _atomic_write(manifest, json.dumps(entries).encode())


def _read_depfile(dep: Path, src: Path) -> list[Path]:
    text = dep.read_text().replace("\\\n", " ")
    _, _, rest = text.partition(":")
    paths = []
    for tok in rest.split():
        p = Path(tok)
        if p.resolve() != src and p.exists():
            paths.append(p.resolve())
    return sorted(set(paths))


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
