"""AsyncPlexusClient over respx: configuration, errors and the retry policy."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx

from plexus_async import (
    APIStatusError,
    AsyncPlexusClient,
    AuthenticationError,
    ClientClosed,
    ConfigurationError,
    GraphQLError,
    RetryConfig,
)

URL = "https://plexus.example.com/graphql"
KEY = "canary-key-0123456789"
FAST = RetryConfig(initial_delay=0, jitter=0, max_delay=0, max_attempts=3)


def client(**kwargs: object) -> AsyncPlexusClient:
    kwargs.setdefault("retry", FAST)
    return AsyncPlexusClient(URL, KEY, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("missing", ["PLEXUS_API_URL", "PLEXUS_API_KEY"])
def test_missing_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setenv("PLEXUS_API_URL", URL)
    monkeypatch.setenv("PLEXUS_API_KEY", KEY)
    monkeypatch.delenv(missing)
    with pytest.raises(ConfigurationError, match=missing):
        AsyncPlexusClient()


async def test_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLEXUS_API_URL", URL)
    monkeypatch.setenv("PLEXUS_API_KEY", KEY)
    async with AsyncPlexusClient() as c:
        assert c.api_url == URL


@pytest.mark.parametrize(
    "url", ["http://plexus.example.com/graphql", "http://10.0.0.1/graphql"]
)
def test_plain_http_is_refused_for_remote_hosts(url: str) -> None:
    with pytest.raises(ConfigurationError, match="https"):
        AsyncPlexusClient(url, KEY)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:4000/graphql",
        "http://localhost:4000/graphql",
        "http://[::1]:4000/graphql",
    ],
)
async def test_plain_http_is_allowed_for_loopback(url: str) -> None:
    async with AsyncPlexusClient(url, KEY) as c:
        assert c.api_url == url


async def test_repr_never_shows_the_key() -> None:
    async with client() as c:
        assert KEY not in repr(c)
        assert "***" in repr(c)


@respx.mock
async def test_execute_posts_query_and_variables_with_the_key_header() -> None:
    route = respx.post(URL).respond(200, json={"data": {"ok": 1}})
    async with client() as c:
        assert await c.execute("query { ok }", {"a": 1}) == {"ok": 1}
    request = route.calls.last.request
    assert request.headers["x-api-key"] == KEY
    assert json.loads(request.content) == {
        "query": "query { ok }",
        "variables": {"a": 1},
    }


@respx.mock
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_transient_statuses_are_retried(status: int) -> None:
    route = respx.post(URL).mock(
        side_effect=[httpx.Response(status), httpx.Response(200, json={"data": {}})]
    )
    async with client() as c:
        await c.execute("query { ok }")
    assert route.call_count == 2


@respx.mock
async def test_connection_errors_and_timeouts_are_retried() -> None:
    route = respx.post(URL).mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json={"data": {"ok": 1}}),
        ]
    )
    async with client() as c:
        assert await c.execute("query { ok }") == {"ok": 1}
    assert route.call_count == 3


@respx.mock
async def test_retry_after_header_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("anyio.sleep", fake_sleep)
    respx.post(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "2.5"}),
            httpx.Response(200, json={"data": {}}),
        ]
    )
    async with client(retry=RetryConfig(retry_after_cap=10, jitter=0)) as c:
        await c.execute("query { ok }")
    assert slept == [2.5]


@respx.mock
async def test_retries_stop_after_max_attempts() -> None:
    route = respx.post(URL).respond(503)
    async with client() as c:
        with pytest.raises(APIStatusError) as caught:
            await c.execute("query { ok }")
    assert caught.value.status_code == 503
    assert route.call_count == FAST.max_attempts


@respx.mock
@pytest.mark.parametrize("status", [400, 404, 413])
async def test_client_errors_are_not_retried(status: int) -> None:
    route = respx.post(URL).respond(status, json={"errors": [{"message": "bad"}]})
    async with client() as c:
        with pytest.raises(APIStatusError) as caught:
            await c.execute("query { ok }")
    assert caught.value.status_code == status
    assert route.call_count == 1


@respx.mock
async def test_unauthorized_raises_authentication_error_without_the_key() -> None:
    body = {
        "errors": [
            {
                "errorType": "UnauthorizedException",
                "message": "You are not authorized to make this call.",
            }
        ]
    }
    route = respx.post(URL).respond(401, json=body)
    async with client() as c:
        with pytest.raises(AuthenticationError) as caught:
            await c.execute("query { ok }")
    assert route.call_count == 1
    assert "UnauthorizedException" in str(caught.value)
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)


@respx.mock
async def test_graphql_errors_keep_message_error_type_and_path() -> None:
    body = {
        "data": {"r0": None},
        "errors": [
            {
                "path": ["r0"],
                "data": None,
                "errorType": "DynamoDB:ConditionalCheckFailedException",
                "errorInfo": None,
                "locations": [{"line": 1, "column": 2}],
                "message": "The conditional request failed",
            }
        ],
    }
    respx.post(URL).respond(200, json=body)
    async with client() as c:
        with pytest.raises(GraphQLError) as caught:
            await c.execute("mutation { r0: x }")
    error = caught.value
    assert error.errorType == "DynamoDB:ConditionalCheckFailedException"
    assert error.path == ["r0"]
    assert error.message == "The conditional request failed"
    assert error.data == {"r0": None}


@respx.mock
async def test_throttling_error_types_are_retried() -> None:
    throttled = {
        "data": None,
        "errors": [
            {
                "errorType": "DynamoDB:ThrottlingException",
                "message": "Throughput exceeds the current capacity of your table",
            }
        ],
    }
    route = respx.post(URL).mock(
        side_effect=[
            httpx.Response(200, json=throttled),
            httpx.Response(200, json={"data": {"ok": 1}}),
        ]
    )
    async with client() as c:
        assert await c.execute("query { ok }") == {"ok": 1}
    assert route.call_count == 2


@respx.mock
async def test_retries_are_logged_as_warnings_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    respx.post(URL).mock(
        side_effect=[httpx.Response(502), httpx.Response(200, json={"data": {}})]
    )
    with caplog.at_level(logging.DEBUG, logger="plexus_async"):
        async with client() as c:
            await c.execute("query { ok }")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "HTTP 502" in warnings[0].getMessage()
    assert all(KEY not in r.getMessage() for r in caplog.records)


async def test_a_closed_client_refuses_work() -> None:
    c = client()
    await c.aclose()
    await c.aclose()  # twice is harmless
    with pytest.raises(ClientClosed):
        await c.execute("query { ok }")
    with pytest.raises(ClientClosed):
        c.score_results.submit_nowait(
            value=1, itemId="i", accountId="a", scorecardId="s", scoreId="x"
        )


async def test_repr_hides_credentials_in_the_url() -> None:
    async with AsyncPlexusClient(
        "https://user:hunter2@plexus.example.com/graphql", KEY
    ) as c:
        assert "hunter2" not in repr(c) and "plexus.example.com" in repr(c)


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_a_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        AsyncPlexusClient(URL, KEY, timeout=timeout)
