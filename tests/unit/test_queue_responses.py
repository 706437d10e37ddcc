"""How the queue reads AppSync answers it may meet, over respx."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from plexus_async import (
    AsyncPlexusClient,
    AuthenticationError,
    BatchConfig,
    RetryConfig,
)

URL = "https://plexus.example.com/graphql"
FAST = RetryConfig(initial_delay=0, jitter=0, max_delay=0, max_attempts=4)
FIELDS = {"itemId": "i", "accountId": "a", "scorecardId": "s", "scoreId": "x"}


def stamps(id: str) -> dict[str, str]:
    return {
        "id": id,
        "createdAt": "2026-12-03T16:22:44.158Z",
        "updatedAt": "2026-12-03T16:22:44.158Z",
    }


@respx.mock
async def test_data_null_with_per_field_errors_is_read_field_by_field() -> None:
    """An answer may carry `data: null` when every field failed; a conditional
    check failure on a retry still means the earlier attempt stored it."""
    sent: list[dict[str, object]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body)
        if len(sent) == 1:
            return httpx.Response(503)  # the first attempt may have stored them
        if "getScoreResult" in body["query"]:
            return httpx.Response(
                200,
                json={
                    "data": {
                        alias: {**FIELDS, "value": "Yes", **stamps(id)}
                        for alias, id in body["variables"].items()
                    }
                },
            )
        errors = [
            {
                "path": [alias],
                "errorType": "DynamoDB:ConditionalCheckFailedException",
                "message": "The conditional request failed",
            }
            for alias in body["variables"]
        ]
        return httpx.Response(200, json={"data": None, "errors": errors})

    respx.post(URL).mock(side_effect=answer)
    async with AsyncPlexusClient(
        URL, "k", retry=FAST, batch=BatchConfig(max_latency=0.01)
    ) as client:
        handles = [
            client.score_results.submit_nowait(value="Yes", **FIELDS) for _ in range(3)
        ]
        results = [await h for h in handles]
    assert [r.id for r in results] == [h.id for h in handles]
    assert len(sent) == 3  # 503, the conditional failures, one read of all three


@respx.mock
async def test_pathless_errors_reject_the_document_and_it_is_split() -> None:
    calls: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        variables = json.loads(request.content)["variables"]
        calls.append(len(variables))
        bad = [v for v in variables.values() if v["itemId"] == "poison"]
        if bad:
            error = {"path": None, "message": "Variable 'c1' has an invalid value"}
            return httpx.Response(200, json={"data": None, "errors": [error]})
        return httpx.Response(
            200, json={"data": {a: stamps(v["id"]) for a, v in variables.items()}}
        )

    respx.post(URL).mock(side_effect=answer)
    async with AsyncPlexusClient(
        URL, "k", retry=FAST, batch=BatchConfig(max_latency=30)
    ) as client:
        queue = client.score_results
        good = [queue.submit_nowait(value=1, **FIELDS) for _ in range(3)]
        poison = queue.submit_nowait(value=1, **{**FIELDS, "itemId": "poison"})
        await client.flush()
    assert all(h.exception() is None for h in good)
    assert poison.exception() is not None
    assert calls[0] == 4 and sum(calls) < 4 * 3


@respx.mock
async def test_a_field_missing_from_the_answer_is_retried() -> None:
    answers = iter([{"data": {}}, None])

    def answer(request: httpx.Request) -> httpx.Response:
        variables = json.loads(request.content)["variables"]
        body = next(answers) or {
            "data": {a: stamps(v["id"]) for a, v in variables.items()}
        }
        return httpx.Response(200, json=body)

    respx.post(URL).mock(side_effect=answer)
    async with AsyncPlexusClient(
        URL, "k", retry=FAST, batch=BatchConfig(max_latency=0.01)
    ) as client:
        handle = client.score_results.submit_nowait(value=1, **FIELDS)
        result = await handle
    assert result.id == handle.id


@pytest.mark.parametrize("status", [401, 403])
@respx.mock
async def test_an_auth_failure_fails_the_batch_without_retrying(status: int) -> None:
    route = respx.post(URL).respond(status, json={"errors": [{"message": "no"}]})
    async with AsyncPlexusClient(
        URL, "k", retry=FAST, batch=BatchConfig(max_latency=0.01)
    ) as client:
        handle = client.score_results.submit_nowait(value=1, **FIELDS)
        with pytest.raises(AuthenticationError, match=f"HTTP {status}"):
            await handle
    assert route.call_count == 1
