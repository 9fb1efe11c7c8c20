"""Real traffic for the demo: an HTTP server and client in lab namespaces, and generated streams.

Sockets belong to the network namespace they were created in, so the server's socket
is made inside the server's namespace and then served from an ordinary thread; each
client request does the same on the client side.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from ..lb.echo_http import EchoServer
from ..system import netns
from ..trafficgen import Generator, SendReport, Template

__all__ = ["HttpResult", "Stream", "http_burst", "serve_http"]


@contextlib.contextmanager
def serve_http(ns: str, name: str, port: int = 80) -> Iterator[EchoServer]:
    """An HTTP server answering every GET with ``name``, listening in namespace ``ns``."""
    with netns.enter(ns):
        server = EchoServer(name, "0.0.0.0", port)
    thread = threading.Thread(target=server.serve_forever, name=f"http-{name}", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)


@dataclass(frozen=True)
class HttpResult:
    ok: int
    failed: int
    errors: tuple[str, ...]  # distinct failure reasons


def http_burst(
    ns: str, host: str, count: int, *, port: int = 80, timeout: float = 1.0, give_up: int = 3
) -> HttpResult:
    """``count`` GETs from namespace ``ns``, one new TCP connection each.

    After ``give_up`` failures in a row the rest count as failed without being tried
    (a blocked path would otherwise cost ``timeout`` per request).
    """
    ok, errors, in_a_row = 0, [], 0
    for _ in range(count):
        if in_a_row >= give_up:
            break
        in_a_row += 1
        with netns.enter(ns):
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
            try:
                conn.connect()  # the socket is created here, in ns
            except OSError as e:
                errors.append(type(e).__name__ if not str(e) else str(e))
                conn.close()
                continue
        try:
            conn.request("GET", "/")
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                ok, in_a_row = ok + 1, 0
        except OSError as e:
            errors.append(str(e) or type(e).__name__)
        finally:
            conn.close()
    return HttpResult(ok, count - ok, tuple(dict.fromkeys(errors)))


class Stream:
    """Generated frames sent from a thread at a steady rate until :meth:`stop`."""

    def __init__(self, ns: str, interface: str, template: Template, *, flows: int, rate: float) -> None:
        self._gen = Generator(interface, template, netns=ns, flows=flows)
        self._rate = rate
        self._stop = threading.Event()
        self._report: SendReport | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="demo-stream", daemon=True)

    def _run(self) -> None:
        try:
            self._report = self._gen.send(rate=self._rate, stop=self._stop)
        except BaseException as e:  # handed to the caller by stop()
            self._error = e

    def __enter__(self) -> Stream:
        self._gen.open()
        self._thread.start()
        return self

    def sent(self) -> int:
        """Frames sent so far (read from the generator's per-CPU counter)."""
        return sum(self._gen.sent_per_cpu())

    def stop(self) -> SendReport:
        self._stop.set()
        self._thread.join()
        self._gen.close()
        if self._error is not None:
            raise self._error
        assert self._report is not None
        return self._report

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()
        self._gen.close()
