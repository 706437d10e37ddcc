"""Fixtures for the server tests: an httpx-based GraphQL client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from plexus_async.server import LocalPlexusServer

from .helpers import GraphQL


@pytest.fixture
def gql(server: LocalPlexusServer, api_key: str) -> Iterator[GraphQL]:
    """A GraphQL client for the (reset) test server, sending the right key."""
    with httpx.Client(headers={"x-api-key": api_key}, timeout=10.0) as http:
        yield GraphQL(http, server.url)
