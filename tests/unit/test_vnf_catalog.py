"""The VNF catalog, specs and fixture tables, checked without loading anything."""

from __future__ import annotations

import pytest

from alveole.bpf import TcAction, XdpAction
from alveole.errors import UnknownVnfError, VnfConfigError
from alveole.vnf import HOOKS, Verdict, VnfConfig, catalog, get, standalone_action
from alveole.vnf.runner import refused_by_test_run


def test_catalog_discovers_flowmon() -> None:
    specs = catalog()
    assert "flowmon" in specs
    spec = specs["flowmon"]
    assert spec.hooks == ("xdp", "tc") and spec.source.is_file()
    assert spec.entry("xdp") == "flowmon_xdp"


def test_unknown_vnf_names_the_catalog() -> None:
    with pytest.raises(UnknownVnfError, match="flowmon"):
        get("no-such-vnf")


@pytest.mark.parametrize("name", sorted(catalog()))
def test_every_spec_is_complete(name: str) -> None:
    spec = get(name)
    assert spec.summary and spec.hooks and issubclass(spec.config, VnfConfig)
    cfg = spec.default_config()
    assert isinstance(cfg, spec.config)
    spec.model(cfg)  # a model builds from the default config
    rows = spec.fixtures()
    assert rows, f"{name} has no fixtures"
    for row in rows:
        spec.validate(row.config)
        hooks = spec.hooks if row.hooks is None else row.hooks
        assert set(hooks) <= set(spec.hooks)
        for hook in hooks:
            assert not refused_by_test_run(row.frame, hook), (
                f"{row.description}: test_run refuses it on {hook}"
            )
    assert all(r.name.startswith(name) for r in spec.cost_rows())


def test_config_errors_name_the_field() -> None:
    with pytest.raises(VnfConfigError, match=r"table_size: .*greater than or equal to 64"):
        get("flowmon").validate({"table_size": 1})
    with pytest.raises(VnfConfigError, match="colour: Extra inputs are not permitted"):
        get("flowmon").validate({"colour": "blue"})


def test_standalone_actions() -> None:
    assert standalone_action(Verdict.CONTINUE, "xdp") == XdpAction.PASS
    assert standalone_action(Verdict.DROP, "tc") == TcAction.SHOT
    assert standalone_action(Verdict.REDIRECT, "xdp") is None
    assert HOOKS == ("xdp", "tc")
