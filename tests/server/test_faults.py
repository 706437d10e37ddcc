"""Fault injection: every switch, through real HTTP."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from plexus_async.server import Faults, LocalPlexusServer

from .helpers import BATCH, CREATE, GraphQL, aliased_creates, score_input

THROTTLED = "DynamoDB:ThrottlingException"


def create_batch(gql: GraphQL, count: int) -> tuple[list[str], httpx.Response]:
    inputs = [score_input() for _ in range(count)]
    variables = {f"i{n}": given for n, given in enumerate(inputs)}
    return [i["id"] for i in inputs], gql.post(aliased_creates(count), variables)


def test_error_rate_answers_5xx_and_executes_nothing(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    server.faults.error_rate = 1.0

    statuses = {create_batch(gql, 2)[1].status_code for _ in range(12)}

    assert statuses <= {500, 502, 503}
    assert len(statuses) > 1
    assert server.store.count() == 0
    assert {r.fault for r in server.requests} == {"error_rate"}


def test_throttle_rate_answers_429_with_retry_after(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    server.faults.throttle_rate = 1.0
    server.faults.retry_after = 0.05

    _, response = create_batch(gql, 2)

    assert response.status_code == 429
    assert response.headers["retry-after"] == "0.05"
    assert response.json()["errors"][0]["errorType"]
    assert server.store.count() == 0


def test_retry_after_defaults_to_one_second(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    server.faults.throttle_rate = 1.0

    assert create_batch(gql, 1)[1].headers["retry-after"] == "1"


def field_throttle_pattern(server: LocalPlexusServer, gql: GraphQL) -> list[bool]:
    ids, response = create_batch(gql, 20)
    body = response.json()
    throttled = {error["path"][0] for error in body["errors"]}
    for error in body["errors"]:
        assert error["errorType"] == THROTTLED
        assert error["message"].startswith(
            "Throughput exceeds the current capacity of your table or index."
        )
    stored = set(server.store.ids())
    for n, id in enumerate(ids):
        assert (body["data"][f"r{n}"] is None) == (f"r{n}" in throttled)
        assert (id in stored) == (f"r{n}" not in throttled)
    return [f"r{n}" in throttled for n in range(len(ids))]


def test_field_throttling_fails_some_aliases_and_commits_the_rest(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    server.faults.field_throttle_rate = 0.5

    pattern = field_throttle_pattern(server, gql)
    server.faults.reset()
    server.faults.field_throttle_rate = 0.5
    replay = field_throttle_pattern(server, gql)

    assert 0 < sum(pattern) < len(pattern)
    assert replay == pattern


def test_field_throttling_applies_to_batch_entries(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    server.faults.field_throttle_rate = 0.5
    inputs = [score_input() for _ in range(20)]

    body = gql(BATCH, {"inputs": inputs})

    failed = {error["path"][1] for error in body["errors"]}
    assert 0 < len(failed) < len(inputs)
    assert {error["errorType"] for error in body["errors"]} == {THROTTLED}
    assert server.store.count() == len(inputs) - len(failed)


def test_latency_delays_the_answer(server: LocalPlexusServer, gql: GraphQL) -> None:
    server.faults.latency = 0.3

    started = time.monotonic()
    _, response = create_batch(gql, 1)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_dropped_response_commits_but_the_client_sees_a_transport_error(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    server.faults.drop_response_rate = 1.0

    with pytest.raises(httpx.RemoteProtocolError):
        create_batch(gql, 3)

    assert server.store.count() == 3
    [record] = server.requests.snapshot()
    assert record.fault == "drop_response_rate"


def test_body_over_the_limit_gets_413(server: LocalPlexusServer, gql: GraphQL) -> None:
    server.faults.max_body_bytes = 2_000

    _, small = create_batch(gql, 1)
    _, large = create_batch(gql, 10)

    assert small.status_code == 200
    assert large.status_code == 413
    assert server.store.count() == 1


def test_outage_can_be_switched_on_and_off(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    server.faults.outage = True
    during = create_batch(gql, 1)[1].status_code
    server.faults.outage = False
    after = create_batch(gql, 1)[1].status_code

    assert during == 503
    assert after == 200
    assert server.store.count() == 1


def test_hang_leaves_the_client_to_time_out(server: LocalPlexusServer) -> None:
    server.faults.hang = True

    with (
        httpx.Client(headers={"x-api-key": "test-key"}, timeout=0.3) as http,
        pytest.raises(httpx.ReadTimeout),
    ):
        http.post(
            server.url, json={"query": CREATE, "variables": {"input": score_input()}}
        )
    server.faults.hang = False

    assert server.store.count() == 0
    assert server.requests.snapshot()[0].status is None


def test_server_stops_promptly_while_a_request_hangs(api_key: str) -> None:
    outcome: list[object] = []
    server = LocalPlexusServer(api_key=api_key, faults=Faults(hang=True))
    server.start()

    def call() -> None:
        try:
            outcome.append(httpx.post(server.url, json={}, timeout=10).status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    client = threading.Thread(target=call)
    client.start()
    while not len(server.requests):
        time.sleep(0.01)
    started = time.monotonic()
    server.close()
    client.join(5)

    assert time.monotonic() - started < 2
    assert outcome == [503]


def test_server_restarts_on_the_same_url(api_key: str) -> None:
    with LocalPlexusServer(api_key=api_key) as server:
        url = server.url
        server.stop()
        server.start()
        response = httpx.post(
            server.url, json={"query": "{ __typename }"}, headers={"x-api-key": api_key}
        )

    assert server.url == url
    assert response.json() == {"data": {"__typename": "Query"}}


def test_reset_switches_everything_off() -> None:
    faults = Faults(error_rate=0.5, hang=True, latency=1, max_body_bytes=10, seed=3)
    first = faults.rng.random()

    faults.reset()

    assert faults == Faults(seed=3)
    assert faults.rng.random() == first


@pytest.mark.parametrize(
    ("name", "value"),
    [("error_rate", 1.5), ("drop_response_rate", -0.1), ("latency", -1)],
)
def test_faults_reject_impossible_values(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=name):
        setattr(Faults(), name, value)


def test_reset_waits_for_abandoned_requests_before_clearing(
    server: LocalPlexusServer, api_key: str
) -> None:
    server.faults.latency = 0.3
    with (
        httpx.Client(headers={"x-api-key": api_key}, timeout=0.05) as http,
        pytest.raises(httpx.ReadTimeout),
    ):
        http.post(
            server.url, json={"query": CREATE, "variables": {"input": score_input()}}
        )

    server.reset()
    time.sleep(0.4)

    assert server.store.count() == 0
    assert server.app.in_flight == 0
    assert server.faults == Faults(seed=server.faults.seed)


def test_faults_can_be_replaced_while_running(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    original = server.faults
    server.faults = Faults(outage=True)
    try:
        assert create_batch(gql, 1)[1].status_code == 503
    finally:
        server.faults = original

    assert create_batch(gql, 1)[1].status_code == 200
