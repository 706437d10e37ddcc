"""SQLite storage for the local server, shaped like the real DynamoDB table."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

Record = dict[str, Any]
"""A score result in wire form: camelCase keys, AWSJSON fields as strings."""


@dataclass(frozen=True)
class Index:
    """A global secondary index of the ScoreResult table."""

    name: str
    partition: str
    sort: tuple[str, ...] = ()

    @property
    def sort_column(self) -> str:
        return f"sk_{self.name}"


INDEXES: tuple[Index, ...] = (
    Index("byTypeStatusUpdated", "type", ("status", "updatedAt")),
    Index("byItemId", "itemId"),
    Index("byItemScorecardScore", "itemId", ("scorecardId", "scoreId")),
    Index(
        "byItemIdAndTypeAndScoreIdAndUpdatedAt",
        "itemId",
        ("type", "scoreId", "updatedAt"),
    ),
    Index("byAccountIdAndUpdatedAt", "accountId", ("updatedAt",)),
    Index("byScoringJobId", "scoringJobId"),
    Index("byEvaluationId", "evaluationId"),
    Index("byScorecardIdAndUpdatedAt", "scorecardId", ("updatedAt",)),
    Index("byScorecardItemAndCreatedAt", "scorecardId", ("itemId", "createdAt")),
    Index("byScorecardScoreItem", "scorecardId", ("scoreId", "itemId")),
    Index("byScoreVersionId", "scoreVersionId"),
    Index("byScoreId", "scoreId"),
)

KEY_SEPARATOR = "#"
"""How Amplify joins the parts of a composite sort key."""

KeyCondition = tuple[str, tuple[str, ...]]
"""A sort key condition: an operator (eq, le, lt, ge, gt, between, beginsWith)
and its operands, already joined into sort key strings."""

_PARTITIONS = tuple(dict.fromkeys(index.partition for index in INDEXES))
_SORTED = tuple(index for index in INDEXES if index.sort)
_COLUMNS = (*_PARTITIONS, *(index.sort_column for index in _SORTED))
_KEY_SQL = {
    "eq": "{sk} = ?",
    "le": "{sk} <= ?",
    "lt": "{sk} < ?",
    "ge": "{sk} >= ?",
    "gt": "{sk} > ?",
    "between": "{sk} BETWEEN ? AND ?",
    # substr rather than LIKE, so that % and _ in keys match literally.
    "beginsWith": "substr({sk}, 1, length(?)) = ?",
}


def sort_key(record: Record, fields: Sequence[str]) -> str | None:
    """
    The composite sort key of `record`, or None when a part is missing.

    A record without every part is absent from the index, as in DynamoDB.
    """
    parts = [record.get(name) for name in fields]
    if not all(isinstance(part, str) for part in parts):
        return None
    return KEY_SEPARATOR.join(parts)  # type: ignore[arg-type]


def _schema_sql() -> str:
    columns = "".join(f',\n  "{column}" TEXT' for column in _COLUMNS)
    statements = [
        "CREATE TABLE IF NOT EXISTS score_results (\n"
        "  seq INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "  id TEXT NOT NULL UNIQUE,\n"
        f"  record TEXT NOT NULL{columns}\n)"
    ]
    for index in INDEXES:
        key = f'"{index.partition}"'
        if index.sort:
            key += f', "{index.sort_column}"'
        statements.append(
            f'CREATE INDEX IF NOT EXISTS "ix_{index.name}" ON score_results ({key}, id)'
        )
    return ";\n".join(statements) + ";"


def _column_values(record: Record) -> list[Any]:
    values: list[Any] = []
    for name in _PARTITIONS:
        value = record.get(name)
        values.append(value if isinstance(value, str) else None)
    values.extend(sort_key(record, index.sort) for index in _SORTED)
    return values


class Store:
    """
    The ScoreResult table in SQLite: one row per record, JSON plus key columns.

    Thread-safe: the server thread writes while tests read from another one.
    """

    def __init__(self, path: str | os.PathLike[str] = ":memory:") -> None:
        self.path = os.fspath(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None
        )
        if self.path != ":memory:":
            # WAL lets a second process (the CLI's `get`, a viewer) read while
            # the server writes.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_schema_sql())

    @contextmanager
    def locked(self) -> Iterator[Store]:
        """Hold the store's lock across a read-check-write sequence."""
        with self._lock:
            yield self

    def get(self, id: str) -> Record | None:
        """The record with this id in wire form, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM score_results WHERE id = ?", (id,)
            ).fetchone()
        return None if row is None else _load(row[0])

    def insert(self, record: Record) -> bool:
        """Add a new record; False when its id already exists."""
        columns = "".join(f', "{column}"' for column in _COLUMNS)
        marks = ", ?" * len(_COLUMNS)
        try:
            with self._lock:
                self._db.execute(
                    f"INSERT INTO score_results (id, record{columns}) "
                    f"VALUES (?, ?{marks})",
                    (record["id"], _dump(record), *_column_values(record)),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def replace(self, record: Record) -> None:
        """Overwrite the stored record that has the same id."""
        assignments = "".join(f', "{column}" = ?' for column in _COLUMNS)
        with self._lock:
            self._db.execute(
                f"UPDATE score_results SET record = ?{assignments} WHERE id = ?",
                (_dump(record), *_column_values(record), record["id"]),
            )

    def delete(self, id: str) -> Record | None:
        """Remove the record with this id and return it, or None."""
        with self._lock:
            record = self.get(id)
            if record is not None:
                self._db.execute("DELETE FROM score_results WHERE id = ?", (id,))
        return record

    def count(self) -> int:
        """How many records are stored."""
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM score_results").fetchone()
        return int(row[0])

    def ids(self) -> list[str]:
        """Every stored id, in insertion order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM score_results ORDER BY seq"
            ).fetchall()
        return [row[0] for row in rows]

    def all(self) -> list[Record]:
        """Every stored record, in insertion order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT record FROM score_results ORDER BY seq"
            ).fetchall()
        return [_load(row[0]) for row in rows]

    def clear(self) -> None:
        """Delete every record."""
        with self._lock:
            self._db.execute("DELETE FROM score_results")

    def close(self) -> None:
        """Close the database; the store cannot be used afterwards."""
        with self._lock:
            self._db.close()

    def scan(self, after: int | None, limit: int) -> list[tuple[int, Record]]:
        """Up to `limit` records in insertion order, after sequence `after`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, record FROM score_results WHERE seq > ? "
                "ORDER BY seq LIMIT ?",
                (after or 0, limit),
            ).fetchall()
        return [(seq, _load(text)) for seq, text in rows]

    def query(
        self,
        index: Index,
        partition: str,
        *,
        conditions: Sequence[KeyCondition] = (),
        descending: bool = False,
        after: tuple[str, str] | None = None,
        limit: int,
    ) -> list[tuple[tuple[str, str], Record]]:
        """
        Up to `limit` records of one index partition in sort key order.

        Each comes with its position `(sort key, id)`, which `after` takes to
        continue past it.
        """
        sk = f'"{index.sort_column}"' if index.sort else "''"
        where = [f'"{index.partition}" = ?']
        params: list[Any] = [partition]
        if index.sort:
            where.append(f"{sk} IS NOT NULL")
        for operator, operands in conditions:
            where.append(_KEY_SQL[operator].format(sk=sk))
            params.extend(operands * 2 if operator == "beginsWith" else operands)
        if after is not None:
            later = "<" if descending else ">"
            where.append(f"({sk} {later} ? OR ({sk} = ? AND id {later} ?))")
            params.extend((after[0], after[0], after[1]))
        order = "DESC" if descending else "ASC"
        sql = (
            f"SELECT {sk}, id, record FROM score_results "
            f"WHERE {' AND '.join(where)} "
            f"ORDER BY {sk} {order}, id {order} LIMIT ?"
        )
        with self._lock:
            rows = self._db.execute(sql, (*params, limit)).fetchall()
        return [((key, id), _load(text)) for key, id, text in rows]


def _dump(record: Record) -> str:
    return json.dumps(record, separators=(",", ":"))


def _load(text: str) -> Record:
    record: Record = json.loads(text)
    return record
