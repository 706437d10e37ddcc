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

import orjson

Record = dict[str, Any]
"""A score result in wire form: camelCase keys, AWSJSON fields as strings."""


@dataclass(frozen=True)
class Index:
    """A global secondary index of the ScoreResult table."""

    name: str
    partition: str
    sort: tuple[str, ...] = ()


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
# Every field that is part of some key gets a column, holding the field when
# it is a string and NULL otherwise. Composite sort keys are not stored: a
# query builds them from these columns and sorts the partition's rows, so
# that an insert maintains one small index per partition field instead of
# one per index.
_COLUMNS = tuple(
    dict.fromkeys(name for index in INDEXES for name in (index.partition, *index.sort))
)
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


def _sort_key_sql(index: Index) -> str:
    """The index's composite sort key as an SQL expression over the columns."""
    if not index.sort:
        return "''"
    # NULL when any part is NULL (or not a string, which is stored as NULL):
    # a record without every part is absent from the index, as in DynamoDB.
    separator = f" || '{KEY_SEPARATOR}' || "
    return "(" + separator.join(f'"{name}"' for name in index.sort) + ")"


_TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS score_results (\n"
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  id TEXT NOT NULL UNIQUE,\n"
    "  record TEXT NOT NULL"
    + "".join(f',\n  "{column}" TEXT' for column in _COLUMNS)
    + "\n)"
)
# Partial: a record without the field is in no index it partitions, so it
# costs that index nothing; `field = ?` still lets SQLite use it.
_INDEX_SQL = tuple(
    f'CREATE INDEX IF NOT EXISTS "ix_{name}" ON score_results ("{name}") '
    f'WHERE "{name}" IS NOT NULL'
    for name in _PARTITIONS
)
_INSERT_SQL = (
    "INSERT INTO score_results (id, record"
    + "".join(f', "{column}"' for column in _COLUMNS)
    + ") VALUES (?, ?"
    + ", ?" * len(_COLUMNS)
    + ")"
)
_REPLACE_SQL = (
    "UPDATE score_results SET record = ?"
    + "".join(f', "{column}" = ?' for column in _COLUMNS)
    + " WHERE id = ?"
)


def _column_values(record: Record) -> list[Any]:
    get = record.get
    return [value if isinstance(value := get(name), str) else None for name in _COLUMNS]


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
        self._create_schema()

    def _create_schema(self) -> None:
        with self._lock:
            self._db.execute(_TABLE_SQL)
            present = {
                row[1] for row in self._db.execute("PRAGMA table_info(score_results)")
            }
            missing = [column for column in _COLUMNS if column not in present]
            if missing:
                self._upgrade(missing)
            for statement in _INDEX_SQL:
                self._db.execute(statement)

    def _upgrade(self, missing: Sequence[str]) -> None:
        """
        Bring a database written by an earlier version to the current layout.

        Earlier versions stored each composite sort key in its own column with
        its own index: the indexes are dropped (the columns stay, unused), and
        the key columns are added and filled.
        """
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            # Only indexes created by a statement (sql not NULL): not the one
            # behind the UNIQUE constraint.
            names = [
                row[0]
                for row in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index' "
                    "AND tbl_name = 'score_results' AND sql IS NOT NULL"
                )
            ]
            for name in names:
                db.execute(f'DROP INDEX "{name}"')
            for column in missing:
                db.execute(f'ALTER TABLE score_results ADD COLUMN "{column}" TEXT')
            rows = db.execute("SELECT id, record FROM score_results").fetchall()
            db.executemany(
                _REPLACE_SQL,
                [(text, *_column_values(_load(text)), id) for id, text in rows],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """
        Hold the lock and commit the writes made meanwhile together, once.

        Each write still succeeds or fails on its own: a statement that breaks
        a constraint undoes only itself, not the transaction.
        """
        with self._lock:
            if self._db.in_transaction:
                yield self
                return
            self._db.execute("BEGIN")
            try:
                yield self
            finally:
                # SQLite ends the transaction itself after some failures
                # (a full disk, say); there is nothing left to commit then.
                if self._db.in_transaction:
                    self._db.execute("COMMIT")

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
        try:
            with self._lock:
                self._db.execute(
                    _INSERT_SQL, (record["id"], _dump(record), *_column_values(record))
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def replace(self, record: Record) -> None:
        """Overwrite the stored record that has the same id."""
        with self._lock:
            self._db.execute(
                _REPLACE_SQL, (_dump(record), *_column_values(record), record["id"])
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
        sql, params = _query_sql(index, partition, conditions, descending, after)
        with self._lock:
            rows = self._db.execute(sql, (*params, limit)).fetchall()
        return [((key, id), _load(text)) for key, id, text in rows]


def _query_sql(
    index: Index,
    partition: str,
    conditions: Sequence[KeyCondition],
    descending: bool,
    after: tuple[str, str] | None,
) -> tuple[str, list[Any]]:
    """The SELECT behind `Store.query` and its parameters, all but the limit."""
    sk = _sort_key_sql(index)
    # The partition's index finds its rows; SQLite then sorts them by the
    # composite key, which is built from the columns rather than stored.
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
    return sql, params


def _dump(record: Record) -> str:
    try:
        return orjson.dumps(record).decode()
    except TypeError:
        # orjson refuses what json writes as escapes (a lone surrogate from a
        # \ud800 in the request) and integers beyond 64 bits.
        return json.dumps(record, separators=(",", ":"))


def _load(text: str) -> Record:
    record: Record = json.loads(text)
    return record
