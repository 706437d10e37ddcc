"""The API key appears in no log record, repr or exception of a faulty run."""

from __future__ import annotations

import logging
import traceback

import pytest

from plexus_async import (
    AsyncPlexusClient,
    AuthenticationError,
    BatchConfig,
    RetryConfig,
    ScoreResult,
)
from plexus_async.server import LocalPlexusServer

from ._support import result_fields

CANARY = "canary-3f9c1e7a-secret"


async def test_the_key_never_leaks_during_a_faulty_run(
    plexus_server: LocalPlexusServer,
    caplog: pytest.LogCaptureFixture,
    tmp_path: object,
) -> None:
    server = plexus_server
    server.faults.reset()
    server.store.clear()
    seen: list[str] = []
    retry = RetryConfig(max_attempts=2, initial_delay=0, jitter=0)
    with caplog.at_level(logging.DEBUG):
        # Wrong key: every request is refused, and must not echo the key.
        async with AsyncPlexusClient(
            server.url, CANARY, retry=retry, batch=BatchConfig(max_latency=0.01)
        ) as client:
            seen.append(repr(client))
            handles = [
                await client.score_results.submit(**result_fields(n)) for n in range(5)
            ]
            seen.extend(repr(h) for h in handles)
            for handle in handles:
                with pytest.raises(AuthenticationError) as caught:
                    await handle
                seen.append(repr(caught.value))
                seen.append("".join(traceback.format_exception(caught.value)))
            with pytest.raises(AuthenticationError) as caught:
                await ScoreResult.get_by_id("x", client)
            seen.append("".join(traceback.format_exception(caught.value)))
            seen.append(repr(client.stats))

        # Right key, faults on: retries, errors, dropped answers.
        server.faults.error_rate = 0.3
        server.faults.drop_response_rate = 0.2
        server.faults.field_throttle_rate = 0.2
        async with AsyncPlexusClient(
            server.url,
            "test-key",
            retry=retry,
            batch=BatchConfig(max_latency=0.01, max_batch_size=5),
        ) as client:
            seen.append(repr(client))
            handles = [
                await client.score_results.submit(**result_fields(n)) for n in range(50)
            ]
            for handle in handles:
                try:
                    await handle
                except Exception as exc:
                    seen.append("".join(traceback.format_exception(exc)))
    server.faults.reset()

    assert caplog.records, "the faulty run should have logged"
    for record in caplog.records:
        assert CANARY not in record.getMessage()
        assert "test-key" not in record.getMessage()
        if record.exc_info:
            assert CANARY not in "".join(traceback.format_exception(*record.exc_info))
    for text in seen:
        assert CANARY not in text
