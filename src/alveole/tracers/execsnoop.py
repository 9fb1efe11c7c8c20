"""execsnoop: every execve() on the host as a typed event (tracepoint syscalls/sys_enter_execve)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bpf import BpfObject, Link, RingBuffer
from ..toolchain import open_source

__all__ = ["ExecEvent", "ExecSnoop"]

SOURCE = Path(__file__).with_name("execsnoop.bpf.c")


@dataclass(frozen=True)
class ExecEvent:
    pid: int
    ppid: int
    uid: int
    comm: str
    filename: str


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


class ExecSnoop:
    """Attach the tracer; ``poll()`` hands :class:`ExecEvent` objects to the callback."""

    def __init__(self, callback: Callable[[ExecEvent], Any]) -> None:
        self._callback = callback
        self.obj: BpfObject = open_source(SOURCE)
        try:
            self.obj.load()
            self.link: Link = self.obj.program("trace_execve").attach_tracepoint(
                "syscalls", "sys_enter_execve"
            )
            self.ring = RingBuffer(self.obj.map("exec_events"), self._on_event, "exec_event")
        except BaseException:
            self.obj.close()
            raise

    def _on_event(self, e: Any) -> None:
        self._callback(ExecEvent(e.pid, e.ppid, e.uid, _text(e.comm), _text(e.filename)))

    def poll(self, timeout_ms: int = 100) -> int:
        return self.ring.poll(timeout_ms)

    def close(self) -> None:
        self.ring.close()
        self.link.close()
        self.obj.close()

    def __enter__(self) -> ExecSnoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
