"""The durable spool: nothing submitted is lost when the process dies."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from plexus_async import BatchConfig, ScoreResult
from plexus_async._spool import NotASpool, Spool, SpoolLocked
from plexus_async.cli import app
from plexus_async.server import LocalPlexusServer

from ._support import ClientFactory, result_fields

PRODUCER = Path(__file__).with_name("spool_producer.py")
ROOT = Path(__file__).parents[2]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def spool_config(path: Path, **kwargs: object) -> BatchConfig:
    return BatchConfig(spool_path=path, max_latency=0.02, **kwargs)  # type: ignore[arg-type]


def spool_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("spool.db*"))


def leftover(path: Path) -> int:
    spool = Spool(path)
    try:
        return spool.count()
    finally:
        spool.close()


async def test_settled_results_leave_the_spool(
    make_client: ClientFactory, server: LocalPlexusServer, tmp_path: Path
) -> None:
    path = tmp_path / "spool.db"
    async with make_client(batch=spool_config(path)) as client:
        handles = [
            await client.score_results.submit(**result_fields(n)) for n in range(60)
        ]
        updates = [
            await client.score_results.submit_update(h.id, correct=True)
            for h in handles[:10]
        ]
        await client.flush()
    assert all(h.exception() is None for h in [*handles, *updates])
    assert server.store.count() == 60
    assert leftover(path) == 0


async def test_a_restarted_client_resubmits_what_was_left_without_duplicates(
    make_client: ClientFactory, server: LocalPlexusServer, tmp_path: Path
) -> None:
    path = tmp_path / "spool.db"
    # An earlier process wrote these and died: some were stored, some not.
    spool = Spool(path)
    inputs = []
    for n in range(20):
        wire = ScoreResult.build(result_fields(n)).to_input()
        inputs.append(wire)
        spool.add(wire["id"], "create", wire)
    spool.add(inputs[0]["id"], "update", {"id": inputs[0]["id"], "correct": True})
    spool.close()
    async with make_client() as other:
        await ScoreResult.batch_create(
            other, [ScoreResult.build({**i}) for i in inputs[:7]]
        )

    async with make_client(batch=spool_config(path)) as client:
        report = await client.flush()
    assert report.failed == 0 and report.committed == 21
    ids = server.store.ids()
    assert sorted(ids) == sorted(i["id"] for i in inputs)
    assert (server.store.get(inputs[0]["id"]) or {})["correct"] is True
    assert leftover(path) == 0


async def test_a_second_user_of_a_spool_gets_a_clear_error(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    path = tmp_path / "spool.db"
    async with make_client(batch=spool_config(path)):
        with pytest.raises(SpoolLocked, match="in use by process"):
            make_client(batch=spool_config(path))
        other = await anyio.to_thread.run_sync(
            lambda: subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"from plexus_async._spool import Spool; Spool({str(path)!r})",
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
        )
        assert other.returncode != 0 and "SpoolLocked" in other.stderr
    Spool(path).close()  # free again once the client closed


async def test_the_spool_is_compacted(
    make_client: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("plexus_async._spool.SPOOL_COMPACT_EVERY", 200)
    path = tmp_path / "spool.db"
    sizes = []
    async with make_client(batch=spool_config(path, max_batch_size=50)) as client:
        for round in range(4):
            for n in range(600):
                await client.score_results.submit(
                    **result_fields(round * 1000 + n, trace={"pad": "x" * 500})
                )
            await client.flush()
            sizes.append(await anyio.to_thread.run_sync(spool_size, tmp_path))
    assert leftover(path) == 0
    assert sizes[-1] <= sizes[0] * 1.5, sizes


async def test_a_spool_row_that_cannot_be_sent_is_dead_lettered_and_the_rest_go(
    make_client: ClientFactory, server: LocalPlexusServer, tmp_path: Path
) -> None:
    path = tmp_path / "spool.db"
    spool = Spool(path)
    spool.add("bad", "create", {"id": "bad", "value": "x"})  # no item or account
    good = ScoreResult.build(result_fields(1)).to_input()
    spool.add(good["id"], "create", good)
    spool.close()
    dead = tmp_path / "dead.jsonl"
    async with make_client(batch=spool_config(path), dead_letter_path=dead) as client:
        report = await client.flush()
        stats = client.stats
    assert (report.committed, stats.failed, stats.dead_lettered) == (1, 1, 1)
    assert server.store.ids() == [good["id"]]
    [line] = [json.loads(text) for text in dead.read_text().splitlines()]
    assert line["id"] == "bad" and "itemId" in line["error"]
    assert leftover(path) == 0


async def test_a_damaged_spool_is_set_aside_and_its_readable_rows_recovered(
    make_client: ClientFactory,
    server: LocalPlexusServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "spool.db"
    spool = Spool(path)
    wires = [
        ScoreResult.build(result_fields(n, trace={"p": "y" * 300})).to_input()
        for n in range(200)
    ]
    for wire in wires:
        spool.add(wire["id"], "create", wire)
    spool.close()  # checkpoints the WAL into the main file
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.truncate(size // 2)

    with caplog.at_level(logging.ERROR, logger="plexus_async"):
        async with make_client(batch=spool_config(path)) as client:
            report = await client.flush()
    assert any("is damaged" in r.getMessage() for r in caplog.records)
    assert await anyio.to_thread.run_sync(
        lambda: list(tmp_path.glob("spool.db.damaged-*"))
    )
    assert 0 < report.committed < 200 and report.failed == 0
    assert set(server.store.ids()) <= {w["id"] for w in wires}
    assert server.store.count() == report.committed


def test_a_file_that_is_not_a_spool_is_refused_and_left_alone(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_bytes(b"this is not a database at all" * 100)
    other = tmp_path / "app.db"
    import sqlite3

    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE users (name TEXT)")
    before = other.read_bytes()

    for path in (text, other):
        outcome = CliRunner().invoke(app, ["spool", "status", str(path)])
        assert outcome.exit_code == 2 and "not a spool" in outcome.output
        with pytest.raises(NotASpool):
            Spool(path)
    assert text.read_bytes() == b"this is not a database at all" * 100
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db", "notes.txt"]


def test_spool_status_reads_a_damaged_spool_without_changing_it(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    spool = Spool(path)
    for n in range(200):
        wire = ScoreResult.build(result_fields(n, trace={"p": "y" * 300})).to_input()
        spool.add(wire["id"], "create", wire)
    spool.close()
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)
    before = path.read_bytes()
    outcome = CliRunner().invoke(app, ["spool", "status", str(path)])
    assert outcome.exit_code == 1 and "damaged" in outcome.output
    assert path.read_bytes() == before


def test_spool_status_and_drain(
    server: LocalPlexusServer, api_key: str, tmp_path: Path
) -> None:
    path = tmp_path / "spool.db"
    spool = Spool(path)
    for n in range(15):
        wire = ScoreResult.build(result_fields(n)).to_input()
        spool.add(wire["id"], "create", wire)
    spool.close()
    env = {"PLEXUS_API_URL": server.url, "PLEXUS_API_KEY": api_key}
    runner = CliRunner()

    status = runner.invoke(app, ["spool", "status", str(path)])
    assert status.exit_code == 0 and "15 pending (15 create(s)" in status.output
    drained = runner.invoke(
        app,
        ["spool", "drain", str(path), "--dead-letters", str(tmp_path / "d.jsonl")],
        env=env,
    )
    assert drained.exit_code == 0, drained.output
    assert "committed 15, failed 0" in drained.output
    assert server.store.count() == 15
    after = runner.invoke(app, ["spool", "status", str(path)])
    assert "0 pending" in after.output


def test_sigkill_in_the_middle_loses_no_submitted_result(
    server: LocalPlexusServer, api_key: str, tmp_path: Path
) -> None:
    """Kill the producer at seeded random points, restart it, and check the
    server holds every result any `submit` returned for, exactly once."""
    rng = random.Random(2026)
    path = tmp_path / "spool.db"
    returned: list[str] = []
    kills = 0

    def producer(start: int, count: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                str(PRODUCER),
                server.url,
                api_key,
                str(path),
                str(start),
                str(count),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    for run in range(4):
        process = producer(run * 1000, 300)
        kill_after = rng.randint(10, 250)
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("SUBMITTED"):
                returned.append(line.split()[1])
                kill_after -= 1
                if kill_after == 0:
                    os.kill(process.pid, signal.SIGKILL)
                    kills += 1
                    break
        process.wait(timeout=30)
        process.stdout.close()

    final = producer(9000, 0)
    out, _ = final.communicate(timeout=60)
    assert "DONE" in out and final.returncode == 0

    items = Counter(record["itemId"] for record in server.store.all())
    stored = set(server.store.ids())
    print(
        f"\ncrash test: {kills} SIGKILLs, {len(returned)} submits returned, "
        f"{len(stored)} stored, {sum(n - 1 for n in items.values())} duplicates"
    )
    assert kills == 4
    assert set(returned) <= stored
    assert all(count == 1 for count in items.values())
    assert leftover(path) == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_keep_its_parents_spool_locked(tmp_path: Path) -> None:
    """The lock ends with the process that took it, even if it forked."""
    path = tmp_path / "spool.db"
    script = f"""
import os, sys, time
from plexus_async._spool import Spool
spool = Spool({str(path)!r})
if os.fork() == 0:
    # Let go of the pipes so the test does not wait for this child.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    time.sleep(3)
    os._exit(0)
print("parent", os.getpid(), flush=True)
os._exit(0)
"""
    parent = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT
    )
    assert parent.returncode == 0, parent.stderr
    # The parent is gone while its child still sleeps: the spool is free.
    Spool(path).close()


async def test_concurrent_writes_share_transactions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path / "spool.db")
    transactions: list[int] = []
    real = spool.add_many

    def counting(rows: list[tuple[str, str, dict[str, object]]]) -> list[int]:
        transactions.append(len(rows))
        return real(rows)

    monkeypatch.setattr(spool, "add_many", counting)
    seqs: dict[str, int] = {}

    async def write(n: int) -> None:
        seqs[f"id-{n}"] = await spool.write(f"id-{n}", "create", {"n": n})

    async with anyio.create_task_group() as tg:
        for n in range(50):
            tg.start_soon(write, n)
    rows = {row.id: row for row in spool.pending()}
    spool.close()
    assert sum(transactions) == 50 and len(transactions) < 50
    assert len(set(seqs.values())) == 50
    assert all(
        rows[id].seq == seq and rows[id].input == {"n": int(id[3:])}
        for id, seq in seqs.items()
    )


def test_spool_status_works_while_the_spool_is_in_use(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    spool = Spool(path)
    try:
        spool.add("a", "create", {"id": "a"})
        spool.add("a", "update", {"id": "a", "correct": True})
        outcome = CliRunner().invoke(app, ["spool", "status", str(path)])
    finally:
        spool.close()
    assert outcome.exit_code == 0, outcome.output
    assert "2 pending (1 create(s), 1 update(s))" in outcome.output
