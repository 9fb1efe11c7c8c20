"""VNFs as eBPF programs: the framework, the catalog, and one folder per VNF.

A VNF folder ``alveole/vnf/<name>/`` holds ``<name>.bpf.c`` (written against
the C SDK: ``alveole/vnf.h``, ``alveole/parse.h``, ``alveole/csum.h``), a
pydantic config (:class:`VnfConfig`), a reference model
(:class:`ReferenceModel`), a fixture table and ``SPEC = VnfSpec(...)``.
Everything else comes from here::

    >>> from alveole.vnf import VnfInstance, catalog, run_fixtures
    >>> catalog()["flowmon"].hooks
    ('xdp', 'tc')
    >>> with VnfInstance.load("flowmon", "xdp", {"key": ["src"]}) as fm:
    ...     obs = fm.run(frame)             # verdict CONTINUE, bytes, ns
    ...     fm.apply({"key": ["src"], "ignore": ["198.18.0.0/24"]})   # map diffs

See docs/vnf-sdk.md.
"""

from .catalog import catalog, get
from .config import VnfConfig, validate_config
from .instance import Counts, Observation, VnfInstance
from .model import Outcome, ReferenceModel
from .runner import Comparison, FixtureResult, Mismatch, compare, run_fixtures
from .spec import CostCase, CostRow, Fixture, VnfSpec
from .verdict import HOOKS, Hook, Verdict, standalone_action

__all__ = [
    "HOOKS",
    "Comparison",
    "CostCase",
    "CostRow",
    "Counts",
    "Fixture",
    "FixtureResult",
    "Hook",
    "Mismatch",
    "Observation",
    "Outcome",
    "ReferenceModel",
    "Verdict",
    "VnfConfig",
    "VnfInstance",
    "VnfSpec",
    "catalog",
    "compare",
    "get",
    "run_fixtures",
    "standalone_action",
    "validate_config",
]
