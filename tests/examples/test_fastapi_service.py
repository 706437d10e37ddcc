"""examples/fastapi_service.py under uvicorn, next to the local Plexus server."""

from __future__ import annotations

import ssl
import statistics
import time
from collections import Counter
from typing import Any

import anyio
import httpx

from plexus_async import AsyncPlexusClient, BatchConfig, RetryConfig
from plexus_async.server import LocalPlexusServer

from .conftest import load_example, serving

service = load_example("fastapi_service")

REQUESTS = 2_013
"""Not a multiple of the batch size, so some results wait for the drain."""
CONCURRENCY = 100
FAST_RETRY = RetryConfig(initial_delay=0.01, max_delay=0.05, jitter=0.01)


def text_of(n: int) -> str:
    return "I want a refund, now" if n % 3 == 0 else "thanks, all good"


def timed(app: Any, durations: list[float]) -> Any:
    """Wrap an ASGI app to record how long each HTTP request spends inside it."""

    async def wrapper(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        started = time.perf_counter()
        try:
            await app(scope, receive, send)
        finally:
            durations.append(time.perf_counter() - started)

    return wrapper


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99, in milliseconds."""
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49] * 1000, cuts[98] * 1000


async def test_concurrent_requests_are_each_stored_once_after_shutdown(
    server: LocalPlexusServer, api_key: str
) -> None:
    # A batch goes out only when 25 results are ready: with a 30 s latency the
    # last partial batch is still queued at shutdown, which must send it.
    batch = BatchConfig(max_batch_size=25, max_latency=30.0)
    app = service.create_app(
        lambda: AsyncPlexusClient(server.url, api_key, batch=batch, retry=FAST_RETRY)
    )
    ids: dict[str, int] = {}
    latencies: list[float] = []
    in_app: list[float] = []
    # One httpx client per concurrent sender: a shared pool's bookkeeping
    # grows with connections x waiting requests (encode/httpcore#1035) and
    # would measure the load generator instead of the app. They share one TLS
    # context, which is slow to build.
    tls = ssl.create_default_context()

    async def sender(url: str, numbers: range) -> None:
        async with httpx.AsyncClient(base_url=url, verify=tls, timeout=30) as http:
            for n in numbers:
                body = {"item_id": f"item-{n}", "text": text_of(n)}
                sent = time.perf_counter()
                response = await http.post("/score", json=body)
                latencies.append(time.perf_counter() - sent)
                assert response.status_code == 202, response.text
                ids[response.json()["id"]] = n

    started = time.perf_counter()
    async with serving(timed(app, in_app)) as url:
        async with anyio.create_task_group() as tg:
            for first in range(CONCURRENCY):
                tg.start_soon(sender, url, range(first, REQUESTS, CONCURRENCY))
        stored_before_shutdown = server.store.count()
    elapsed = time.perf_counter() - started

    stored = Counter(server.store.ids())
    duplicates = sum(count - 1 for count in stored.values())
    p50, p99 = percentiles(latencies)
    app_p50, app_p99 = percentiles(in_app)
    print(
        f"\nFastAPI example: {REQUESTS} requests ({CONCURRENCY} at once), "
        f"{len(stored)} stored, {duplicates} duplicates, "
        f"{REQUESTS - stored_before_shutdown} sent by the shutdown drain; "
        f"round trip p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
        f"in the app p50 {app_p50:.1f} ms, p99 {app_p99:.1f} ms; "
        f"{elapsed:.1f} s in all"
    )

    assert len(ids) == REQUESTS
    assert stored_before_shutdown < REQUESTS
    assert set(stored) == set(ids)
    assert duplicates == 0
    assert server.requests.fields().count("createScoreResult") == REQUESTS
    for record in server.store.all():
        n = ids[record["id"]]
        assert record["itemId"] == f"item-{n}"
        assert record["value"] == service.score_text(text_of(n))[0]


async def _state(http: httpx.AsyncClient, id: str) -> tuple[int, dict[str, Any]]:
    response = await http.get(f"/score/{id}")
    return response.status_code, response.json()


async def _wait_committed(http: httpx.AsyncClient, id: str) -> dict[str, Any]:
    with anyio.fail_after(10):
        while True:
            status, body = await _state(http, id)
            if status == 200 and body["status"] == "committed":
                return body
            await anyio.sleep(0.02)


async def test_get_reports_pending_then_committed(
    server: LocalPlexusServer, api_key: str
) -> None:
    # Batches of two: the first result waits for the second. The app keeps
    # one handle, so the first is then looked up in Plexus instead.
    batch = BatchConfig(max_batch_size=2, max_latency=30.0)
    app = service.create_app(
        lambda: AsyncPlexusClient(server.url, api_key, batch=batch, retry=FAST_RETRY),
        recent_limit=1,
    )

    async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
        first = await http.post("/score", json={"item_id": "a", "text": "refund"})
        assert first.status_code == 202
        assert first.json()["value"] == "Yes"
        first_id = first.json()["id"]
        assert await _state(http, first_id) == (
            200,
            {"id": first_id, "status": "pending", "error": None},
        )

        second = await http.post("/score", json={"item_id": "b", "text": "fine"})
        second_id = second.json()["id"]
        assert (await _wait_committed(http, second_id))["id"] == second_id
        assert (await _wait_committed(http, first_id))["id"] == first_id

        missing = await http.get("/score/no-such-id")
        assert missing.status_code == 404
        invalid = await http.post("/score", json={"text": "no item id"})
        assert invalid.status_code == 422

    assert set(server.store.ids()) == {first_id, second_id}
