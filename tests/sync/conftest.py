"""Blocking clients wired to the local server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from plexus_async import BatchConfig, RetryConfig
from plexus_async.server import LocalPlexusServer
from plexus_async.sync import PlexusClient

FAST_RETRY = RetryConfig(initial_delay=0.01, max_delay=0.05, jitter=0.01)

SyncClientFactory = Callable[..., PlexusClient]


def score_fields(n: int) -> dict[str, Any]:
    """`log_score` keywords of the n-th test result, besides value and item."""
    return {
        "accountId": "acct",
        "scorecardId": "card",
        "scoreId": "score",
        "confidence": 0.5,
        "metadata": {"n": n},
    }


@pytest.fixture
def make_client(server: LocalPlexusServer, api_key: str) -> Iterator[SyncClientFactory]:
    """Build blocking clients for the test server; each is closed afterwards."""
    made: list[PlexusClient] = []

    def make(**kwargs: Any) -> PlexusClient:
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("batch", BatchConfig(max_latency=0.05))
        client = PlexusClient(server.url, api_key, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close(timeout=10)
