"""The worker cannot die silently, and an unclosed client says so."""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings
from typing import Any

import pytest

from plexus_async import AsyncPlexusClient, BatchConfig, DeliveryError
from plexus_async.server import LocalPlexusServer

from ._support import ClientFactory, result_fields


async def test_an_unexpected_error_fails_that_batch_and_delivery_goes_on(
    make_client: ClientFactory,
    server: LocalPlexusServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reported: list[str] = []
    async with make_client(
        on_failure=lambda id, error, input: reported.append(id),
        batch=BatchConfig(max_latency=0.01),
    ) as client:
        queue = client.score_results
        real_body = queue._body
        calls = {"n": 0}

        def broken_once(*args: Any) -> bytes:
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("boom")
            return real_body(*args)

        monkeypatch.setattr(queue, "_body", broken_once)
        with caplog.at_level(logging.ERROR, logger="plexus_async"):
            first = await queue.submit(**result_fields(1))
            with pytest.raises(DeliveryError, match="boom"):
                await first
        second = await queue.submit(**result_fields(2))
        await second
    assert reported == [first.id]
    assert any("unexpected error" in r.getMessage() for r in caplog.records)
    assert server.store.ids() == [second.id]


def test_an_unclosed_client_warns_with_the_count_it_held(
    server: LocalPlexusServer, api_key: str, capfd: pytest.CaptureFixture[str]
) -> None:
    server.faults.hang = True

    async def forget_to_close() -> None:
        client = AsyncPlexusClient(server.url, api_key)
        for n in range(3):
            await client.score_results.submit(**result_fields(n))
        await asyncio.sleep(0.05)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(forget_to_close())
        gc.collect()
    server.faults.hang = False
    messages = [str(w.message) for w in caught if w.category is ResourceWarning]
    assert any("still held 3 undelivered" in m for m in messages), messages
    assert "Event loop is closed" not in capfd.readouterr().err
