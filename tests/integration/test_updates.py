"""The update path: ordered behind creates, merged while queued, batched."""

from __future__ import annotations

import anyio
import httpx
import pytest

from plexus_async import (
    BatchConfig,
    DeliveryError,
    RetryConfig,
    ScoreResult,
    ScoreResultNotFound,
    ScoreResultRejected,
)
from plexus_async.server import LocalPlexusServer

from ._support import ClientFactory, eventually, result_fields


async def test_update_submitted_before_its_create_was_sent_is_merged(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    async with make_client(batch=BatchConfig(max_latency=30)) as client:
        created = await client.score_results.submit(**result_fields(1))
        corrected = await client.score_results.submit_update(
            created.id, correct=True, metadata={"human_label": "Yes"}
        )
        await client.flush()
        first, second = await created, await corrected
    assert first == second
    assert second.correct is True and second.metadata == {"human_label": "Yes"}
    assert [r.fields for r in server.requests.snapshot()] == [("createScoreResult",)]
    assert ScoreResult.from_dict(server.store.get(created.id) or {}) == second


class HoldFirstTransport(httpx.AsyncBaseTransport):
    """Real HTTP, except that the first request is held until released and
    then answered 503, as a slow failing attempt would be."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.release = anyio.Event()
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls == 1:
            await self.release.wait()
            return httpx.Response(503)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_update_submitted_while_its_create_is_in_flight_waits_for_it(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    transport = HoldFirstTransport()
    async with make_client(
        batch=BatchConfig(max_latency=0.01), transport=transport
    ) as client:
        created = await client.score_results.submit(**result_fields(1))
        await eventually(lambda: transport.calls == 1)  # in flight, held
        assert client.stats.in_flight == 1
        corrected = await client.score_results.submit_update(created.id, correct=False)
        await anyio.sleep(0.1)  # an update sent now would overtake the create
        transport.release.set()
        result = await corrected
    assert result.correct is False and result.value == "Yes"
    fields = [r.fields for r in server.requests.snapshot()]
    assert fields == [("createScoreResult",), ("updateScoreResult",)]


async def test_many_updates_to_one_id_apply_in_submission_order(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    server.faults.latency = 0.02
    async with make_client(batch=BatchConfig(max_latency=0.01)) as client:
        created = await client.score_results.submit(**result_fields(1))
        handles = []
        for n in range(12):
            handles.append(
                await client.score_results.submit_update(
                    created.id, metadata={"n": n}, explanation=f"step {n}"
                )
            )
            await anyio.sleep(0.015 * (n % 3))
        results = [await h for h in handles]
    assert all(r.id == created.id for r in results)
    # Each handle sees its own write or a later one, never an earlier one.
    seen = [r.metadata["n"] for r in results]
    assert seen == sorted(seen) and all(s >= n for n, s in enumerate(seen))
    stored = ScoreResult.from_dict(server.store.get(created.id) or {})
    assert stored.metadata == {"n": 11} and stored.explanation == "step 11"


async def test_pending_update_resolves_to_the_updated_result(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    async with make_client() as client:
        pending = await client.score_results.submit(**result_fields(1))
        await pending
        updated = await pending.update(correct=True)
    assert updated.correct is True
    assert (server.store.get(pending.id) or {})["correct"] is True


async def test_update_known_only_by_id_fetches_its_companions(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    async with make_client() as client:
        created = await ScoreResult.create(client, **result_fields(1))
    async with make_client() as other:
        handles = [await other.score_results.submit_update(created.id, correct=True)]
        [result] = [await h for h in handles]
    assert result.correct is True and result.scoreId == "score"
    fields = [r.fields for r in server.requests.snapshot()]
    assert fields[-2:] == [("getScoreResult",), ("updateScoreResult",)]


async def test_update_of_a_missing_id_fails_with_not_found(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    async with make_client() as client:
        with_companions = await client.score_results.submit_update(
            "missing-1",
            correct=True,
            status="COMPLETED",
            type="prediction",
            scoreId="s",
            scorecardId="c",
            itemId="i",
            createdAt="2026-12-03T16:22:44.158Z",
        )
        bare = await client.score_results.submit_update("missing-2", correct=True)
        for handle in (with_companions, bare):
            with pytest.raises(ScoreResultNotFound):
                await handle
    assert server.store.count() == 0


async def test_an_update_behind_a_failed_create_fails_too(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    async with make_client(batch=BatchConfig(max_latency=0.01)) as client:
        taken = await ScoreResult.create(client, **result_fields(0))
        server.faults.latency = 0.2
        clash = await client.score_results.submit(**result_fields(1, id=taken.id))
        await eventually(lambda: client.stats.in_flight == 1)
        follow = await client.score_results.submit_update(taken.id, correct=True)
        with pytest.raises(ScoreResultRejected):
            await clash
        with pytest.raises(DeliveryError):
            await follow
    assert (server.store.get(taken.id) or {}).get("correct") is None


async def test_merge_metadata_reads_then_writes(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    async with make_client() as client:
        created = await ScoreResult.create(
            client, **result_fields(1, metadata={"a": 1})
        )
        merged = await created.merge_metadata(b=2)
    assert merged.metadata == {"a": 1, "b": 2}


async def test_a_correction_pass_is_batched(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    async with make_client() as client:
        created = await ScoreResult.batch_create(
            client, [result_fields(n) for n in range(100)]
        )
        server.requests.clear()
        async with anyio.create_task_group() as tg:
            for result in created:
                tg.start_soon(lambda r=result: r.update(correct=True))
    assert len(server.requests) == 4  # 100 updates / max_batch_size 25
    assert all(r["correct"] is True for r in server.store.all())


async def test_corrections_under_faults_match_a_reference_model(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    server.faults.error_rate = 0.2
    server.faults.drop_response_rate = 0.2
    retry = RetryConfig(max_attempts=25, initial_delay=0.002, max_delay=0.02)
    expected: dict[str, dict[str, object]] = {}
    async with make_client(retry=retry, batch=BatchConfig(max_latency=0.01)) as client:
        created = [
            await client.score_results.submit(**result_fields(n)) for n in range(150)
        ]
        handles = []
        for round in range(3):
            for n, pending in enumerate(created):
                if (n + round) % 2:
                    fields = {"correct": bool(round % 2), "metadata": {"r": round}}
                    expected.setdefault(pending.id, {}).update(fields)
                    handles.append(
                        await client.score_results.submit_update(pending.id, **fields)
                    )
            await anyio.sleep(0.02)
        report = await client.flush()
    server.faults.reset()
    assert report.failed == 0 and not report.timed_out
    assert all(h.exception() is None for h in [*created, *handles])
    stored = {r["id"]: ScoreResult.from_dict(r) for r in server.store.all()}
    assert set(stored) == {p.id for p in created}
    for id, record in stored.items():
        want = expected.get(id, {"correct": None, "metadata": None})
        assert (record.correct, record.metadata) == (want["correct"], want["metadata"])
