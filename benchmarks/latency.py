"""Latency: submit-to-commit under a steady offered load, on loopback.

The bound each percentile is held to is `max_latency` plus one request's
round trip, the round trip being a full batch (`max_batch_size` results)
sent with `ScoreResult.batch_create` to the same server in the same run.
"""

from __future__ import annotations

import time

import anyio

from plexus_async import AsyncPlexusClient, BatchConfig, PendingScoreResult, ScoreResult

from ._common import (
    API_KEY,
    Outcome,
    Row,
    fields_for,
    median,
    percentile,
    server_process,
)

NAME = "latency"
SMALL_MAX_LATENCY = 0.05
_ROUND_TRIPS = 15


async def _round_trip(url: str, offset: int) -> list[float]:
    """Seconds of a full batch's round trip, measured `_ROUND_TRIPS` times."""
    samples: list[float] = []
    async with AsyncPlexusClient(url, API_KEY) as client:
        size = client.batch_config.max_batch_size
        for k in range(_ROUND_TRIPS + 1):
            chunk = [fields_for(offset + k * size + i) for i in range(size)]
            started = time.perf_counter()
            await ScoreResult.batch_create(client, chunk)
            samples.append(time.perf_counter() - started)
    return samples[1:]  # The first one opens the connection.


async def _offered_load(
    url: str, max_latency: float, rate: float, seconds: float, offset: int
) -> list[float]:
    """Submit at `rate` per second for `seconds`; return each submit-to-commit."""
    latencies: list[float] = []

    async def settle(handle: PendingScoreResult, submitted: float) -> None:
        await handle
        latencies.append(time.perf_counter() - submitted)

    count = max(1, round(rate * seconds))
    batch = BatchConfig(max_latency=max_latency)
    async with AsyncPlexusClient(url, API_KEY, batch=batch) as client:
        # One create opens the connection, as a running service's would be.
        await ScoreResult.create(client, **fields_for(offset + count))
        async with anyio.create_task_group() as tg:
            start = time.perf_counter()
            for i in range(count):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await anyio.sleep(delay)
                submitted = time.perf_counter()
                handle = await client.score_results.submit(**fields_for(offset + i))
                tg.start_soon(settle, handle, submitted)
    return latencies


def run(rates: tuple[int, ...], seconds: float) -> Outcome:
    """Measure latency at the default and at a small `max_latency`, per rate."""
    default = BatchConfig().max_latency
    outcome = Outcome(NAME)
    offset = 0
    with server_process() as server:
        trips = anyio.run(_round_trip, server.url, 50_000_000)
        trip = median(trips)
        outcome.details["round_trip_ms"] = {
            "p50": trip * 1e3,
            "max": max(trips) * 1e3,
            "batch_size": BatchConfig().max_batch_size,
        }
        for max_latency in (default, SMALL_MAX_LATENCY):
            for rate in rates:
                offset += 10_000_000
                samples = anyio.run(
                    _offered_load, server.url, max_latency, rate, seconds, offset
                )
                bound = max_latency + trip
                label = f"max_latency={max_latency:g}s, {rate}/s"
                p50, p99 = percentile(samples, 50), percentile(samples, 99)
                worst = max(samples)
                outcome.details[label] = {
                    "samples": len(samples),
                    "p50_ms": p50 * 1e3,
                    "p99_ms": p99 * 1e3,
                    "max_ms": worst * 1e3,
                    "bound_ms": bound * 1e3,
                }
                baseline = "max_latency + round trip"
                outcome.rows += [
                    Row(NAME, f"p50, {label}", p50 * 1e3, "ms", baseline, bound * 1e3),
                    Row(
                        NAME,
                        f"p99, {label}",
                        p99 * 1e3,
                        "ms",
                        baseline,
                        bound * 1e3,
                        "≤ 1x",
                        p99 <= bound,
                    ),
                    Row(
                        NAME, f"max, {label}", worst * 1e3, "ms", baseline, bound * 1e3
                    ),
                ]
    return outcome
