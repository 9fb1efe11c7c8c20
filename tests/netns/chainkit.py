"""Shared pieces of the chain tests: test VNF specs and pin snapshots (the ``dp`` fixture is in conftest)."""

from __future__ import annotations

from pathlib import Path

from alveole.datapath import MemberSpec

PROGS = Path(__file__).resolve().parent.parent / "kernel" / "progs"
CONTINUE, PASS, DROP = 0, 1, 2


def hop(tag: int, *, verdict: int = CONTINUE, mark: int = 1, version: str = "1") -> MemberSpec:
    """The tagging test VNF (tests/kernel/progs/hop.bpf.c)."""
    return MemberSpec(
        "hop",
        version,
        PROGS / "hop.bpf.c",
        {"xdp": "hop_xdp", "tc": "hop_tc"},
        globals={"tag": tag, "verdict": verdict, "mark": mark},
    )


def state(version: int, **kw: object) -> MemberSpec:
    """The stateful test VNF, v1 or v2 (v2 changed its map's value layout)."""
    return MemberSpec("state", str(version), PROGS / f"state_v{version}.bpf.c", {"xdp": "state_xdp"}, **kw)


def pin_tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []
