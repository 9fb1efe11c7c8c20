"""BPF programs shipped with alveole itself (floors, self-check)."""

from pathlib import Path

PROGS_DIR = Path(__file__).resolve().parent


def path(name: str) -> Path:
    """The source of a bundled program, e.g. ``path("noop")``."""
    p = PROGS_DIR / f"{name}.bpf.c"
    if not p.exists():
        raise FileNotFoundError(f"no bundled BPF program {name!r}")
    return p
