"""``alveole serve``: the MANO REST API and ``/metrics`` over HTTP (uvicorn)."""

from __future__ import annotations

import typer

from .common import command, console


@command
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on (loopback by default)"),
    port: int = typer.Option(9470, help="TCP port"),
    log_level: str = typer.Option("warning", help="uvicorn log level"),
    ct_gc_interval: float = typer.Option(
        10.0, help="seconds between garbage collections of every pinned conntrack table (0: none)"
    ),
) -> None:
    """Serve the MANO API (SOL005-style paths, /docs) and Prometheus metrics at /metrics.

    Meanwhile, every pinned conntrack table of this host (stateful firewall, NAT, load
    balancer) is garbage-collected periodically.
    """
    import contextlib

    import uvicorn

    from ..agent import Sweeper
    from ..mano.api import create_app

    console.print(f"alveole MANO API on http://{host}:{port} (/docs, /metrics)", highlight=False)
    with Sweeper(ct_gc_interval) if ct_gc_interval > 0 else contextlib.nullcontext():
        uvicorn.run(create_app(), host=host, port=port, log_level=log_level)
