"""Property-based: random interleavings of submits, updates, flushes, waiter
cancellations and fault switches keep every promise of the queue."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plexus_async import (
    AsyncPlexusClient,
    BatchConfig,
    PendingScoreResult,
    RetryConfig,
    ScoreResult,
)
from plexus_async.server import LocalPlexusServer

from ._support import result_fields

FAULTS = {
    "error_rate": 0.2,
    "drop_response_rate": 0.2,
    "field_throttle_rate": 0.2,
    "latency": 0.02,
}

steps = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.integers(1, 6)),
        st.tuples(st.just("update"), st.integers(0, 1_000), st.booleans()),
        st.tuples(st.just("flush"), st.just(0)),
        st.tuples(st.just("cancel_wait"), st.integers(0, 1_000)),
        st.tuples(st.just("fault"), st.sampled_from(sorted(FAULTS)), st.booleans()),
        st.tuples(st.just("sleep"), st.sampled_from([0.0, 0.005, 0.03])),
    ),
    min_size=5,
    max_size=40,
)


class JitterTransport(httpx.AsyncBaseTransport):
    """Real HTTP, each request held back a random moment, so that requests
    sent close together can reach the server in either order."""

    def __init__(self, seed: int) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.random = random.Random(seed)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await anyio.sleep(self.random.choice([0, 0, 0.002, 0.01, 0.03]))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Model:
    """What was submitted, in order: the reference for the final state."""

    creates: list[PendingScoreResult] = field(default_factory=list)
    updates: list[tuple[PendingScoreResult, str, dict[str, Any]]] = field(
        default_factory=list
    )


async def run(
    program: list[tuple[Any, ...]], seed: int, server: LocalPlexusServer, key: str
) -> None:
    model = Model()
    retry = RetryConfig(max_attempts=40, initial_delay=0.002, max_delay=0.02, jitter=0)
    config = BatchConfig(max_batch_size=4, max_latency=0.01, max_concurrent_requests=3)
    version = 0
    transport = JitterTransport(seed)
    async with AsyncPlexusClient(
        server.url, key, retry=retry, batch=config, transport=transport
    ) as client:
        async with anyio.create_task_group() as tg:
            for step in program:
                kind = step[0]
                if kind == "submit":
                    for _ in range(step[1]):
                        n = len(model.creates)
                        model.creates.append(
                            await client.score_results.submit(**result_fields(n))
                        )
                elif kind == "update" and model.creates:
                    target = model.creates[step[1] % len(model.creates)]
                    version += 1
                    fields = {"metadata": {"v": version}, "correct": step[2]}
                    handle = await client.score_results.submit_update(
                        target.id, **fields
                    )
                    model.updates.append((handle, target.id, fields))
                elif kind == "flush":
                    await client.flush()
                elif kind == "cancel_wait" and model.creates:
                    target = model.creates[step[1] % len(model.creates)]
                    with anyio.move_on_after(0.001):
                        await target
                elif kind == "fault":
                    setattr(server.faults, step[1], FAULTS[step[1]] if step[2] else 0)
                elif kind == "sleep":
                    await anyio.sleep(step[1])
            tg.cancel_scope.cancel()
        server.faults.reset()
        report = await client.flush()

    assert not report.timed_out and report.failed == 0
    handles = model.creates + [u[0] for u in model.updates]
    assert all(h.done() and h.exception() is None for h in handles)

    stored = {r["id"]: ScoreResult.from_dict(r) for r in server.store.all()}
    assert set(stored) == {h.id for h in model.creates}
    expected: dict[str, dict[str, Any]] = {}
    for _, id, fields in model.updates:
        expected.setdefault(id, {}).update(fields)
    for id, record in stored.items():
        want = expected.get(id, {"metadata": None, "correct": None})
        assert record.metadata == want["metadata"], id
        assert record.correct == want["correct"], id
    # Each update handle saw its own write or a later one of the same id.
    for handle, id, fields in model.updates:
        seen = handle.result().metadata
        assert seen is not None and seen["v"] >= fields["metadata"]["v"]
        assert handle.result().id == id


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(program=steps, seed=st.integers(0, 2**32))
def test_random_interleavings_keep_every_promise(
    program: list[tuple[Any, ...]], seed: int, server: LocalPlexusServer, api_key: str
) -> None:
    server.faults.reset()
    server.store.clear()
    anyio.run(run, program, seed, server, api_key)
