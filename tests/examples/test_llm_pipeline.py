"""examples/llm_pipeline.py against the local Plexus server."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from rich.console import Console

from plexus_async import AsyncPlexusClient, BatchConfig
from plexus_async.server import LocalPlexusServer

from .conftest import load_example

pipeline = load_example("llm_pipeline")

ITEMS = 120


def check_stored_once(server: LocalPlexusServer, summary: object, seed: int) -> None:
    """Every result stored once, with the value the seeded model gives."""
    assert isinstance(summary, pipeline.Summary)
    stored = Counter(server.store.ids())
    assert set(stored) == set(summary.committed_ids)
    assert max(stored.values()) == 1
    assert server.requests.fields().count("createScoreResult") == ITEMS

    model = pipeline.SimulatedModel(seed=seed)
    records = {record["itemId"]: record for record in server.store.all()}
    for item in pipeline.make_dataset(ITEMS, seed):
        expected = model.judge(item)
        record = records[item.id]
        assert (record["value"], record["confidence"]) == (
            expected.value,
            expected.confidence,
        )


async def test_main_stores_every_result_once(
    server: LocalPlexusServer, api_key: str
) -> None:
    options = pipeline.Options(
        items=ITEMS, concurrency=8, latency=0.01, api_url=server.url, api_key=api_key
    )
    console = Console(file=io.StringIO(), width=100)

    summary = await pipeline.amain(options, console)

    assert summary.ok
    assert (summary.scored, summary.committed, summary.failed) == (ITEMS, ITEMS, 0)
    assert summary.stored == ITEMS
    check_stored_once(server, summary, options.seed)
    output = console.file.getvalue()
    assert "committed" in output
    assert "all results stored" in output


def test_main_runs_on_trio(server: LocalPlexusServer, api_key: str) -> None:
    options = pipeline.Options(
        items=ITEMS,
        concurrency=8,
        latency=0.01,
        api_url=server.url,
        api_key=api_key,
        progress=False,
    )
    console = Console(file=io.StringIO())

    summary = anyio.run(pipeline.amain, options, console, backend="trio")

    assert summary.ok
    check_stored_once(server, summary, options.seed)


class CountingModel:
    """Records how many calls run at once; fails on the items it is told to."""

    def __init__(self, fail: frozenset[str] = frozenset()) -> None:
        self.fail = fail
        self.running = 0
        self.most = 0
        self.inner = pipeline.SimulatedModel(latency=0.005)

    async def score(self, item: Any) -> Any:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            if item.id in self.fail:
                await anyio.lowlevel.checkpoint()
                raise TimeoutError("the model did not answer")
            return await self.inner.score(item)
        finally:
            self.running -= 1


@pytest.mark.parametrize("concurrency", [1, 5])
async def test_model_calls_are_bounded_and_a_failed_call_skips_its_item(
    server: LocalPlexusServer, api_key: str, concurrency: int
) -> None:
    items = pipeline.make_dataset(40)
    model = CountingModel(fail=frozenset({items[3].id, items[17].id}))
    target = pipeline.Target("acct", "card", "score", "job-1")

    async with AsyncPlexusClient(
        server.url, api_key, batch=BatchConfig(max_latency=0.05)
    ) as client:
        summary = await pipeline.run_pipeline(
            client, items, model, target, concurrency=concurrency
        )

    assert model.most == concurrency
    assert (summary.scored, summary.committed, summary.model_errors) == (38, 38, 2)
    assert not summary.ok
    assert {id for id, _ in summary.failures} == {items[3].id, items[17].id}
    assert sorted(server.store.ids()) == sorted(summary.committed_ids)
