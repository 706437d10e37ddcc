"""Create an evaluation's predictions, then stream its corrections from a file.

    python examples/evaluation_corrections.py --local            # own local server
    python examples/evaluation_corrections.py --labels labels.csv # PLEXUS_API_URL/KEY

The labels file is CSV with the columns `id,label`: the human label of each
score result. Every row becomes an update (`correct`, and the label in
metadata) through the batching queue, which fetches the index companion fields
of the ids it does not know in batches, and groups the updates 25 a request.
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio
from rich.progress import Progress

from plexus_async import AsyncPlexusClient, PendingScoreResult, PlexusError

LABELS = ("Yes", "No")


async def create_predictions(
    client: AsyncPlexusClient, count: int, evaluation_id: str, seed: int = 7
) -> list[tuple[str, str]]:
    """Submit `count` predictions; return (id, predicted label) once stored."""
    rng = random.Random(seed)
    handles: list[tuple[PendingScoreResult, str]] = []
    for n in range(count):
        label = rng.choice(LABELS)
        handle = await client.score_results.submit(
            value=label,
            confidence=round(rng.uniform(0.5, 1.0), 3),
            itemId=f"ticket-{n}",
            accountId="acct-demo",
            scorecardId="card-demo",
            scoreId="score-escalation",
            evaluationId=evaluation_id,
        )
        handles.append((handle, label))
    await client.flush()
    return [(handle.id, label) for handle, label in handles]


def read_labels(path: Path) -> Iterator[tuple[str, str]]:
    """Yield (id, human label) rows of a labels file, one at a time."""
    with path.open(newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            yield row["id"], row["label"]


async def stream_corrections(
    client: AsyncPlexusClient, labels: Path, predicted: dict[str, str]
) -> tuple[int, int]:
    """Send one update per labels row; return (applied, failed)."""
    pending: list[PendingScoreResult] = []
    with Progress() as progress:
        sent = progress.add_task("corrections queued", total=len(predicted))
        for id, label in read_labels(labels):
            pending.append(
                await client.score_results.submit_update(
                    id,
                    correct=predicted.get(id) == label,
                    metadata={"human_label": label},
                )
            )
            progress.advance(sent)
        applied_task = progress.add_task("corrections applied", total=len(pending))
        applied = failed = 0
        for handle in pending:
            try:
                await handle
                applied += 1
            except PlexusError as exc:
                failed += 1
                progress.console.print(f"[red]{handle.id}[/red]: {exc}")
            progress.advance(applied_task)
    return applied, failed


async def main(
    client: AsyncPlexusClient, count: int, labels: Path | None, workdir: Path
) -> tuple[int, int]:
    """The whole flow on one client: predictions, a labels file, corrections."""
    created = await create_predictions(client, count, "eval-corrections-example")
    predicted = dict(created)
    if labels is None:
        # Simulated reviewers: they agree with the model four times in five.
        rng = random.Random(11)
        labels = workdir / "labels.csv"
        with labels.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["id", "label"])
            for id, label in created:
                other = LABELS[1 - LABELS.index(label)]
                writer.writerow([id, label if rng.random() < 0.8 else other])
    before = client.stats.requests
    applied, failed = await stream_corrections(client, labels, predicted)
    print(
        f"{applied} corrections applied, {failed} failed, "
        f"{client.stats.requests - before} requests"
    )
    return applied, failed


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000)
    parser.add_argument("--labels", type=Path, default=None)
    parser.add_argument("--local", action="store_true", help="start a local server")
    args = parser.parse_args()

    async def run(url: str | None, key: str | None, workdir: Path) -> None:
        async with AsyncPlexusClient(url, key) as client:
            await main(client, args.count, args.labels, workdir)

    with tempfile.TemporaryDirectory() as folder:
        if args.local:
            from plexus_async.server import LocalPlexusServer

            with LocalPlexusServer(api_key="example-key") as server:
                anyio.run(run, server.url, "example-key", Path(folder))
        else:
            anyio.run(run, None, None, Path(folder))


if __name__ == "__main__":
    cli()
