"""The batching queue's guarantees (SPEC section 4), against the local server
with the matching fault switched on."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import anyio
import httpx
import pytest

from plexus_async import (
    BatchConfig,
    ClientClosed,
    DeliveryError,
    PartialBatchError,
    PendingScoreResult,
    QueueFull,
    RetryConfig,
    ScoreResult,
    ScoreResultRejected,
    ValidationError,
)
from plexus_async._config import BREAKER_THRESHOLD
from plexus_async.server import LocalPlexusServer

from ._support import ClientFactory, eventually, result_fields, stored_ids


async def settle(handles: list[PendingScoreResult]) -> tuple[set[str], set[str]]:
    """Await every handle; return the committed and the failed ids."""
    committed: set[str] = set()
    failed: set[str] = set()
    for handle in handles:
        try:
            await handle
            committed.add(handle.id)
        except Exception:
            failed.add(handle.id)
    return committed, failed


PATIENT = RetryConfig(max_attempts=15, initial_delay=0.01, max_delay=0.05, jitter=0.01)


def assert_stored_exactly(server: LocalPlexusServer, committed: set[str]) -> None:
    ids = stored_ids(server)
    assert len(ids) == len(set(ids)), "duplicate rows"
    assert set(ids) == committed


class CountingTransport(httpx.AsyncBaseTransport):
    """Real HTTP, recording how many requests were in flight at each start."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.in_flight = 0
        self.seen: list[int] = []
        self._target = 0
        self._reached = anyio.Event()

    async def reached(self, count: int) -> None:
        """Wait until `count` requests have started."""
        self._target = count
        if len(self.seen) < count:
            await self._reached.wait()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.seen.append(self.in_flight)
        if self._target and len(self.seen) >= self._target:
            self._reached.set()
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_many_concurrent_submits_all_resolve_to_stored_records(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    handles: list[PendingScoreResult] = []
    async with make_client() as client:

        async def produce(start: int) -> None:
            for n in range(start, start + 100):
                handles.append(await client.score_results.submit(**result_fields(n)))

        async with anyio.create_task_group() as tg:
            for start in range(0, 1000, 100):
                tg.start_soon(produce, start)
        results = [await h for h in handles]
        stats = client.stats
    assert_stored_exactly(server, {h.id for h in handles})
    for result in results:
        assert ScoreResult.from_dict(server.store.get(result.id) or {}) == result
    assert stats.committed == stats.submitted == 1000
    assert stats.requests == len(server.requests) < 1000 / 10


async def test_size_threshold_sends_full_batches(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    config = BatchConfig(max_batch_size=10, max_latency=30)
    async with make_client(batch=config) as client:
        handles = [
            client.score_results.submit_nowait(**result_fields(n)) for n in range(30)
        ]
        with anyio.fail_after(5):  # far below max_latency: size triggered it
            await settle(handles)
    assert [len(r.fields) for r in server.requests.snapshot()] == [10, 10, 10]


async def test_latency_threshold_sends_a_partial_batch(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    async with make_client(batch=BatchConfig(max_latency=0.1)) as client:
        handle = await client.score_results.submit(**result_fields(1))
        with anyio.fail_after(5):
            await handle
    assert len(server.requests) == 1


async def test_byte_threshold_limits_the_encoded_body(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    config = BatchConfig(max_batch_bytes=20_000, max_latency=0.05)
    async with make_client(batch=config) as client:
        blob = "x" * 3_000
        handles = [
            client.score_results.submit_nowait(**result_fields(n, explanation=blob))
            for n in range(20)
        ]
        committed, failed = await settle(handles)
    assert not failed
    assert all(r.body_bytes <= 20_000 for r in server.requests.snapshot())
    assert len(server.requests) >= 3
    assert_stored_exactly(server, committed)


# -- guarantee 1: every item settles once; failures are logged and dead-lettered


async def test_failures_settle_once_are_logged_and_dead_lettered(
    make_client: ClientFactory,
    server: LocalPlexusServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.faults.error_rate = 0.5
    dead = tmp_path / "dead.jsonl"
    reported: list[str] = []
    retry = RetryConfig(max_attempts=2, initial_delay=0, jitter=0)
    with caplog.at_level(logging.ERROR, logger="plexus_async"):
        async with make_client(
            retry=retry,
            dead_letter_path=dead,
            on_failure=lambda id, error, input: reported.append(id),
            batch=BatchConfig(max_batch_size=5, max_latency=0.01),
        ) as client:
            handles = [
                await client.score_results.submit(**result_fields(n))
                for n in range(100)
            ]
            committed, failed = await settle(handles)
    assert committed and failed, "the fault rate should give both outcomes"
    assert committed | failed == {h.id for h in handles}
    assert not committed & failed
    assert_stored_exactly(server, committed)
    lines = [json.loads(line) for line in dead.read_text().splitlines()]
    assert {line["id"] for line in lines} == failed == set(reported)
    assert all(line["error_type"] == "DeliveryError" for line in lines)
    assert all(line["attempts"] == 2 and line["input"]["id"] for line in lines)
    logged = {
        r.getMessage().split()[1] for r in caplog.records if "failed" in r.getMessage()
    }
    assert failed <= logged


# -- guarantee 2: no duplicates when responses are lost


async def test_dropped_responses_create_no_duplicates(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    server.faults.drop_response_rate = 0.3
    config = BatchConfig(max_batch_size=10, max_latency=0.01)
    async with make_client(batch=config, retry=PATIENT) as client:
        handles = [
            await client.score_results.submit(**result_fields(n)) for n in range(300)
        ]
        committed, failed = await settle(handles)
        retries = client.stats.retries
    assert not failed
    assert retries > 0
    assert_stored_exactly(server, committed)


# -- guarantee 3: partial failure and isolation of a bad result


async def test_throttled_aliases_alone_are_retried(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    server.faults.field_throttle_rate = 0.3
    # Enough attempts that no result runs out of them (0.3 ** 15 per result).
    async with make_client(retry=PATIENT) as client:
        handles = [
            await client.score_results.submit(**result_fields(n)) for n in range(200)
        ]
        committed, failed = await settle(handles)
    assert not failed
    assert_stored_exactly(server, committed)
    fields = [f for r in server.requests.snapshot() for f in r.fields]
    # A committed alias sent again would meet a conditional-check failure and
    # make the client read it back: there must be no such read.
    assert "getScoreResult" not in fields
    assert fields.count("createScoreResult") > 200


async def test_a_result_the_api_refuses_as_a_whole_fails_alone(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    good = [ScoreResult.build(result_fields(n)) for n in range(7)]
    # Built without validation, as a caller might: the API refuses to coerce
    # the null value, which fails the whole request it travels in.
    bad = ScoreResult.model_construct(
        **{**good[0].__dict__, "id": "bad", "value": None}
    )
    async with make_client() as client:
        with pytest.raises(PartialBatchError) as caught:
            await ScoreResult.batch_create(client, [*good[:3], bad, *good[3:]])
    error = caught.value
    assert list(error.failed) == [3]
    assert isinstance(error.failed[3], ScoreResultRejected)
    assert set(server.store.ids()) == {r.id for r in good}


async def test_http_413_splits_the_batch_until_the_big_result_stands_alone(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    server.faults.max_body_bytes = 20_000
    async with make_client(batch=BatchConfig(max_latency=0.05)) as client:
        handles = [
            client.score_results.submit_nowait(**result_fields(n)) for n in range(10)
        ]
        big = client.score_results.submit_nowait(
            **result_fields(99, explanation="y" * 30_000)
        )
        committed, failed = await settle([*handles, big])
    assert failed == {big.id}
    assert isinstance(big.exception(), ScoreResultRejected)
    assert_stored_exactly(server, committed)


async def test_a_result_too_large_to_send_alone_is_rejected_at_submit(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    async with make_client(batch=BatchConfig(max_batch_bytes=10_000)) as client:
        with pytest.raises(ValidationError, match=r"trace: .* too large") as caught:
            await client.score_results.submit(
                **result_fields(1, trace={"t": "z" * 20_000})
            )
        assert caught.value.field == "trace"
        ok = await client.score_results.submit(**result_fields(2))
        await ok
    assert server.store.ids() == [ok.id]


# -- guarantee 4: backpressure


async def test_full_queue_makes_submit_wait_and_submit_nowait_raise(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    server.faults.latency = 0.3
    config = BatchConfig(max_queue_size=5, max_latency=0.01)
    async with make_client(batch=config) as client:
        queue = client.score_results
        handles = [queue.submit_nowait(**result_fields(n)) for n in range(5)]
        with pytest.raises(QueueFull):
            queue.submit_nowait(**result_fields(5))
        with anyio.move_on_after(0.05) as scope:
            await queue.submit(**result_fields(6))
        assert scope.cancelled_caught, "submit should wait while the queue is full"
        stats = queue.stats()
        assert stats.queued + stats.in_flight == 5
        later = await queue.submit(**result_fields(7))  # waits for room, then goes
        committed, failed = await settle([*handles, later])
    assert not failed
    assert_stored_exactly(server, committed)


# -- guarantee 6: cancellation


async def test_cancelling_a_waiter_does_not_cancel_delivery(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    server.faults.latency = 0.2
    async with make_client() as client:
        handle = await client.score_results.submit(**result_fields(1))
        with anyio.move_on_after(0.05) as scope:
            await handle
        assert scope.cancelled_caught and not handle.done()
        result = await handle
    assert server.store.ids() == [result.id]


# -- guarantee 7: shutdown


async def test_aclose_drains_everything_submitted(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    client = make_client(batch=BatchConfig(max_latency=30))
    handles = [await client.score_results.submit(**result_fields(n)) for n in range(60)]
    report = await client.aclose()
    assert (report.committed, report.failed, report.pending) == (60, 0, [])
    assert not report.timed_out
    assert_stored_exactly(server, {h.id for h in handles})
    with pytest.raises(ClientClosed):
        await client.score_results.submit(**result_fields(99))


async def test_aclose_keeps_its_deadline_and_dead_letters_the_rest(
    make_client: ClientFactory,
    server: LocalPlexusServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.faults.outage = True
    dead = tmp_path / "dead.jsonl"
    client = make_client(dead_letter_path=dead, retry=RetryConfig(max_attempts=1000))
    handles = [await client.score_results.submit(**result_fields(n)) for n in range(20)]
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="plexus_async"):
        report = await client.aclose(timeout=0.5)
    assert time.monotonic() - started < 3
    assert report.timed_out and sorted(report.pending) == sorted(h.id for h in handles)
    assert all(isinstance(h.exception(), DeliveryError) for h in handles)
    assert any("20 result(s) not confirmed" in r.getMessage() for r in caplog.records)
    lines = [json.loads(line) for line in dead.read_text().splitlines()]
    assert {line["id"] for line in lines} == {h.id for h in handles}

    # Replaying the dead letters stores each result once, however often.
    server.faults.outage = False
    from typer.testing import CliRunner

    from plexus_async.cli import app

    env = {"PLEXUS_API_URL": server.url, "PLEXUS_API_KEY": "test-key"}
    for _ in range(2):
        outcome = await anyio.to_thread.run_sync(
            lambda: CliRunner().invoke(app, ["replay", str(dead)], env=env)
        )
        assert outcome.exit_code == 0, outcome.output
    assert_stored_exactly(server, {h.id for h in handles})


async def test_flush_and_aclose_never_wait_past_their_deadline_on_a_hung_server(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    server.faults.hang = True
    client = make_client(timeout=60)
    handle = await client.score_results.submit(**result_fields(1))
    started = time.monotonic()
    report = await client.flush(timeout=0.3)
    assert report.timed_out and report.pending == [handle.id]
    report = await client.aclose(timeout=0.3)
    assert report.timed_out
    assert time.monotonic() - started < 3
    assert isinstance(handle.exception(), DeliveryError)


async def test_flush_is_not_terminal(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    async with make_client(batch=BatchConfig(max_latency=30)) as client:
        first = await client.score_results.submit(**result_fields(1))
        report = await client.flush()
        assert (report.committed, report.pending, first.done()) == (1, [], True)
        second = await client.score_results.submit(**result_fields(2))
        report = await client.flush()
        assert report.committed == 1 and second.done()
    assert_stored_exactly(server, {first.id, second.id})


# -- guarantee 8: outages do not multiply traffic


async def test_an_outage_lets_one_probe_through_and_nothing_is_lost(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    server.faults.outage = True
    transport = CountingTransport()
    retry = RetryConfig(max_attempts=1000, initial_delay=0.01, max_delay=0.02, jitter=0)
    config = BatchConfig(max_batch_size=5, max_latency=0.01, max_concurrent_requests=4)
    async with make_client(transport=transport, retry=retry, batch=config) as client:
        handles = [
            await client.score_results.submit(**result_fields(n)) for n in range(40)
        ]
        with anyio.fail_after(20):
            await transport.reached(30)
        during = list(transport.seen)
        assert client.stats.committed == 0
        server.faults.outage = False
        committed, failed = await settle(handles)
    assert not failed
    assert_stored_exactly(server, committed)
    # Once the breaker opened and the requests already out had come back,
    # every request went out alone.
    settled = 2 * (BREAKER_THRESHOLD + config.max_concurrent_requests)
    assert len(during) >= settled + 10
    assert set(during[settled:]) == {1}


async def test_throttling_lowers_concurrency_until_the_server_recovers(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    server.faults.throttle_rate = 1.0
    server.faults.retry_after = 0.01
    config = BatchConfig(max_batch_size=5, max_latency=0.01, max_concurrent_requests=4)
    retry = RetryConfig(max_attempts=1000, initial_delay=0.01, max_delay=0.02)
    async with make_client(batch=config, retry=retry) as client:
        handles = [
            await client.score_results.submit(**result_fields(n)) for n in range(40)
        ]
        await eventually(lambda: client._gate.target == 1)
        server.faults.throttle_rate = 0.0
        committed, failed = await settle(handles)
        assert client._gate.target > 1
    assert not failed
    assert_stored_exactly(server, committed)


async def test_bad_input_enqueues_nothing_and_the_queue_keeps_working(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    async with make_client() as client:
        queue = client.score_results
        bad = [
            {"value": float("nan")},
            {"confidence": -0.1},
            {"metadata": {"s": {1}}},
            {"scoreId": None},
            {"id": ""},
            {"nonsense": True},
        ]
        for fields in bad:
            with pytest.raises(ValidationError):
                await queue.submit(**{**result_fields(0), **fields})
            with pytest.raises(ValidationError):
                queue.submit_nowait(**{**result_fields(0), **fields})
        assert queue.stats().submitted == 0
        good = await queue.submit(**result_fields(1))
        await good
    assert server.store.ids() == [good.id]


async def test_one_debug_line_per_request(
    make_client: ClientFactory,
    server: LocalPlexusServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="plexus_async"):
        async with make_client(batch=BatchConfig(max_batch_size=10)) as client:
            for n in range(30):
                client.score_results.submit_nowait(**result_fields(n))
            await client.flush()
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    requests = [line for line in lines if line.startswith("request:")]
    assert len(requests) == len(server.requests) == 3
    assert all("10 item(s)" in line and "bytes" in line for line in requests)


async def test_reads_inside_a_batch_are_not_retried_on_their_own(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    """A companion read during an outage is retried by its batch only, so the
    number of requests stays within the batch's attempts."""
    async with make_client() as client:
        created = await ScoreResult.create(client, **result_fields(1))
    server.faults.outage = True
    server.requests.clear()
    retry = RetryConfig(max_attempts=4, initial_delay=0, jitter=0)
    async with make_client(retry=retry) as client:
        handle = await client.score_results.submit_update(created.id, correct=True)
        with pytest.raises(DeliveryError):
            await handle
    assert len(server.requests) == retry.max_attempts


async def test_results_in_flight_at_the_deadline_are_reported_as_unconfirmed(
    make_client: ClientFactory, server: LocalPlexusServer, tmp_path: Path
) -> None:
    """They may be stored after all; replaying their dead letters settles
    them without duplicates."""
    server.faults.latency = 1.0
    dead = tmp_path / "dead.jsonl"
    client = make_client(dead_letter_path=dead, batch=BatchConfig(max_latency=0.01))
    handles = [await client.score_results.submit(**result_fields(n)) for n in range(10)]
    await eventually(lambda: client.stats.in_flight == 10)
    report = await client.aclose(timeout=0.2)
    assert report.timed_out
    for handle in handles:
        error = handle.exception()
        assert isinstance(error, DeliveryError) and "not confirmed" in str(error)

    await eventually(lambda: server.store.count() == 10)  # they were stored
    server.faults.latency = 0
    from typer.testing import CliRunner

    from plexus_async.cli import app

    env = {"PLEXUS_API_URL": server.url, "PLEXUS_API_KEY": "test-key"}
    outcome = await anyio.to_thread.run_sync(
        lambda: CliRunner().invoke(app, ["replay", str(dead)], env=env)
    )
    assert outcome.exit_code == 0, outcome.output
    assert "committed 10" in outcome.output
    assert_stored_exactly(server, {h.id for h in handles})


class CommitThenFail(httpx.AsyncBaseTransport):
    """Real HTTP to the server, but every `every`-th answer is replaced after
    the server committed: by an HTTP 500, or by a body that is not JSON."""

    def __init__(self, every: int, replacement: httpx.Response) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.every = every
        self.replacement = replacement
        self.calls = 0
        self.replaced = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.calls += 1
        if self.calls % self.every == 0:
            self.replaced += 1
            return httpx.Response(
                self.replacement.status_code, content=self.replacement.content
            )
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize(
    "replacement",
    [httpx.Response(500, content=b"oops"), httpx.Response(200, content=b"<html>")],
    ids=["500-after-commit", "garbage-after-commit"],
)
async def test_answers_lost_after_the_commit_create_no_duplicates(
    make_client: ClientFactory,
    server: LocalPlexusServer,
    replacement: httpx.Response,
) -> None:
    transport = CommitThenFail(3, replacement)
    config = BatchConfig(max_batch_size=5, max_latency=0.01)
    async with make_client(batch=config, transport=transport, retry=PATIENT) as client:
        handles = [
            await client.score_results.submit(**result_fields(n)) for n in range(60)
        ]
        updates = [
            await client.score_results.submit_update(h.id, correct=True)
            for h in handles[::3]
        ]
        committed, failed = await settle([*handles, *updates])
    assert transport.replaced > 0
    assert not failed
    assert committed == {h.id for h in handles}
    assert_stored_exactly(server, committed)
    assert all((server.store.get(u.id) or {})["correct"] is True for u in updates)
