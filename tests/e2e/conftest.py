"""Every test of this tier needs root and the BPF kernel features (fails under CI=true otherwise)."""

import pytest


@pytest.fixture(autouse=True)
def _needs_root(root: None) -> None:
    pass
