"""Latency: submit-to-commit under a steady offered load, on loopback.

Each percentile is held to `max_latency` plus the p99 round trip of the
requests of the same load (read from the SDK's DEBUG request log): a result
may wait up to `max_latency`, and then its request takes what the network
and server take. A full batch's round trip, measured on its own before the
loads, stands in when that log line cannot be read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

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


class _RoundTrips(logging.Handler):
    """Collects the milliseconds of each `request: ... in %.1f ms` DEBUG line."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.samples: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("request:") and record.args:
            last = record.args[-1] if isinstance(record.args, tuple) else None
            if isinstance(last, float):
                self.samples.append(last / 1e3)


@contextmanager
def _round_trips() -> Iterator[_RoundTrips]:
    logger = logging.getLogger("plexus_async")
    handler = _RoundTrips()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def _full_batch_round_trips(url: str, offset: int) -> list[float]:
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
        full = anyio.run(_full_batch_round_trips, server.url, 50_000_000)
        outcome.details["full_batch_round_trip_ms"] = {
            "p50": median(full) * 1e3,
            "max": max(full) * 1e3,
            "batch_size": BatchConfig().max_batch_size,
        }
        for max_latency in (default, SMALL_MAX_LATENCY):
            for rate in rates:
                offset += 10_000_000
                with _round_trips() as trips:
                    samples = anyio.run(
                        _offered_load, server.url, max_latency, rate, seconds, offset
                    )
                # Skip the request that opened the connection.
                in_run = trips.samples[1:] or full
                trip = percentile(in_run, 99)
                bound = max_latency + trip
                label = f"max_latency={max_latency:g}s, {rate}/s"
                p50, p99 = percentile(samples, 50), percentile(samples, 99)
                worst = max(samples)
                outcome.details[label] = {
                    "samples": len(samples),
                    "p50_ms": p50 * 1e3,
                    "p99_ms": p99 * 1e3,
                    "max_ms": worst * 1e3,
                    "requests": len(in_run),
                    "round_trip_p50_ms": median(in_run) * 1e3,
                    "round_trip_p99_ms": trip * 1e3,
                    "bound_ms": bound * 1e3,
                }
                baseline = "max_latency + p99 round trip"
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
