"""Garbage collection of a conntrack table, from user space.

The datapath deletes a dead entry when a packet meets it; the collector
deletes the ones nobody meets, so that the LRU never has to evict a live flow
to make room for a new one while dead ones sit in the table. An entry is dead
when it has been idle for longer than its state's timeout (``alv_ct_conf``,
the same rule as ``alv_ct_expired``). Deletions are batched; an entry is
re-read just before its batch is deleted and kept if a packet touched it
meanwhile. ``on_expired`` lets a VNF drop what hangs off a flow (a NAT's
reverse binding) before the flow itself goes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..bpf import Map
from ..errors import BpfError, MapKeyError
from .key import Key
from .states import STATE_SLOTS
from .table import TABLES, coarse_now_ns, read_entries

__all__ = ["Collector", "GcResult", "collect", "delete_keys", "is_expired", "timeouts_ns"]

BATCH = 1024


@dataclass(frozen=True)
class GcResult:
    scanned: int
    deleted: int
    seconds: float


def timeouts_ns(conf: Map) -> list[int]:
    """``alv_ct_conf.timeout_ns`` as a list indexed by state."""
    value = conf[0]
    return list(value.timeout_ns)[:STATE_SLOTS]


def is_expired(entry: Any, timeouts: Sequence[int], now: int) -> bool:
    """``alv_ct_expired``: idle for longer than the state's timeout (0: never)."""
    state = entry.state
    timeout = timeouts[state] if state < len(timeouts) else 0
    return bool(timeout) and now > entry.last_ns and now - entry.last_ns > timeout


def delete_keys(m: Map, keys: Sequence[bytes]) -> int:
    """Delete raw ``keys`` from ``m`` in batches; keys already gone are skipped. Returns how many went."""
    done = 0
    for i in range(0, len(keys), BATCH):
        chunk = keys[i : i + BATCH]
        try:
            done += m.delete_batch(b"".join(chunk))
        except (MapKeyError, BpfError):
            # one of them vanished meanwhile (LRU eviction, the datapath): one by one
            for k in chunk:
                try:
                    m.delete(m.key_codec.decode(k))
                    done += 1
                except MapKeyError:
                    pass
    return done


def collect(
    maps: Mapping[str, Map],
    *,
    now: int | None = None,
    on_expired: Callable[[list[tuple[Key, Any]]], None] | None = None,
) -> GcResult:
    """Delete the dead entries of both tables (``alv_ct4``, ``alv_ct6``); record the run in ``alv_ct_gc``.

    ``now`` defaults to the kernel's coarse monotonic clock (tests pass a later
    time to age everything). ``on_expired`` receives the (key, entry) pairs
    about to be deleted.
    """
    start = time.perf_counter()
    now = coarse_now_ns() if now is None else now
    timeouts = timeouts_ns(maps["alv_ct_conf"])
    entries = read_entries(maps)
    dead = [(k, v) for k, v in entries.items() if is_expired(v, timeouts, now)]
    deleted = 0
    for i in range(0, len(dead), BATCH):
        batch = dead[i : i + BATCH]
        # a packet may have touched an entry since the read: keep those
        still = []
        for k, _ in batch:
            cur = maps[k.table].get(k.pack())
            if cur is not None and is_expired(cur, timeouts, now):
                still.append((k, cur))
        if not still:
            continue
        if on_expired is not None:
            on_expired(still)
        for name in TABLES:
            deleted += delete_keys(maps[name], [k.pack() for k, _ in still if k.table == name])
    _record(maps, deleted, now)
    return GcResult(scanned=len(entries), deleted=deleted, seconds=time.perf_counter() - start)


def _record(maps: Mapping[str, Map], deleted: int, now: int) -> None:
    gc = maps.get("alv_ct_gc")
    if gc is None:
        return
    cur = gc[0]
    gc[0] = {"deleted": cur.deleted + deleted, "runs": cur.runs + 1, "last_ns": now}


class Collector:
    """Runs a collection every ``interval`` seconds in a daemon thread until stopped.

    ``run`` is the collection to call (e.g. ``lambda: collect(maps)``, or a
    VNF's own, like the NAT's :func:`alveole.vnf.nat.gc`).
    """

    def __init__(self, run: Callable[[], Any], interval: float = 10.0) -> None:
        self._run = run
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.last: Any = None
        self.error: BaseException | None = None

    def start(self) -> Collector:
        self._thread = threading.Thread(target=self._loop, name="alveole-ct-gc", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.last = self._run()
                self.runs += 1
            except Exception as e:
                self.error = e

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
