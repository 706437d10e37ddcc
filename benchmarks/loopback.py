"""Loopback: the local server in its own process, N concurrent producers.

Three ways to store the same results: the batching queue, one
`ScoreResult.create` per result, and a hand-written loop of
`ScoreResult.batch_create` calls of the queue's batch size. Then the same
again with the server waiting 20 ms before each answer, as a remote API's
round trip would, where what batching saves is round trips rather than CPU.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from plexus_async import AsyncPlexusClient, BatchConfig, ScoreResult

from ._common import API_KEY, Outcome, Row, ServerProcess, fields_for, server_process

NAME = "loopback"
TARGET_RATIO = 10.0
REMOTE_LATENCY = 0.02
"""Seconds the server waits before each answer in the remote-like comparison."""

Producer = Callable[[AsyncPlexusClient, range], Awaitable[int]]


async def _queue(client: AsyncPlexusClient, share: range) -> int:
    submit = client.score_results.submit
    for i in share:
        await submit(**fields_for(i))
    return 0  # Committed later; `_drive` reads the count after the flush.


async def _create_each(client: AsyncPlexusClient, share: range) -> int:
    for i in share:
        await ScoreResult.create(client, **fields_for(i))
    return len(share)


async def _batch_create_loop(client: AsyncPlexusClient, share: range) -> int:
    size = client.batch_config.max_batch_size
    stored = 0
    for start in range(share.start, share.stop, size):
        chunk = [fields_for(i) for i in range(start, min(start + size, share.stop))]
        stored += len(await ScoreResult.batch_create(client, chunk))
    return stored


WAYS: dict[str, Producer] = {
    "create_each": _create_each,
    "batch_create_loop": _batch_create_loop,
    "queue": _queue,
}


async def _drive(
    url: str,
    producer: Producer,
    total: int,
    producers: int,
    offset: int,
    batch: BatchConfig | None = None,
) -> tuple[float, int]:
    """Run `producers` tasks splitting `total` results; return (seconds, stored)."""
    counts: list[int] = []

    async def one(share: range) -> None:
        counts.append(await producer(client, share))

    bounds = [offset + total * k // producers for k in range(producers + 1)]
    async with AsyncPlexusClient(url, API_KEY, batch=batch or BatchConfig()) as client:
        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for k in range(producers):
                tg.start_soon(one, range(bounds[k], bounds[k + 1]))
        await client.flush()
        elapsed = time.perf_counter() - started
        # Direct calls return what they stored; the queue counts its commits.
        stored = sum(counts) + client.stats.committed
    return elapsed, stored


def _measure(
    server: ServerProcess,
    producer: Producer,
    total: int,
    producers: int,
    batch: BatchConfig | None,
) -> dict[str, float]:
    before = server.cpu_seconds()
    cpu = time.process_time()
    seconds, stored = anyio.run(
        _drive, server.url, producer, total, producers, 0, batch
    )
    cpu = time.process_time() - cpu
    after = server.cpu_seconds()
    figures = {
        "seconds": seconds,
        "stored": stored,
        "rate": total / seconds,
        "client_cpu_share": cpu / seconds,
    }
    if before is not None and after is not None:
        figures["server_cpu_share"] = (after - before) / seconds
    return figures


def trial(
    producer: Producer,
    total: int,
    producers: int,
    latency: float = 0.0,
    batch: BatchConfig | None = None,
) -> dict[str, float]:
    """One measurement against a fresh server, so no way meets a fuller store.

    `batch` configures the measured client only (the warm-up uses defaults).
    """
    with server_process(latency) as server:
        # Warm the server (imports, caches, SQLite) outside the timing.
        anyio.run(_drive, server.url, _batch_create_loop, 50, 2, 10_000_000)
        figures = _measure(server, producer, total, producers, batch)
    if figures["stored"] != total:
        stored = figures["stored"]
        raise RuntimeError(f"{producer.__name__}: stored {stored} of {total}")
    return figures


def _compare(total: int, producers: int, rounds: int, latency: float) -> dict[str, Any]:
    """Store `total` results three ways, `rounds` times each; keep the median.

    The ways take turns in each round, so that load from elsewhere on the
    machine falls on all three alike.
    """
    trials: dict[str, list[dict[str, float]]] = {name: [] for name in WAYS}
    for round in range(rounds):
        names = list(WAYS)
        names = names[round % len(names) :] + names[: round % len(names)]
        for name in names:
            trials[name].append(trial(WAYS[name], total, producers, latency))
    median = {
        name: sorted(runs, key=lambda t: t["rate"])[len(runs) // 2]
        for name, runs in trials.items()
    }
    return {
        "results": total,
        "producers": producers,
        "rounds": rounds,
        "added_latency_s": latency,
        "median": median,
        "trials": trials,
    }


def _rows(label: str, figures: dict[str, Any], target: bool) -> list[Row]:
    median = figures["median"]
    queue = median["queue"]["rate"]
    each = median["create_each"]["rate"]
    return [
        Row(
            NAME,
            f"queue, {label}",
            queue,
            "results/s",
            "one create per result",
            each,
            f"≥ {TARGET_RATIO:g}x" if target else "",
            queue / each >= TARGET_RATIO if target else None,
        ),
        Row(
            NAME,
            f"queue, {label}",
            queue,
            "results/s",
            "batch_create loop",
            median["batch_create_loop"]["rate"],
        ),
    ]


def run(
    total: int,
    producers: int,
    rounds: int = 3,
    remote_total: int = 0,
    remote_latency: float = REMOTE_LATENCY,
) -> Outcome:
    """Compare the three ways on plain loopback, then with a remote round trip."""
    outcome = Outcome(NAME)
    local = _compare(total, producers, rounds, 0.0)
    outcome.details["loopback"] = local
    outcome.rows += _rows(f"{producers} producers", local, target=True)
    if remote_total:
        remote = _compare(remote_total, producers, 1, remote_latency)
        outcome.details["remote"] = remote
        label = f"{producers} producers, +{remote_latency * 1e3:g} ms/request"
        outcome.rows += _rows(label, remote, target=False)
    return outcome
