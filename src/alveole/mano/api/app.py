"""The FastAPI application: routers, problem details, ``/metrics`` (Prometheus/OpenMetrics)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from ... import __version__
from ..lcm import Lcm
from ..metrics import ManoCollector
from . import ns_instances, nsd, op_occs, vnf_packages
from .problems import install_handlers

__all__ = ["create_app"]


def create_app(lcm: Lcm | None = None, *, lcm_factory: Callable[[], Lcm] | None = None) -> FastAPI:
    """The API over ``lcm`` (default: ``Lcm.open()`` at start-up, which recovers interrupted operations)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "lcm", None) is None:
            app.state.lcm = (lcm_factory or Lcm.open)()
        yield

    app = FastAPI(
        title="alveole MANO",
        version=__version__,
        description="VNF packages, NS descriptors, NS instances and their lifecycle operations (ETSI SOL005 "
        "inspired), Prometheus metrics at /metrics.",
        lifespan=lifespan,
    )
    app.state.lcm = lcm
    install_handlers(app)
    for r in (vnf_packages.router, nsd.router, ns_instances.router, op_occs.router):
        app.include_router(r)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(ManoCollector(lambda: app.state.lcm))
    app.state.registry = registry

    @app.get("/metrics", tags=["metrics"])
    def metrics(request: Request) -> Response:
        """Prometheus text format, or OpenMetrics when the scraper asks for it (Accept)."""
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(registry), media_type=content_type)

    return app
