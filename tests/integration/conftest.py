"""Clients wired to the local server; fast retries so fault tests stay quick."""

from __future__ import annotations

from typing import Any

import pytest

from plexus_async import AsyncPlexusClient, BatchConfig
from plexus_async.server import LocalPlexusServer

from ._support import FAST_RETRY, ClientFactory


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every integration test on both event loops anyio supports."""
    return str(request.param)


@pytest.fixture
def make_client(server: LocalPlexusServer, api_key: str) -> ClientFactory:
    """Build a client for the test server; keyword arguments override defaults."""

    def make(**kwargs: Any) -> AsyncPlexusClient:
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("batch", BatchConfig(max_latency=0.05))
        return AsyncPlexusClient(server.url, api_key, **kwargs)

    return make
