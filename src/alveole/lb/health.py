"""Health checks of the load balancer's backends, from the LB node's network namespace.

Each VIP with a ``health`` section has its backends probed every ``interval`` seconds:
a TCP connect, or an HTTP GET expecting a 2xx/3xx status, each within ``timeout``.
``fall`` consecutive failures take a backend out of the Maglev table (the ring is
recomputed and only the slots that move are written); ``rise`` consecutive successes
bring it back. Backends start in (assumed healthy), so traffic flows from the start.

Sockets are created inside the namespace (this thread enters it for the ``socket()``
call only: a socket belongs to the namespace it was made in), so probes leave from
the node exactly as its own traffic would.

Existing flows of a backend taken out are not dropped: on their next packet the data
path finds their backend gone and gives them another one (``LB_REPINNED``). For TCP,
the new backend answers with a reset, so clients of a dead backend fail fast instead
of timing out; UDP flows simply move.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..system import netns as _netns
from ..vnf.lb.config import HealthCheck, Vip
from .controller import LoadBalancer

__all__ = ["BackendHealth", "HealthChecker", "Probe", "Target", "probe_http", "probe_tcp"]

Probe = Callable[["Target", str | None], tuple[bool, str]]


@dataclass(frozen=True)
class Target:
    """One backend of one VIP, as the checker sees it."""

    backend_id: int
    vip: str
    address: str
    port: int
    check: HealthCheck


@dataclass
class BackendHealth:
    target: Target
    up: bool = True
    fails: int = 0
    oks: int = 0
    last: str = ""  # outcome of the last probe
    changed_at: float = field(default_factory=time.monotonic)
    next_due: float = 0.0


def _socket(address: str, netns: str | None) -> socket.socket:
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    with _netns.enter(netns):
        return socket.socket(family, socket.SOCK_STREAM)


def probe_tcp(t: Target, netns: str | None) -> tuple[bool, str]:
    """A TCP connect to the backend within the timeout."""
    s = _socket(t.address, netns)
    try:
        s.settimeout(t.check.timeout)
        s.connect((t.address, t.check.port or t.port))
        return True, "connected"
    except OSError as e:
        return False, e.strerror or type(e).__name__
    finally:
        s.close()


def probe_http(t: Target, netns: str | None) -> tuple[bool, str]:
    """An HTTP/1.0 GET of the check's path; 2xx and 3xx statuses are healthy."""
    s = _socket(t.address, netns)
    try:
        s.settimeout(t.check.timeout)
        port = t.check.port or t.port
        s.connect((t.address, port))
        host = f"[{t.address}]" if ":" in t.address else t.address
        s.sendall(f"GET {t.check.path} HTTP/1.0\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        head = b""
        deadline = time.monotonic() + t.check.timeout
        while b"\r\n" not in head and len(head) < 1024 and time.monotonic() < deadline:
            chunk = s.recv(1024)
            if not chunk:
                break
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split()
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            return False, f"not an HTTP response: {line[:60]!r}"
        status = int(parts[1])
        return 200 <= status < 400, f"HTTP {status}"
    except OSError as e:
        return False, e.strerror or type(e).__name__
    finally:
        s.close()


def _default_probe(t: Target, netns: str | None) -> tuple[bool, str]:
    return probe_http(t, netns) if t.check.kind == "http" else probe_tcp(t, netns)


class HealthChecker:
    """Probes the backends of ``lb``'s VIPs and takes them out / brings them back.

    ``netns``: the LB node's namespace (probes leave from there). ``probe`` replaces
    the network probe (tests). ``on_change(health)`` is called after each transition,
    once the kernel runs the new table.
    """

    def __init__(
        self,
        lb: LoadBalancer,
        netns: str | None = None,
        *,
        probe: Probe | None = None,
        on_change: Callable[[BackendHealth], None] | None = None,
    ) -> None:
        self.lb = lb
        self.netns = netns
        self.probe = probe or _default_probe
        self.on_change = on_change
        self.health: dict[int, BackendHealth] = {}
        self.transitions: list[tuple[float, int, bool]] = []  # (monotonic time, backend id, up)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="lb-health")

    def targets(self) -> list[Target]:
        """Every backend of every VIP that has a health check."""
        out = []
        for v in self.lb.config.vips:
            if v.health is None:
                continue
            out += [self._target(v, b) for b in v.backends]
        return out

    @staticmethod
    def _target(v: Vip, b: object) -> Target:
        return Target(v.backend_id(b), str(v), str(b.address), v.backend_port(b), v.health)  # type: ignore[attr-defined, arg-type]

    def _sync_targets(self) -> list[BackendHealth]:
        wanted = {t.backend_id: t for t in self.targets()}
        for bid in list(self.health):
            if bid not in wanted:
                del self.health[bid]
        for bid, t in wanted.items():
            h = self.health.get(bid)
            if h is None:
                self.health[bid] = BackendHealth(t, up=bid not in self.lb.down)
            elif h.target != t:
                h.target = t
        return list(self.health.values())

    def run_once(self, now: float | None = None, *, all_due: bool = False) -> list[BackendHealth]:
        """Probe the backends that are due (all of them with ``all_due``); returns transitions."""
        now = time.monotonic() if now is None else now
        due = [h for h in self._sync_targets() if all_due or h.next_due <= now]
        results = list(self._pool.map(lambda h: self.probe(h.target, self.netns), due))
        changed = []
        for h, (ok, detail) in zip(due, results, strict=True):
            h.last = detail
            h.next_due = now + h.target.check.interval
            if ok:
                h.oks, h.fails = h.oks + 1, 0
                if not h.up and h.oks >= h.target.check.rise:
                    h.up = True
                    changed.append(h)
            else:
                h.fails, h.oks = h.fails + 1, 0
                if h.up and h.fails >= h.target.check.fall:
                    h.up = False
                    changed.append(h)
        for h in changed:
            self.lb.set_down(h.target.backend_id, not h.up)
            h.changed_at = time.monotonic()
            self.transitions.append((h.changed_at, h.target.backend_id, h.up))
            if self.on_change:
                self.on_change(h)
        return changed

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            dues = [h.next_due for h in self.health.values()]
            wait = min(dues) - time.monotonic() if dues else 0.5
            self._stop.wait(max(0.01, min(wait, 0.5)))

    def start(self) -> HealthChecker:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="lb-health-loop", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        self.stop()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> HealthChecker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
