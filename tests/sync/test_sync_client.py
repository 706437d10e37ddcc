"""The blocking facade against the local server: scripts, threads, exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections import Counter

import pytest

from plexus_async import (
    BatchConfig,
    ClientClosed,
    ConfigurationError,
    ScoreResult,
    ValidationError,
)
from plexus_async.server import LocalPlexusServer
from plexus_async.sync import PlexusClient

from .conftest import SyncClientFactory, score_fields


def test_log_score_returns_the_id_and_flush_sends_it(
    make_client: SyncClientFactory, server: LocalPlexusServer
) -> None:
    # With a 30 s batch latency only flush() sends the result in time.
    client = make_client(batch=BatchConfig(max_latency=30.0))

    id = client.log_score(0.9, "item-1", **score_fields(1))
    report = client.flush(timeout=10)

    assert (report.committed, report.failed, report.pending) == (1, 0, [])
    stored = server.store.get(id)
    assert stored is not None
    assert (stored["value"], stored["itemId"], stored["scoreId"]) == (
        "0.9",
        "item-1",
        "score",
    )
    assert stored["metadata"] == '{"n":1}'


def test_log_score_accepts_the_original_clients_keywords(
    make_client: SyncClientFactory, server: LocalPlexusServer
) -> None:
    client = make_client()

    id = client.log_score(
        "Yes",
        "item-2",
        immediate=True,
        batch_size=50,
        batch_timeout=5.0,
        account_id="acct",
        scorecard_id="card",
        score_id="score",
    )
    client.flush(timeout=10)

    stored = server.store.get(id)
    assert stored is not None
    assert (stored["value"], stored["accountId"]) == ("Yes", "acct")


def test_create_waits_for_the_commit_and_update_applies(
    make_client: SyncClientFactory, server: LocalPlexusServer
) -> None:
    client = make_client()

    created = client.create(value="No", itemId="item-3", **score_fields(3))
    assert isinstance(created, ScoreResult)
    assert created.createdAt is not None
    assert server.store.get(created.id) is not None

    corrected = client.update(created, correct=True)
    assert corrected.correct is True
    explained = client.update(created.id, explanation="checked by hand")
    assert (explained.explanation, explained.correct) == ("checked by hand", True)
    stored = server.store.get(created.id)
    assert stored is not None
    assert (stored["correct"], stored["explanation"]) == (True, "checked by hand")


def test_close_delivers_what_is_still_queued(
    make_client: SyncClientFactory, server: LocalPlexusServer
) -> None:
    # With a 30 s batch latency only the drain on close() can send these.
    client = make_client(batch=BatchConfig(max_latency=30.0))
    ids = [client.log_score(n / 10, f"item-{n}", **score_fields(n)) for n in range(3)]
    assert server.store.count() == 0

    report = client.close(timeout=10)

    assert (report.committed, report.failed, report.timed_out) == (3, 0, False)
    assert sorted(server.store.ids()) == sorted(ids)


def test_a_closed_client_refuses_work(make_client: SyncClientFactory) -> None:
    client = make_client()
    client.log_score(1, "item-1", **score_fields(1))
    client.close(timeout=10)

    with pytest.raises(ClientClosed):
        client.log_score(1, "item-2", **score_fields(2))
    with pytest.raises(ClientClosed):
        client.flush()
    assert client.close().committed == 0
    assert "closed" in repr(client)


def test_bad_input_raises_in_the_calling_thread(
    make_client: SyncClientFactory, server: LocalPlexusServer
) -> None:
    client = make_client()

    with pytest.raises(ValidationError, match="scoreId"):
        client.log_score(1, "item-1", accountId="acct", scorecardId="card")
    with pytest.raises(ValidationError, match="confidence"):
        client.log_score(1, "item-1", **{**score_fields(1), "confidence": 2.0})
    assert client.flush(timeout=10).committed == 0
    assert server.store.count() == 0


def test_missing_settings_fail_at_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PLEXUS_API_URL", raising=False)
    monkeypatch.delenv("PLEXUS_API_KEY", raising=False)

    with pytest.raises(ConfigurationError, match="PLEXUS_API_URL"):
        PlexusClient()


def test_the_key_is_not_in_the_repr(make_client: SyncClientFactory) -> None:
    client = make_client()

    assert "test-key" not in repr(client)
    assert "api_key='***'" in repr(client)


def test_many_threads_log_at_once_and_each_result_is_stored_once(
    make_client: SyncClientFactory, server: LocalPlexusServer
) -> None:
    client = make_client(batch=BatchConfig(max_latency=0.05, max_queue_size=500))
    threads, per_thread = 8, 250
    ids: list[list[str]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(t: int) -> None:
        try:
            start.wait()
            for n in range(per_thread):
                item = f"item-{t}-{n}"
                ids[t].append(client.log_score(n % 3, item, **score_fields(n)))
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    report = client.close(timeout=30)

    assert errors == []
    sent = [id for chunk in ids for id in chunk]
    assert len(sent) == len(set(sent)) == threads * per_thread
    stored = Counter(server.store.ids())
    assert set(stored) == set(sent)
    assert max(stored.values()) == 1
    assert (report.failed, report.pending) == (0, [])
    # Each result went out in exactly one create: none was sent twice.
    creates = server.requests.fields().count("createScoreResult")
    assert creates == threads * per_thread


def test_trio_backend(
    make_client: SyncClientFactory, server: LocalPlexusServer
) -> None:
    client = make_client(backend="trio", batch=BatchConfig(max_latency=30.0))

    id = client.log_score(0.25, "item-1", **score_fields(1))
    created = client.create(value=1, itemId="item-2", **score_fields(2))
    report = client.close(timeout=10)

    assert report.committed == 1
    assert set(server.store.ids()) == {id, created.id}


def test_a_client_left_open_is_drained_at_interpreter_exit(
    server: LocalPlexusServer, api_key: str
) -> None:
    script = textwrap.dedent(
        f"""
        from plexus_async import BatchConfig
        from plexus_async.sync import PlexusClient

        client = PlexusClient(
            {server.url!r}, {api_key!r}, batch=BatchConfig(max_latency=30.0)
        )
        print(client.log_score(
            0.5, "item-exit", accountId="acct", scorecardId="card", scoreId="score"
        ))
        """
    )

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert server.store.ids() == [done.stdout.strip()]
