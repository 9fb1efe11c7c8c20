"""Every test of this tier needs root and the BPF kernel features (fails under CI=true otherwise)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from alveole.datapath import Datapath, raw_resolver


@pytest.fixture(autouse=True)
def _needs_root(root: None) -> None:
    pass


@pytest.fixture
def dp(tmp_path: Path, root: None) -> Iterator[Datapath]:
    """A datapath with its own bpffs root and state dir, removed afterwards."""
    bpffs = Path(f"/sys/fs/bpf/alvtest-{os.getpid()}-{secrets.token_hex(3)}")
    state_dir = tmp_path / "state"
    saved = {k: os.environ.get(k) for k in ("ALVEOLE_BPFFS_ROOT", "ALVEOLE_STATE_DIR")}
    os.environ["ALVEOLE_BPFFS_ROOT"], os.environ["ALVEOLE_STATE_DIR"] = str(bpffs), str(tmp_path)
    d = Datapath(raw_resolver, bpffs=bpffs, state=state_dir)
    try:
        yield d
    finally:
        for chain in list(d._chains.values()):
            with contextlib.suppress(Exception):
                chain.delete()
        d.close()
        shutil.rmtree(bpffs, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
