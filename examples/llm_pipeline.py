"""An LLM scoring pipeline: a dataset scored with bounded concurrency, each
result sent to Plexus as soon as it exists.

    python examples/llm_pipeline.py --items 500            # PLEXUS_API_URL/KEY
    python examples/llm_pipeline.py --items 500 --local    # a local Plexus server

The model here is simulated (a seeded answer after a random delay). A real one
drops in as any object with `async def score(self, item: Item) -> Score`.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from plexus_async import AsyncPlexusClient, PendingScoreResult, PlexusError, ScoreResult

TOPICS = ("billing", "refund", "shipping", "login", "cancellation", "praise")


# -- the dataset and the model --------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One thing to score."""

    id: str
    text: str


@dataclass(frozen=True)
class Score:
    """What the model said about an item."""

    value: str
    confidence: float
    explanation: str
    cost: dict[str, Any] = field(default_factory=dict)


class Scorer(Protocol):
    """Anything that scores an item: a real model client fits here."""

    async def score(self, item: Item) -> Score: ...


def make_dataset(count: int, seed: int = 0) -> list[Item]:
    """`count` synthetic support tickets, the same ones for the same seed."""
    rng = random.Random(seed)
    return [
        Item(
            id=f"ticket-{n:06d}",
            text=f"Customer writes about {rng.choice(TOPICS)} "
            f"({rng.randint(1, 5)} messages).",
        )
        for n in range(count)
    ]


class SimulatedModel:
    """Stands in for an LLM: waits a random time, then answers "does this ticket
    need escalation?" deterministically for each item and seed."""

    name = "simulated-llm"

    def __init__(self, *, seed: int = 0, latency: float = 0.2) -> None:
        self.seed = seed
        self.latency = latency

    async def score(self, item: Item) -> Score:
        delay = random.Random(f"{self.seed}:{item.id}:latency").uniform(0.25, 1.75)
        await anyio.sleep(delay * self.latency)
        return self.judge(item)

    def judge(self, item: Item) -> Score:
        """The answer alone, without the wait."""
        rng = random.Random(f"{self.seed}:{item.id}")
        urgent = any(word in item.text for word in ("refund", "cancellation"))
        yes = rng.random() < (0.85 if urgent else 0.15)
        tokens = len(item.text.split()) * 4 + rng.randint(20, 80)
        return Score(
            value="Yes" if yes else "No",
            confidence=round(rng.uniform(0.55, 0.99), 3),
            explanation="asks for money back or to leave" if urgent else "routine",
            cost={"tokens": tokens, "model": self.name},
        )


# -- the pipeline -----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where the results belong in Plexus."""

    account_id: str
    scorecard_id: str
    score_id: str
    scoring_job_id: str


@dataclass
class Summary:
    """What a run did."""

    items: int
    scored: int = 0
    committed: int = 0
    failed: int = 0
    model_errors: int = 0
    stored: int | None = None
    """Results of this job read back from Plexus, when checked."""
    seconds: float = 0.0
    requests: int = 0
    values: Counter[str] = field(default_factory=Counter)
    confidence_sum: float = 0.0
    committed_ids: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.committed == self.items
            and not self.failed
            and self.stored in (None, self.items)
        )


async def run_pipeline(
    client: AsyncPlexusClient,
    items: Sequence[Item],
    model: Scorer,
    target: Target,
    *,
    concurrency: int = 32,
    progress: Progress | None = None,
) -> Summary:
    """Score `items` with at most `concurrency` model calls at once, submitting
    each result as it arrives; return once every result has settled."""
    summary = Summary(items=len(items))
    scored_bar = progress.add_task("scored", total=len(items)) if progress else None
    committed_bar = (
        progress.add_task("committed", total=len(items)) if progress else None
    )
    started = time.perf_counter()

    async def feed(send: ObjectSendStream[Item]) -> None:
        async with send:
            for item in items:
                await send.send(item)

    async def score_some(
        receive: ObjectReceiveStream[Item],
        send: ObjectSendStream[PendingScoreResult],
    ) -> None:
        async with receive, send:
            async for item in receive:
                try:
                    score = await model.score(item)
                except Exception as exc:
                    # One failed model call skips its item, not the run.
                    summary.model_errors += 1
                    summary.failures.append((item.id, f"model: {exc!r}"))
                    continue
                pending = await client.score_results.submit(
                    value=score.value,
                    confidence=score.confidence,
                    explanation=score.explanation,
                    cost=score.cost,
                    itemId=item.id,
                    accountId=target.account_id,
                    scorecardId=target.scorecard_id,
                    scoreId=target.score_id,
                    scoringJobId=target.scoring_job_id,
                )
                summary.scored += 1
                summary.values[score.value] += 1
                summary.confidence_sum += score.confidence
                if progress is not None and scored_bar is not None:
                    progress.advance(scored_bar)
                await send.send(pending)

    async def settle(receive: ObjectReceiveStream[PendingScoreResult]) -> None:
        async with receive:
            async for pending in receive:
                try:
                    await pending
                except PlexusError as exc:
                    summary.failed += 1
                    summary.failures.append((pending.id, str(exc)))
                else:
                    summary.committed += 1
                    summary.committed_ids.append(pending.id)
                if progress is not None and committed_bar is not None:
                    progress.advance(committed_bar)

    # Items flow through an unbuffered stream to `concurrency` workers, so
    # only that many model calls run at once whatever the dataset's size.
    send_items, receive_items = anyio.create_memory_object_stream[Item](0)
    send_pending, receive_pending = anyio.create_memory_object_stream[
        PendingScoreResult
    ](math.inf)
    async with anyio.create_task_group() as tg:
        tg.start_soon(settle, receive_pending)
        async with anyio.create_task_group() as workers:
            workers.start_soon(feed, send_items)
            for _ in range(concurrency):
                workers.start_soon(
                    score_some, receive_items.clone(), send_pending.clone()
                )
            receive_items.close()
            send_pending.close()
        # Everything is submitted: send the last partial batch now rather than
        # after `max_latency`.
        await client.flush()

    summary.seconds = time.perf_counter() - started
    summary.requests = client.stats.requests
    return summary


async def count_stored(client: AsyncPlexusClient, scoring_job_id: str) -> int:
    """How many results of the job Plexus holds, read back page by page."""
    count = 0
    async for _ in ScoreResult.list(client, scoringJobId=scoring_job_id):
        count += 1
    return count


# -- running it -----------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """Settings of a run (the command line's options)."""

    items: int = 500
    concurrency: int = 32
    latency: float = 0.2
    seed: int = 7
    api_url: str | None = None
    api_key: str | None = None
    local: bool = False
    account_id: str = "example-account"
    scorecard_id: str = "example-scorecard"
    score_id: str = "needs-escalation"
    verify: bool = True
    progress: bool = True


async def amain(options: Options, console: Console | None = None) -> Summary:
    """Run the pipeline as the command line asks and print its summary."""
    console = console or Console()
    if options.local:
        from plexus_async.server import DEFAULT_API_KEY, LocalPlexusServer

        with LocalPlexusServer() as server:
            console.print(f"local Plexus server at {server.url}")
            local = replace(
                options, local=False, api_url=server.url, api_key=DEFAULT_API_KEY
            )
            return await amain(local, console)

    items = make_dataset(options.items, options.seed)
    model = SimulatedModel(seed=options.seed, latency=options.latency)
    target = Target(
        account_id=options.account_id,
        scorecard_id=options.scorecard_id,
        score_id=options.score_id,
        scoring_job_id=f"job-{uuid.uuid4()}",
    )
    progress = Progress(
        TextColumn("{task.description:>9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not options.progress,
    )

    async with AsyncPlexusClient(options.api_url, options.api_key) as client:
        with progress:
            summary = await run_pipeline(
                client,
                items,
                model,
                target,
                concurrency=options.concurrency,
                progress=progress,
            )
        if options.verify:
            summary.stored = await count_stored(client, target.scoring_job_id)

    print_summary(console, summary, target)
    return summary


def print_summary(console: Console, summary: Summary, target: Target) -> None:
    table = Table(title="LLM pipeline", show_header=False)
    rate = summary.scored / summary.seconds if summary.seconds else 0.0
    mean = summary.confidence_sum / summary.scored if summary.scored else 0.0
    rows = [
        ("scoring job", target.scoring_job_id),
        ("items", f"{summary.items}"),
        ("scored", f"{summary.scored} ({rate:.0f}/s)"),
        ("committed", f"{summary.committed}"),
        ("failed", f"{summary.failed}"),
        ("model errors", f"{summary.model_errors}"),
        ("read back", "not checked" if summary.stored is None else f"{summary.stored}"),
        ("requests", f"{summary.requests}"),
        ("values", ", ".join(f"{v}: {n}" for v, n in sorted(summary.values.items()))),
        ("mean confidence", f"{mean:.3f}"),
        ("time", f"{summary.seconds:.1f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    for id, reason in summary.failures[:10]:
        console.print(f"[red]failed[/red] {id}: {reason}")
    verdict = "[green]all results stored[/green]" if summary.ok else "[red]FAILED[/red]"
    console.print(verdict)


def parse_args(argv: Sequence[str] | None = None) -> tuple[Options, str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500, help="dataset size")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="model calls at once"
    )
    parser.add_argument(
        "--latency", type=float, default=0.2, help="mean model latency, seconds"
    )
    parser.add_argument("--seed", type=int, default=7, help="dataset and model seed")
    parser.add_argument(
        "--local", action="store_true", help="start a local Plexus server and use it"
    )
    parser.add_argument(
        "--account-id", default=os.environ.get("PLEXUS_ACCOUNT_ID", "example-account")
    )
    parser.add_argument(
        "--scorecard-id",
        default=os.environ.get("PLEXUS_SCORECARD_ID", "example-scorecard"),
    )
    parser.add_argument(
        "--score-id", default=os.environ.get("PLEXUS_SCORE_ID", "needs-escalation")
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip reading the results back"
    )
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    args = parser.parse_args(argv)
    options = Options(
        items=args.items,
        concurrency=args.concurrency,
        latency=args.latency,
        seed=args.seed,
        local=args.local,
        account_id=args.account_id,
        scorecard_id=args.scorecard_id,
        score_id=args.score_id,
        verify=not args.no_verify,
    )
    return options, args.backend


def main(argv: Sequence[str] | None = None) -> int:
    options, backend = parse_args(argv)
    summary = anyio.run(amain, options, backend=backend)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
