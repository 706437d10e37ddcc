"""Fixtures shared by the whole suite: the local Plexus server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from plexus_async.server import Faults, LocalPlexusServer

API_KEY = "test-key"


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio; tests/integration adds trio."""
    return "asyncio"


@pytest.fixture(scope="session")
def api_key() -> str:
    """The key the test server accepts."""
    return API_KEY


@pytest.fixture(scope="session")
def plexus_server() -> Iterator[LocalPlexusServer]:
    """One local server for the session, on a free port with an in-memory db."""
    with LocalPlexusServer(
        api_key=API_KEY, db_path=":memory:", port=0, faults=Faults(seed=1)
    ) as server:
        yield server


@pytest.fixture
def server(plexus_server: LocalPlexusServer) -> LocalPlexusServer:
    """
    The session's server with no faults, no request in flight, an empty store
    and an empty request log.
    """
    plexus_server.reset()
    return plexus_server
