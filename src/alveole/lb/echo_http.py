"""A tiny HTTP server that answers every GET with its own name: a backend for LB labs and tests.

Run inside a backend's namespace::

    ip netns exec alv-lb-backend1 python -m alveole.lb.echo_http --name backend1 --port 80

Each response body is ``NAME\\n``; ``Connection: close`` unless the client asks for
keep-alive (HTTP/1.1), so long-lived connections can be held open through the LB.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["EchoServer", "main"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EchoServer

    def do_GET(self) -> None:
        body = f"{self.server.name}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class EchoServer(ThreadingHTTPServer):
    """Answers GETs with ``name``; IPv6-capable (``address`` '::' listens on both families)."""

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, name: str, address: str = "0.0.0.0", port: int = 80) -> None:
        self.name = name
        self.address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        super().__init__((address, port), _Handler)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--address", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=80)
    args = ap.parse_args(argv)
    server = EchoServer(args.name, args.address, args.port)
    print(f"{args.name} listening on {args.address}:{args.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
