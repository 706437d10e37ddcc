"""The HTTP surface: authentication, malformed bodies, whole-request failures."""

from __future__ import annotations

import httpx
import pytest

from plexus_async.server import LocalPlexusServer

from .helpers import CREATE, GraphQL, score_input

ERROR_KEYS = {"path", "data", "errorType", "errorInfo", "locations", "message"}


def test_missing_key_is_401_with_appsync_message(server: LocalPlexusServer) -> None:
    response = httpx.post(server.url, json={"query": "{ __typename }"})

    assert response.status_code == 401
    assert response.json() == {
        "errors": [
            {
                "errorType": "UnauthorizedException",
                "message": "Valid authorization header not provided.",
            }
        ]
    }


def test_wrong_key_is_401_with_appsync_message(server: LocalPlexusServer) -> None:
    response = httpx.post(
        server.url, json={"query": "{ __typename }"}, headers={"x-api-key": "nope"}
    )

    assert response.status_code == 401
    assert response.json()["errors"][0] == {
        "errorType": "UnauthorizedException",
        "message": "You are not authorized to make this call.",
    }


def test_wrong_key_executes_nothing(server: LocalPlexusServer) -> None:
    httpx.post(
        server.url,
        json={"query": CREATE, "variables": {"input": score_input()}},
        headers={"x-api-key": "nope"},
    )

    assert server.store.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"{not json",
        b"[1, 2]",
        b'{"variables": {}}',
        b'{"query": 3}',
        b'{"query": "{ __typename }", "variables": [1]}',
        b'{"query": "{ __typename }", "variables": {"x": NaN}}',
    ],
)
def test_malformed_body_is_400(
    server: LocalPlexusServer, api_key: str, body: bytes
) -> None:
    response = httpx.post(
        server.url,
        content=body,
        headers={"x-api-key": api_key, "content-type": "application/json"},
    )

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["errorType"] == "MalformedHttpRequestException"


def test_other_paths_and_methods_are_refused(server: LocalPlexusServer) -> None:
    base = server.url.removesuffix("/graphql")

    assert httpx.post(base + "/other", json={}).status_code == 404
    assert httpx.get(server.url).status_code == 405


def test_validation_error_fails_the_whole_request(gql: GraphQL) -> None:
    body = gql('{ getScoreResult(id: "x") { id notAField } }')

    assert body["data"] is None
    [error] = body["errors"]
    assert set(error) == ERROR_KEYS
    assert error["path"] is None
    assert error["errorType"] is None
    assert error["locations"][0]["line"] == 1
    assert "notAField" in error["message"]


def test_syntax_error_fails_the_whole_request(gql: GraphQL) -> None:
    body = gql("{ getScoreResult(id: ")

    assert body["data"] is None
    assert body["errors"][0]["errorType"] is None


def test_subscriptions_are_not_served(gql: GraphQL) -> None:
    body = gql("subscription { onCreateScoreResult { id } }")

    assert body["data"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("value", None),
        ("unknownField", "x"),
        ("metadata", "{not json"),
        ("metadata", {"a": 1}),
        ("createdAt", "2026-12-03T16:22:44"),
        ("confidence", "high"),
    ],
)
def test_variable_coercion_error_fails_every_field(
    server: LocalPlexusServer, gql: GraphQL, field: str, value: object
) -> None:
    document = """
    mutation($good: CreateScoreResultInput!, $bad: CreateScoreResultInput!) {
      a: createScoreResult(input: $good) { id }
      b: createScoreResult(input: $bad) { id }
    }
    """
    bad = score_input(**{field: value})

    body = gql(document, {"good": score_input(), "bad": bad})

    assert body["data"] is None
    [error] = body["errors"]
    assert set(error) == ERROR_KEYS
    assert error["errorType"] is None
    assert error["path"] is None
    assert server.store.count() == 0


def test_request_log_records_status_fields_and_size(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    response = gql.post(CREATE, {"input": score_input()})
    httpx.post(server.url, json={"query": "{ __typename }"})

    [first, second] = server.requests.snapshot()
    assert first.status == 200
    assert first.fields == ("createScoreResult",)
    assert first.body_bytes == len(response.request.content)
    assert second.status == 401
    assert server.requests.statuses() == [200, 401]
    assert server.requests.fields() == ["createScoreResult", "__typename"]
