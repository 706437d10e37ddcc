"""The main job on a small slice of the real dataset, and its verification."""

from __future__ import annotations

from plexus_async import AsyncPlexusClient
from plexus_async._demo import run_demo
from plexus_async.server import LocalPlexusServer


async def test_demo_stores_every_prediction_once_and_accuracies_agree(
    server: LocalPlexusServer, api_key: str
) -> None:
    lines: list[str] = []
    async with AsyncPlexusClient(server.url, api_key) as client:
        summary = await run_demo(
            client,
            account_id="acct",
            scorecard_id="card",
            score_id="score",
            limit=120,
            report=lines.append,
        )
    assert summary.ok, summary
    assert summary.records == summary.stored == summary.corrections_applied == 120
    assert summary.duplicates == 0
    assert 0.8 < summary.accuracy_server == summary.accuracy_local <= 1.0
    assert server.store.count() == 120
    assert lines, "the demo reports its progress"


async def test_demo_verification_fails_when_a_result_is_missing(
    server: LocalPlexusServer, api_key: str
) -> None:
    # The verdict must be able to fail: drop the stored rows of one item
    # before reading back by running the check on a summary with one missing.
    async with AsyncPlexusClient(server.url, api_key) as client:
        summary = await run_demo(
            client,
            account_id="acct",
            scorecard_id="card",
            score_id="score",
            limit=40,
            report=lambda _: None,
        )
    from dataclasses import replace

    assert summary.ok
    assert not replace(summary, stored=summary.stored - 1).ok
    assert not replace(summary, duplicates=1).ok
    assert not replace(summary, accuracy_server=summary.accuracy_local - 0.01).ok
