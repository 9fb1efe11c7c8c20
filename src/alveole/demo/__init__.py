"""``alveole demo``: the main job end to end on a lab (see :mod:`.script`)."""

from .script import DEMO_DIR, DemoResult, run, teardown

__all__ = ["DEMO_DIR", "DemoResult", "run", "teardown"]
