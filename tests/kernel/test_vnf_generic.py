"""Every registered VNF, for free: the malformed corpus and generated packets, kernel vs reference model.

Each VNF of the catalog runs, on each of its hooks, over the whole malformed
corpus (default config) and over hypothesis-generated packet sequences with
configs from its own strategy: the kernel's verdict and output bytes must
equal the reference model's, the model's state must match the maps, and no
frame may end in XDP_ABORTED.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alveole.vnf import catalog, compare, get
from alveole.vnf.corpus import corpus
from alveole.vnf.runner import refused_by_test_run
from alveole.vnf.strategies import packets

CASES = [(name, hook) for name, spec in catalog().items() for hook in spec.hooks]


@pytest.mark.parametrize(("name", "hook"), CASES)
def test_vnf_over_the_malformed_corpus(name: str, hook: str) -> None:
    spec = get(name)
    frames = [(c.name, c.frame) for c in corpus()]
    result = compare(spec, frames, hook=hook)
    assert not result.aborted, [str(m) for m in result.aborted[:5]]
    assert result.ok, result.report()
    assert result.refused == sum(refused_by_test_run(f, hook) for _, f in frames)
    assert sum(result.verdicts.values()) == len(frames) - result.refused


@pytest.mark.parametrize(("name", "hook"), CASES)
def test_vnf_agrees_with_its_model_on_generated_packets(name: str, hook: str) -> None:
    spec = get(name)
    configs = spec.config_strategy() if spec.config_strategy else st.just(spec.default_config())

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(config=configs, frames=st.lists(packets(), min_size=1, max_size=12))
    def check(config: object, frames: list[bytes]) -> None:
        result = compare(spec, [(f"frame {i}", f) for i, f in enumerate(frames)], hook=hook, config=config)
        assert not result.aborted, [str(m) for m in result.aborted]
        assert result.ok, result.report()

    check()
