"""The MANO API with its ``/metrics``, served inside a lab namespace, and one scrape of it.

Inside the node's namespace, 127.0.0.1 is the node's own loopback: the demo serves and
scrapes there, as a Prometheus agent on that node would, and never listens on the host.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
from collections.abc import Callable, Iterator

from ..mano import Lcm
from ..mano.api import create_app
from ..system import netns

__all__ = ["api_server", "scrape"]


@contextlib.contextmanager
def api_server(ns: str, lcm_factory: Callable[[], Lcm], port: int = 9470) -> Iterator[int]:
    """``alveole serve``'s application on 127.0.0.1:``port`` of namespace ``ns``; yields the port."""
    import uvicorn

    app = create_app(lcm_factory=lcm_factory)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))

    def run() -> None:
        with netns.enter(ns):  # uvicorn binds its socket in this thread: in ns
            server.run()

    thread = threading.Thread(target=run, name="demo-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the API server did not start in {ns}")
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def scrape(ns: str, port: int, path: str = "/metrics") -> str:
    with netns.enter(ns):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.connect()
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    finally:
        conn.close()
