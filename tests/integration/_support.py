"""Helpers shared by the integration tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from plexus_async import AsyncPlexusClient, RetryConfig
from plexus_async.server import LocalPlexusServer

FAST_RETRY = RetryConfig(initial_delay=0.01, max_delay=0.05, jitter=0.01)

ClientFactory = Callable[..., AsyncPlexusClient]


def result_fields(n: int, **extra: Any) -> dict[str, Any]:
    """Fields of the n-th test result."""
    return {
        "value": "Yes" if n % 2 else 0.25 * (n % 4),
        "confidence": 0.5,
        "itemId": f"item-{n}",
        "accountId": "acct",
        "scorecardId": "card",
        "scoreId": "score",
        "evaluationId": "eval-1",
        **extra,
    }


def stored_ids(server: LocalPlexusServer) -> list[str]:
    """Every stored id, duplicates kept (the store has one row per id)."""
    return [record["id"] for record in server.store.all()]


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until `predicate()` holds, checking every 10 ms, or fail."""
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await anyio.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout} s")
