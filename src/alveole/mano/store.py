"""Where MANO keeps its state: onboarded descriptors, NS and VNF instances, operation occurrences.

:class:`Store` is the interface (an etcd store can come later); :class:`SqliteStore`
is the one used by default, a file at ``$ALVEOLE_MANO_DB`` or
``$ALVEOLE_STATE_DIR/mano/mano.db`` (``/var/lib/alveole/mano/mano.db``). Each
resource is kept as its JSON document plus the columns queries need. An operation
occurrence also keeps the NS instance as it was before the operation and as the
operation wants it (``before`` / ``target``): rollback and crash recovery work
from these two snapshots.

``transaction()`` groups writes (``BEGIN IMMEDIATE``: one writer at a time, also
across processes); outside one, each statement is its own transaction. Each thread
keeps one connection (WAL, ``synchronous=NORMAL``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from .descriptors import Nsd, Vnfd
from .models import NsInstance, OpOcc, OpState, VnfInstance

__all__ = ["SqliteStore", "Store", "default_db_path"]


def default_db_path() -> Path:
    if os.environ.get("ALVEOLE_MANO_DB"):
        return Path(os.environ["ALVEOLE_MANO_DB"])
    return Path(os.environ.get("ALVEOLE_STATE_DIR", "/var/lib/alveole")) / "mano" / "mano.db"


class Store(Protocol):
    """MANO's persistent state."""

    def transaction(self) -> contextlib.AbstractContextManager[None]: ...

    def put_vnfd(self, vnfd: Vnfd, onboarded: dt.datetime) -> None: ...
    def get_vnfd(self, vnfd_id: str) -> tuple[Vnfd, dt.datetime] | None: ...
    def list_vnfds(self) -> list[tuple[Vnfd, dt.datetime]]: ...
    def delete_vnfd(self, vnfd_id: str) -> None: ...

    def put_nsd(self, nsd: Nsd, onboarded: dt.datetime) -> None: ...
    def get_nsd(self, nsd_id: str) -> tuple[Nsd, dt.datetime] | None: ...
    def list_nsds(self) -> list[tuple[Nsd, dt.datetime]]: ...
    def delete_nsd(self, nsd_id: str) -> None: ...

    def put_ns(self, ns: NsInstance) -> None: ...
    def get_ns(self, ns_id: str) -> NsInstance | None: ...
    def find_ns(self, name: str) -> NsInstance | None: ...
    def list_ns(self) -> list[NsInstance]: ...
    def delete_ns(self, ns_id: str) -> None: ...
    def list_vnf_instances(self, ns_id: str | None = None) -> list[tuple[str, VnfInstance]]: ...

    def put_op(
        self, occ: OpOcc, before: NsInstance | None = None, target: NsInstance | None = None
    ) -> None: ...
    def get_op(self, occ_id: str) -> OpOcc | None: ...
    def op_snapshots(self, occ_id: str) -> tuple[NsInstance, NsInstance]: ...
    def list_ops(self, ns_id: str | None = None, states: Iterable[OpState] | None = None) -> list[OpOcc]: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS vnfd (
    id TEXT PRIMARY KEY, product TEXT NOT NULL, version TEXT NOT NULL, doc TEXT NOT NULL,
    onboarded TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nsd (id TEXT PRIMARY KEY, doc TEXT NOT NULL, onboarded TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ns_instance (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, nsd_id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vnf_instance (
    id TEXT PRIMARY KEY, ns_id TEXT NOT NULL, profile TEXT NOT NULL, vnfd_id TEXT NOT NULL,
    doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS vnf_instance_ns ON vnf_instance (ns_id);
CREATE TABLE IF NOT EXISTS op_occ (
    id TEXT PRIMARY KEY, ns_id TEXT NOT NULL, operation TEXT NOT NULL, state TEXT NOT NULL,
    started TEXT NOT NULL, doc TEXT NOT NULL, before TEXT, target TEXT);
CREATE INDEX IF NOT EXISTS op_occ_ns ON op_occ (ns_id, started);
CREATE INDEX IF NOT EXISTS op_occ_state ON op_occ (state);
"""


class SqliteStore:
    """The SQLite :class:`Store` (WAL, safe to share between processes on one host)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn().executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    # --- connections and transactions ----------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (kept: opening and closing one costs more than most queries)."""
        db = getattr(self._local, "conn", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = db
            self._local.depth = 0
        return db

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "conn", None)
        if db is not None:
            db.close()
            self._local.conn = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        db = self._conn()
        if self._local.depth:  # nested: part of the outer one
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        db.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")
        finally:
            self._local.depth = 0

    def _rows(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        return self._conn().execute(sql, args).fetchall()

    def _exec(self, sql: str, args: tuple[object, ...] = ()) -> None:
        self._conn().execute(sql, args)

    # --- descriptors ----------------------------------------------------------------------------
    def put_vnfd(self, vnfd: Vnfd, onboarded: dt.datetime) -> None:
        self._exec(
            "INSERT OR REPLACE INTO vnfd VALUES (?, ?, ?, ?, ?)",
            (
                vnfd.vnfdId,
                vnfd.vnfProductName,
                vnfd.vnfSoftwareVersion,
                vnfd.model_dump_json(by_alias=True),
                onboarded.isoformat(),
            ),
        )

    def get_vnfd(self, vnfd_id: str) -> tuple[Vnfd, dt.datetime] | None:
        rows = self._rows("SELECT doc, onboarded FROM vnfd WHERE id = ?", (vnfd_id,))
        return (Vnfd.model_validate_json(rows[0][0]), dt.datetime.fromisoformat(rows[0][1])) if rows else None  # type: ignore[arg-type]

    def list_vnfds(self) -> list[tuple[Vnfd, dt.datetime]]:
        return [
            (Vnfd.model_validate_json(doc), dt.datetime.fromisoformat(t))  # type: ignore[arg-type]
            for doc, t in self._rows("SELECT doc, onboarded FROM vnfd ORDER BY id")
        ]

    def delete_vnfd(self, vnfd_id: str) -> None:
        self._exec("DELETE FROM vnfd WHERE id = ?", (vnfd_id,))

    def put_nsd(self, nsd: Nsd, onboarded: dt.datetime) -> None:
        self._exec(
            "INSERT OR REPLACE INTO nsd VALUES (?, ?, ?)",
            (nsd.nsdId, nsd.model_dump_json(by_alias=True), onboarded.isoformat()),
        )

    def get_nsd(self, nsd_id: str) -> tuple[Nsd, dt.datetime] | None:
        rows = self._rows("SELECT doc, onboarded FROM nsd WHERE id = ?", (nsd_id,))
        return (Nsd.model_validate_json(rows[0][0]), dt.datetime.fromisoformat(rows[0][1])) if rows else None  # type: ignore[arg-type]

    def list_nsds(self) -> list[tuple[Nsd, dt.datetime]]:
        return [
            (Nsd.model_validate_json(doc), dt.datetime.fromisoformat(t))  # type: ignore[arg-type]
            for doc, t in self._rows("SELECT doc, onboarded FROM nsd ORDER BY id")
        ]

    def delete_nsd(self, nsd_id: str) -> None:
        self._exec("DELETE FROM nsd WHERE id = ?", (nsd_id,))

    # --- instances ------------------------------------------------------------------------------
    def put_ns(self, ns: NsInstance) -> None:
        with self.transaction():
            self._exec(
                "INSERT OR REPLACE INTO ns_instance VALUES (?, ?, ?, ?)",
                (ns.id, ns.nsInstanceName, ns.nsdId, ns.model_dump_json()),
            )
            self._exec("DELETE FROM vnf_instance WHERE ns_id = ?", (ns.id,))
            for v in ns.vnfInstances:
                self._exec(
                    "INSERT INTO vnf_instance VALUES (?, ?, ?, ?, ?)",
                    (v.vnfInstanceId, ns.id, v.vnfProfileId, v.vnfdId, v.model_dump_json()),
                )

    def get_ns(self, ns_id: str) -> NsInstance | None:
        rows = self._rows("SELECT doc FROM ns_instance WHERE id = ?", (ns_id,))
        return NsInstance.model_validate_json(rows[0][0]) if rows else None  # type: ignore[arg-type]

    def find_ns(self, name: str) -> NsInstance | None:
        rows = self._rows("SELECT doc FROM ns_instance WHERE name = ?", (name,))
        return NsInstance.model_validate_json(rows[0][0]) if rows else None  # type: ignore[arg-type]

    def list_ns(self) -> list[NsInstance]:
        return [
            NsInstance.model_validate_json(d)
            for (d,) in self._rows("SELECT doc FROM ns_instance ORDER BY name")
        ]  # type: ignore[arg-type]

    def delete_ns(self, ns_id: str) -> None:
        with self.transaction():
            self._exec("DELETE FROM vnf_instance WHERE ns_id = ?", (ns_id,))
            self._exec("DELETE FROM ns_instance WHERE id = ?", (ns_id,))

    def list_vnf_instances(self, ns_id: str | None = None) -> list[tuple[str, VnfInstance]]:
        if ns_id is None:
            rows = self._rows("SELECT ns_id, doc FROM vnf_instance ORDER BY ns_id, profile")
        else:
            rows = self._rows(
                "SELECT ns_id, doc FROM vnf_instance WHERE ns_id = ? ORDER BY profile", (ns_id,)
            )
        return [(str(n), VnfInstance.model_validate_json(d)) for n, d in rows]  # type: ignore[arg-type]

    # --- operation occurrences ------------------------------------------------------------------
    def put_op(self, occ: OpOcc, before: NsInstance | None = None, target: NsInstance | None = None) -> None:
        self._exec(
            "INSERT INTO op_occ VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "state = excluded.state, doc = excluded.doc, "
            "before = COALESCE(excluded.before, op_occ.before), "
            "target = COALESCE(excluded.target, op_occ.target)",
            (
                occ.id,
                occ.nsInstanceId,
                occ.lcmOperationType.value,
                occ.operationState.value,
                occ.startTime.isoformat(),
                occ.model_dump_json(),
                before.model_dump_json() if before is not None else None,
                target.model_dump_json() if target is not None else None,
            ),
        )

    def get_op(self, occ_id: str) -> OpOcc | None:
        rows = self._rows("SELECT doc FROM op_occ WHERE id = ?", (occ_id,))
        return OpOcc.model_validate_json(rows[0][0]) if rows else None  # type: ignore[arg-type]

    def op_snapshots(self, occ_id: str) -> tuple[NsInstance, NsInstance]:
        rows = self._rows("SELECT before, target FROM op_occ WHERE id = ?", (occ_id,))
        if not rows or rows[0][0] is None or rows[0][1] is None:
            raise KeyError(occ_id)
        return NsInstance.model_validate_json(rows[0][0]), NsInstance.model_validate_json(rows[0][1])  # type: ignore[arg-type]

    def list_ops(self, ns_id: str | None = None, states: Iterable[OpState] | None = None) -> list[OpOcc]:
        sql, args = "SELECT doc FROM op_occ", []
        where = []
        if ns_id is not None:
            where.append("ns_id = ?")
            args.append(ns_id)
        if states is not None:
            wanted = [OpState(s).value for s in states]
            where.append(f"state IN ({', '.join('?' * len(wanted))})")
            args += wanted
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started, id"
        return [OpOcc.model_validate_json(d) for (d,) in self._rows(sql, tuple(args))]  # type: ignore[arg-type]
