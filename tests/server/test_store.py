"""The SQLite store directly, and the server run from a file database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from plexus_async.server import LocalPlexusServer, Store
from plexus_async.server._store import INDEXES, Index, _query_sql

from .helpers import CREATE, GET, aliased_creates, score_input


def record(**fields: object) -> dict[str, object]:
    return {**score_input(), "createdAt": "2026-01-01T00:00:00.000Z", **fields}


def test_store_basics() -> None:
    store = Store()
    first, second = record(), record()

    assert store.insert(first)
    assert store.insert(second)
    assert not store.insert({**first, "value": "No"})
    store.replace({**first, "value": "Maybe"})

    assert store.count() == 2
    assert store.ids() == [first["id"], second["id"]]
    assert store.get(first["id"]) == {**first, "value": "Maybe"}
    assert store.get("missing") is None
    assert store.delete(second["id"]) == second
    assert store.all() == [{**first, "value": "Maybe"}]
    store.clear()
    assert store.count() == 0
    store.close()


def test_file_store_persists_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "plexus.db"
    given = record()
    store = Store(path)
    store.insert(given)
    store.close()

    reopened = Store(path)
    try:
        mode = reopened._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        assert reopened.get(given["id"]) == given
    finally:
        reopened.close()


def test_store_can_be_read_from_another_thread_while_writing() -> None:
    store = Store()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(300):
                store.insert(record())
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    while writer.is_alive():
        store.count()
        store.ids()
    writer.join()

    assert errors == []
    assert store.count() == 300
    store.close()


async def test_concurrent_requests_all_commit(
    server: LocalPlexusServer, api_key: str
) -> None:
    document = aliased_creates(5)
    batches = [[score_input() for _ in range(5)] for _ in range(20)]

    async with httpx.AsyncClient(headers={"x-api-key": api_key}) as http:
        responses = await asyncio.gather(
            *(
                http.post(
                    server.url,
                    json={
                        "query": document,
                        "variables": {f"i{n}": i for n, i in enumerate(batch)},
                    },
                )
                for batch in batches
            )
        )

    assert all("errors" not in response.json() for response in responses)
    assert server.store.count() == 100


def test_server_over_a_shared_store(api_key: str) -> None:
    store = Store()
    given = score_input()

    with LocalPlexusServer(api_key=api_key, store=store) as server:
        headers = {"x-api-key": api_key}
        httpx.post(
            server.url,
            json={"query": CREATE, "variables": {"input": given}},
            headers=headers,
        )

    assert store.get(given["id"]) is not None
    store.close()


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_run_server_serves_a_file_database_until_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    code = (
        "from plexus_async.server import run_server\n"
        f"run_server(port=0, db_path={str(db)!r}, api_key='k', log_level='warning')\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        url = line.rsplit(" ", 1)[-1].strip()
        given = score_input()
        headers = {"x-api-key": "k"}
        created = httpx.post(
            url, json={"query": CREATE, "variables": {"input": given}}, headers=headers
        )
        fetched = httpx.post(
            url, json={"query": GET, "variables": {"id": given["id"]}}, headers=headers
        )
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)

    assert url.startswith("http://127.0.0.1:") and url.endswith("/graphql")
    assert "errors" not in created.json()
    assert fetched.json()["data"]["getScoreResult"]["id"] == given["id"]
    assert process.returncode == 0
    store = Store(db)
    assert store.ids() == [given["id"]]
    store.close()


def _index(name: str) -> Index:
    return next(index for index in INDEXES if index.name == name)


def test_index_query_orders_by_composite_key_then_id() -> None:
    store = Store()
    late = record(itemId="i", type="a", scoreId="s", updatedAt="2026-02-01")
    early = record(itemId="i", type="a", scoreId="s", updatedAt="2026-01-01")
    other_type = record(itemId="i", type="b", scoreId="s", updatedAt="2025-01-01")
    keyless = record(itemId="i", type="a", scoreId="s", updatedAt=None)
    for given in (late, other_type, early, keyless):
        store.insert(given)
    index = _index("byItemIdAndTypeAndScoreIdAndUpdatedAt")

    rows = store.query(index, "i", limit=10)
    descending = store.query(index, "i", descending=True, limit=10)
    after_first = store.query(index, "i", after=rows[0][0], limit=10)
    begins = store.query(index, "i", conditions=[("beginsWith", ("a#s#",))], limit=10)

    assert [key for key, _ in rows] == [
        ("a#s#2026-01-01", early["id"]),
        ("a#s#2026-02-01", late["id"]),
        ("b#s#2025-01-01", other_type["id"]),
    ]
    assert [key for key, _ in descending] == [key for key, _ in reversed(rows)]
    assert after_first == rows[1:]
    assert [record["id"] for _, record in begins] == [early["id"], late["id"]]
    store.close()


@pytest.mark.parametrize("index", INDEXES, ids=lambda index: index.name)
def test_index_query_finds_its_partition_through_an_index(index: Index) -> None:
    store = Store()
    sql, params = _query_sql(index, "p", [("ge", ("a",))], True, ("b", "id"))

    plan = store._db.execute(f"EXPLAIN QUERY PLAN {sql}", (*params, 10)).fetchall()
    store.close()

    assert any(f"INDEX ix_{index.partition} " in row[-1] for row in plan), plan


def test_a_failed_write_in_a_transaction_undoes_only_itself() -> None:
    store = Store()
    first, second = record(), record()

    with store.transaction():
        assert store.insert(first)
        assert not store.insert({**first, "value": "again"})
        assert store.insert(second)

    assert store.ids() == [first["id"], second["id"]]
    assert store.get(first["id"]) == first
    store.close()


_OLD_LAYOUT = """
CREATE TABLE score_results (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  record TEXT NOT NULL,
  "type" TEXT, "itemId" TEXT, "accountId" TEXT, "scoringJobId" TEXT,
  "evaluationId" TEXT, "scorecardId" TEXT, "scoreVersionId" TEXT,
  "scoreId" TEXT, "sk_byTypeStatusUpdated" TEXT
);
CREATE INDEX "ix_byTypeStatusUpdated"
  ON score_results ("type", "sk_byTypeStatusUpdated", id);
CREATE INDEX "ix_byItemId" ON score_results ("itemId", id);
"""


def test_a_database_of_the_earlier_layout_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    given = record(updatedAt="2026-01-01T00:00:00.000Z")
    db = sqlite3.connect(path)
    db.executescript(_OLD_LAYOUT)
    db.execute(
        "INSERT INTO score_results (id, record, type, itemId) VALUES (?, ?, ?, ?)",
        (given["id"], json.dumps(given), given["type"], given["itemId"]),
    )
    db.commit()
    db.close()

    store = Store(path)
    added = record(updatedAt="2026-01-02T00:00:00.000Z")
    store.insert(added)
    rows = store.query(_index("byTypeStatusUpdated"), "prediction", limit=10)
    indexes = {
        row[0]
        for row in store._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
    }
    store.close()

    assert [found["id"] for _, found in rows] == [given["id"], added["id"]]
    assert "ix_byTypeStatusUpdated" not in indexes
    assert "ix_itemId" in indexes
