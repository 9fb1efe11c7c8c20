"""One lifecycle operation at a time on a host, and who runs it.

* :class:`HostLock`: an ``flock`` on a file next to the store. Every operation
  (and recovery) changes the kernel while holding it, whichever process it runs
  in (CLI, API server); the kernel releases it when a process dies, even by
  kill -9.
* :func:`identity` / :func:`alive`: an operation occurrence records its owner as
  ``host:pid:start-time``; recovery resolves only occurrences whose owner is
  gone (the start time tells a recycled pid apart).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import LcmBusyError

__all__ = ["HostLock", "alive", "identity"]


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command may contain spaces and parentheses: fields count from the last ')'
    return stat.rsplit(")", 1)[1].split()[19]


def identity(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or '?'}"


def alive(owner: str) -> bool:
    """Is the process that wrote ``owner`` still running? (Another host's: assumed so.)"""
    try:
        host, pid, start = owner.rsplit(":", 2)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True
    return _start_time(int(pid)) == start


class HostLock:
    """An exclusive lock on this host's lifecycle operations (re-entrant within a thread)."""

    def __init__(self, path: str | Path, timeout: float = 120.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._local = threading.local()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LcmBusyError(
                            f"another lifecycle operation holds {self.path} (waited {self.timeout:.0f} s)"
                        ) from None
                    time.sleep(0.02)
            self._local.depth = 1
            try:
                yield
            finally:
                self._local.depth = 0
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
