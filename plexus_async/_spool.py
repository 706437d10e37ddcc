"""The durable spool: submitted results on disk until they settle.

One SQLite database in WAL mode per process. A row is written before `submit`
returns and deleted once its result settles; on start, a client recovers the
rows an earlier process left behind. An advisory lock on a side file keeps a
second process out (the lock dies with its process, even on SIGKILL).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import orjson

from ._config import SPOOL_COMPACT_EVERY
from ._errors import ConfigurationError

logger = logging.getLogger("plexus_async")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    input TEXT NOT NULL,
    added REAL NOT NULL
)
"""

_INSERT = "INSERT INTO spool (id, kind, input, added) VALUES (?, ?, ?, ?)"


class SpoolLocked(ConfigurationError):
    """Another process is using this spool file."""


@dataclass(frozen=True)
class SpoolRow:
    """One unsettled create or update, as written."""

    seq: int
    id: str
    kind: str
    input: dict[str, Any]


class _Batch:
    """Rows that go to disk in one transaction, and who waits for them."""

    __slots__ = ("done", "error", "rows", "seqs")

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, dict[str, Any]]] = []
        self.seqs: list[int] = []
        self.error: Exception | None = None
        self.done = anyio.Event()


class Spool:
    """A process-exclusive SQLite spool of unsettled results."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        _refuse_foreign(self.path)
        self._lock_file = _acquire_process_lock(self.path)
        self._deleted = 0
        self._forming: _Batch | None = None
        self._writing = False
        self.salvaged: list[SpoolRow] | None = None
        """Rows read back from a damaged file that was set aside, if any."""
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            self._db = self._replace_damaged(exc)

    # -- opening --------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            # NORMAL survives a killed process; only a power cut may lose the
            # last transactions, which is the trade WAL mode documents.
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute(_SCHEMA)
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            db.execute("SELECT count(*) FROM spool").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def _replace_damaged(self, exc: sqlite3.DatabaseError) -> sqlite3.Connection:
        rows = salvage(self.path)
        aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                source.rename(f"{aside}{suffix}")
        logger.error(
            "spool %s is damaged (%s): moved it to %s and recovered %d readable row(s)",
            self.path,
            exc,
            aside,
            len(rows),
        )
        db = self._open()
        with self._lock:
            db.executemany(
                _INSERT,
                [(r.id, r.kind, json.dumps(r.input), time.time()) for r in rows],
            )
        self.salvaged = rows
        return db

    # -- rows -----------------------------------------------------------

    def add(self, id: str, kind: str, input: dict[str, Any]) -> int:
        """Write one row durably; return its sequence number."""
        [seq] = self.add_many([(id, kind, input)])
        return seq

    def add_many(self, rows: list[tuple[str, str, dict[str, Any]]]) -> list[int]:
        """Write rows durably in one transaction; return their sequence numbers."""
        now = time.time()
        seqs: list[int] = []
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for id, kind, input in rows:
                    cursor = self._db.execute(
                        _INSERT, (id, kind, orjson.dumps(input).decode(), now)
                    )
                    assert cursor.lastrowid is not None
                    seqs.append(cursor.lastrowid)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return seqs

    async def write(self, id: str, kind: str, input: dict[str, Any]) -> int:
        """Write one row off the event loop and return its sequence number.

        Rows that arrive while a write is under way share the next
        transaction, so concurrent submits pay for one thread hand-off, not
        one each.
        """
        batch = self._forming
        if batch is None:
            batch = self._forming = _Batch()
        index = len(batch.rows)
        batch.rows.append((id, kind, input))
        if self._writing:
            await batch.done.wait()
        else:
            self._writing = True
            try:
                while self._forming is not None:
                    current, self._forming = self._forming, None
                    with anyio.CancelScope(shield=True):
                        try:
                            current.seqs = await anyio.to_thread.run_sync(
                                self.add_many, current.rows
                            )
                        except Exception as exc:
                            current.error = exc
                    current.done.set()
            finally:
                self._writing = False
        if batch.error is not None:
            raise batch.error
        return batch.seqs[index]

    def done(self, seqs: Iterable[int]) -> None:
        """Forget settled rows; compact now and then."""
        params = [(seq,) for seq in seqs]
        if not params:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM spool WHERE seq = ?", params)
            self._db.execute("COMMIT")
            self._deleted += len(params)
            if self._deleted >= SPOOL_COMPACT_EVERY:
                self._deleted = 0
                self._compact()

    def _compact(self) -> None:
        # Settled rows are deleted as they settle, so the table is small here
        # and rewriting it is cheap; no auto-vacuum, which would make a
        # truncated file unreadable as a whole.
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def pending(self) -> list[SpoolRow]:
        """Every unsettled row, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, id, kind, input FROM spool ORDER BY seq"
            ).fetchall()
        return [
            SpoolRow(seq, id, kind, json.loads(text)) for seq, id, kind, text in rows
        ]

    def count(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM spool").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._compact()
            self._db.close()
        self._lock_file.close()


class NotASpool(ConfigurationError):
    """The file at a spool path holds something else."""


_SQLITE_HEADER = b"SQLite format 3\x00"


def _refuse_foreign(path: Path) -> None:
    """Raise `NotASpool` unless `path` is absent, empty, or may be a spool.

    A damaged spool still starts with SQLite's header and has no foreign
    tables; anything else is someone else's file and is left alone.
    """
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb") as file:
        header = file.read(len(_SQLITE_HEADER))
    if header != _SQLITE_HEADER:
        raise NotASpool(f"{path} is not a SQLite file, so not a spool; not touching it")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {
                name
                for (name,) in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                )
            }
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return  # Damaged: the spool's own recovery takes it from here.
    foreign = tables - {"spool", "sqlite_sequence"}
    if foreign:
        names = ", ".join(sorted(foreign))
        raise NotASpool(
            f"{path} is a SQLite database with other tables ({names}), not a "
            "spool; not touching it"
        )


@dataclass(frozen=True)
class SpoolStatus:
    """What a spool file holds, read without changing it."""

    creates: int
    updates: int
    damaged: str | None = None
    """Why the file could not be read whole, if it could not."""

    @property
    def pending(self) -> int:
        return self.creates + self.updates


def inspect(path: Path) -> SpoolStatus:
    """Count a spool's unsettled rows without changing the file or taking its
    lock (it may be in use)."""
    _refuse_foreign(path)
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            counts = dict(
                db.execute("SELECT kind, count(*) FROM spool GROUP BY kind").fetchall()
            )
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        rows = salvage(path)
        creates = sum(1 for row in rows if row.kind == "create")
        return SpoolStatus(creates, len(rows) - creates, damaged=str(exc))
    return SpoolStatus(counts.get("create", 0), counts.get("update", 0))


def salvage(path: Path) -> list[SpoolRow]:
    """Read whatever rows can still be read from a damaged spool file.

    Walks the table in `seq` order; where a stretch is unreadable it probes
    further ahead in growing steps, so the readable rows past it are found too.
    """
    query = "SELECT seq, id, kind, input FROM spool WHERE seq > ? ORDER BY seq LIMIT 1"
    rows: list[SpoolRow] = []
    data = bytearray(path.read_bytes())
    if len(data) < 100 or not data.startswith(b"SQLite format 3\x00"):
        return rows
    # A truncated file still claims its old size in the header, which makes
    # SQLite refuse all of it; a copy that claims what is there reads fine
    # up to the missing pages. Bytes 18-19 = 1 open it without the WAL.
    page_size = int.from_bytes(data[16:18], "big") or 65_536
    data[28:32] = (len(data) // page_size).to_bytes(4, "big")
    data[18:20] = b"\x01\x01"
    copy = path.with_name(f"{path.name}.salvage")
    copy.write_bytes(bytes(data))
    try:
        db = sqlite3.connect(copy)
    except sqlite3.Error:
        copy.unlink()
        return rows
    try:
        after, step = 0, 0
        while step < 2**40:
            try:
                found = db.execute(query, (after + step,)).fetchone()
            except sqlite3.Error:
                step = step * 2 or 1
                continue
            if found is None:
                break
            seq, id, kind, text = found
            with contextlib.suppress(ValueError):
                rows.append(SpoolRow(seq, id, kind, json.loads(text)))
            after, step = seq, 0
    finally:
        db.close()
        copy.unlink()
    return rows


_LOCK_FILES: weakref.WeakSet[Any] = weakref.WeakSet()


def _close_inherited_locks() -> None:
    # A forked child shares its parent's lock; closing the child's copy keeps
    # the lock with the parent alone, so it ends when the parent ends.
    for handle in list(_LOCK_FILES):
        handle.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_locks)


def _acquire_process_lock(path: Path) -> Any:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(f"{path}.lock", "a+", encoding="utf-8")  # noqa: SIM115 - held open
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise SpoolLocked(
            f"spool {path} is in use by {owner}; each process needs a spool file "
            "of its own (for example spool-<worker id>.db with a worker id that a "
            "restarted worker keeps, so it picks up what its predecessor left)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"process {os.getpid()}")
    handle.flush()
    _LOCK_FILES.add(handle)
    return handle
