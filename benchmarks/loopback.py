"""Loopback: the local server in its own process, N concurrent producers.

Three ways to store the same results: the batching queue, one
`ScoreResult.create` per result, and a hand-written loop of
`ScoreResult.batch_create` calls of the queue's batch size.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

from plexus_async import AsyncPlexusClient, BatchConfig, ScoreResult

from ._common import API_KEY, Outcome, Row, ServerProcess, fields_for, server_process

NAME = "loopback"
TARGET_RATIO = 10.0

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


async def _drive(
    url: str, producer: Producer, total: int, producers: int, offset: int
) -> tuple[float, int]:
    """Run `producers` tasks splitting `total` results; return (seconds, stored)."""
    counts: list[int] = []

    async def one(share: range) -> None:
        counts.append(await producer(client, share))

    bounds = [offset + total * k // producers for k in range(producers + 1)]
    async with AsyncPlexusClient(url, API_KEY, batch=BatchConfig()) as client:
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
    server: ServerProcess, producer: Producer, total: int, producers: int, offset: int
) -> dict[str, float]:
    before = server.cpu_seconds()
    cpu = time.process_time()
    seconds, stored = anyio.run(_drive, server.url, producer, total, producers, offset)
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


def run(total: int, producers: int, rounds: int = 3) -> Outcome:
    """Store `total` results three ways, `rounds` times, against one server.

    The ways take turns in each round and the median round counts, so that
    load from elsewhere on the machine falls on all three alike.
    """
    ways: dict[str, Producer] = {
        "create_each": _create_each,
        "batch_create_loop": _batch_create_loop,
        "queue": _queue,
    }
    trials: dict[str, list[dict[str, float]]] = {name: [] for name in ways}
    with server_process() as server:
        # Warm the server (imports, caches, SQLite) outside the timing.
        anyio.run(_drive, server.url, _batch_create_loop, 50, 2, 10_000_000)
        offset = 0
        for round in range(rounds):
            names = list(ways)
            names = names[round % len(names) :] + names[: round % len(names)]
            for name in names:
                trial = _measure(server, ways[name], total, producers, offset)
                offset += total
                if trial["stored"] != total:
                    raise RuntimeError(f"{name}: stored {trial['stored']} of {total}")
                trials[name].append(trial)

    figures = {
        name: sorted(runs, key=lambda t: t["rate"])[len(runs) // 2]
        for name, runs in trials.items()
    }
    queue = figures["queue"]["rate"]
    outcome = Outcome(NAME)
    outcome.details = {
        "results": total,
        "producers": producers,
        "rounds": rounds,
        "median": figures,
        "trials": trials,
    }
    outcome.rows += [
        Row(
            NAME,
            f"queue, {producers} producers",
            queue,
            "results/s",
            "one create per result",
            figures["create_each"]["rate"],
            f"≥ {TARGET_RATIO:g}x",
            queue / figures["create_each"]["rate"] >= TARGET_RATIO,
        ),
        Row(
            NAME,
            f"queue, {producers} producers",
            queue,
            "results/s",
            "batch_create loop",
            figures["batch_create_loop"]["rate"],
        ),
    ]
    return outcome
