"""Shared test plumbing.

Tiers: tests/unit (no root), tests/kernel (BPF_PROG_TEST_RUN, root), tests/netns
(veth topologies, real traffic), tests/e2e (CLI/API end to end). Tests that need
root or a kernel feature call :func:`require`: it skips on a developer machine
but FAILS when CI=true, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip (or fail under CI=true) when ``condition`` is false."""
    if not condition:
        if CI:
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture
def root() -> None:
    require(os.geteuid() == 0, "needs root (BPF and network namespaces)")


@pytest.fixture
def netns(root: None) -> Iterator[str]:
    """A fresh network namespace named alv-…, removed afterwards (also on failure)."""
    from alveole.system import netns as _netns

    with _netns.scratch("alvt") as name:
        yield name


@pytest.fixture
def veth(netns: str) -> Iterator[tuple[str, str, str]]:
    """A veth pair (alvt0, alvt1) inside a fresh namespace: (netns, end0, end1)."""
    from alveole.system import netns as _netns

    _netns.add_veth(netns, "alvt0", "alvt1", ipv6=False)
    yield netns, "alvt0", "alvt1"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Share one object cache per test session, away from the user's cache."""
    cache = tmp_path_factory.getbasetemp() / "alveole-cache"
    monkeypatch.setenv("ALVEOLE_CACHE_DIR", str(cache))
    from alveole.toolchain import compile as _compile

    _compile.clang_identity.cache_clear()
