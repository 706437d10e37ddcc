"""A bounded soak: many results through mixed faults, none lost or duplicated."""

from __future__ import annotations

import time

import anyio
import pytest

from plexus_async import BatchConfig, PendingScoreResult, RetryConfig
from plexus_async.server import LocalPlexusServer

from ._support import ClientFactory, result_fields, stored_ids

TOTAL = 20_000


@pytest.fixture
def anyio_backend() -> str:
    """One backend is enough to soak; the behaviour is covered on both elsewhere."""
    return "asyncio"


async def test_soak_twenty_thousand_results_through_mixed_faults(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    faults = server.faults
    faults.error_rate = 0.05
    faults.throttle_rate = 0.03
    faults.retry_after = 0.01
    faults.field_throttle_rate = 0.03
    faults.drop_response_rate = 0.05
    retry = RetryConfig(
        max_attempts=25, initial_delay=0.005, max_delay=0.05, jitter=0.01
    )
    config = BatchConfig(max_batch_size=50, max_latency=0.02, max_queue_size=4_000)
    handles: list[PendingScoreResult] = []
    started = time.perf_counter()

    async with make_client(retry=retry, batch=config) as client:

        async def produce(offset: int) -> None:
            for n in range(offset, TOTAL, 8):
                handles.append(await client.score_results.submit(**result_fields(n)))

        async with anyio.create_task_group() as tg:
            for offset in range(8):
                tg.start_soon(produce, offset)
        report = await client.flush(timeout=240)
        stats = client.stats

    elapsed = time.perf_counter() - started
    faults.reset()
    ids = stored_ids(server)
    committed = {h.id for h in handles if h.done() and h.exception() is None}
    statuses = server.requests.statuses()
    print(
        f"\nsoak: {TOTAL} submitted, {len(committed)} committed, "
        f"{report.failed} failed, {len(ids)} rows, "
        f"{len(ids) - len(set(ids))} duplicates, {stats.requests} requests "
        f"({statuses.count(200)} HTTP 200, {len(statuses) - statuses.count(200)} "
        f"faulted or cut), {stats.retries} retries, {elapsed:.1f} s"
    )
    assert len(handles) == TOTAL
    assert not report.timed_out and report.failed == 0
    assert len(committed) == TOTAL
    assert len(ids) == len(set(ids)) == TOTAL
    assert set(ids) == committed
    assert stats.retries > 0
