"""``alveole serve``: the MANO REST API and ``/metrics`` over HTTP (uvicorn)."""

from __future__ import annotations

import typer

from .common import command, console


@command
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on (loopback by default)"),
    port: int = typer.Option(9470, help="TCP port"),
    log_level: str = typer.Option("warning", help="uvicorn log level"),
) -> None:
    """Serve the MANO API (SOL005-style paths, /docs) and Prometheus metrics at /metrics."""
    import uvicorn

    from ..mano.api import create_app

    console.print(f"alveole MANO API on http://{host}:{port} (/docs, /metrics)", highlight=False)
    uvicorn.run(create_app(), host=host, port=port, log_level=log_level)
