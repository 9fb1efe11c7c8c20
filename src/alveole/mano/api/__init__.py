"""The MANO REST API (FastAPI): SOL005-inspired paths, one router per resource, ``/metrics``.

uvicorn "alveole.mano.api:create_app" --factory     # or: alveole serve
"""

from .app import create_app
from .deps import get_lcm

__all__ = ["create_app", "get_lcm"]
