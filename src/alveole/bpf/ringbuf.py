"""BPF ring buffers (BPF_MAP_TYPE_RINGBUF) consumed with a Python callback.

Events are decoded through BTF: give the event's type (a codec from
:meth:`BpfObject.type_codec`, or a struct name looked up in the map's BTF), and
the callback receives namedtuples instead of bytes. An exception inside the
callback stops consumption and is re-raised from :meth:`RingBuffer.poll`.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable
from typing import Any

from ..errors import BpfError
from ._libbpf import RINGBUF_SAMPLE_FN, capture, lib
from .btf import BtfKind
from .codec import Codec
from .kinds import MapType
from .map import Map

__all__ = ["RingBuffer"]


class RingBuffer:
    """Consume a ring-buffer map: ``poll(timeout_ms)`` calls ``callback(event)`` per record."""

    def __init__(
        self,
        ring: Map,
        callback: Callable[[Any], object],
        event_type: Codec | str | None = None,
    ) -> None:
        if ring.type != MapType.RINGBUF:
            raise BpfError(f"map {ring.name!r} is not a ring buffer ({ring.type!r})")
        self.map = ring
        self.codec = self._resolve(ring, event_type)
        self._callback = callback
        self._error: BaseException | None = None
        self._sample_cb = RINGBUF_SAMPLE_FN(self._on_sample)  # keep alive as long as self
        with capture() as messages:
            self._ptr = lib.ring_buffer__new(ring.fd, self._sample_cb, None, None)
        if not self._ptr:
            raise BpfError(
                f"cannot create a ring buffer reader on {ring.name!r}", ctypes.get_errno(), messages.text
            )

    @staticmethod
    def _resolve(ring: Map, event_type: Codec | str | None) -> Codec | None:
        if event_type is None or isinstance(event_type, Codec):
            return event_type
        if ring.btf is None:
            raise BpfError(f"map {ring.name!r} has no BTF to find {event_type!r} in")
        name = event_type.removeprefix("struct ").strip()
        return ring.btf.codec(ring.btf.find(name, BtfKind.STRUCT))

    def _on_sample(self, _ctx: int, data: int, size: int) -> int:
        try:
            raw = ctypes.string_at(data, size)
            event = self.codec.decode(raw) if self.codec is not None and size >= self.codec.size else raw
            self._callback(event)
            return 0
        except BaseException as e:
            self._error = e
            return -1

    def _check(self, ret: int, op: str) -> int:
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        if ret < 0 and ret != -4:  # -EINTR: a signal, not an error
            raise BpfError(f"ring buffer {op} on {self.map.name!r} failed", -ret)
        return max(ret, 0)

    def poll(self, timeout_ms: int = 100) -> int:
        """Wait up to ``timeout_ms`` for records; returns how many were consumed."""
        return self._check(lib.ring_buffer__poll(self._require(), timeout_ms), "poll")

    def consume(self) -> int:
        """Consume what is available now without waiting."""
        return self._check(lib.ring_buffer__consume(self._require()), "consume")

    def fileno(self) -> int:
        """An epoll fd that becomes readable when records arrive (for selectors/asyncio)."""
        return lib.ring_buffer__epoll_fd(self._require())

    def _require(self) -> int:
        if not self._ptr:
            raise BpfError("ring buffer reader is closed")
        return self._ptr

    def close(self) -> None:
        if self._ptr:
            lib.ring_buffer__free(self._ptr)
            self._ptr = 0

    def __enter__(self) -> RingBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
