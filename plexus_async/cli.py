"""The `plexus-async` command line: serve, demo, send, replay, get, list."""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Optional

import anyio

try:
    import typer
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table
except ImportError as exc:  # pragma: no cover - depends on the install
    raise SystemExit(
        "the plexus-async command needs its extras: pip install 'plexus-async[cli]'"
    ) from exc

from ._client import AsyncPlexusClient
from ._config import API_KEY_ENV, API_URL_ENV
from ._errors import PlexusError, ValidationError
from ._models import ScoreResult
from ._queue import PendingScoreResult

app = typer.Typer(
    help="Write score results to the Plexus dashboard API, or run a local one.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

UrlOption = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at runtime
    typer.Option("--api-url", envvar=API_URL_ENV, help="GraphQL endpoint URL."),
]
KeyOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--api-key", envvar=API_KEY_ENV, help="API key.", show_default=False),
]


def main() -> None:
    """Entry point of the `plexus-async` script."""
    app()


def _client(
    api_url: str | None, api_key: str | None, **kwargs: Any
) -> AsyncPlexusClient:
    try:
        return AsyncPlexusClient(api_url, api_key, **kwargs)
    except PlexusError as exc:
        hint = ""
        if not (api_url or os.environ.get(API_URL_ENV)):
            hint = " (on the command line: --api-url)"
        elif not (api_key or os.environ.get(API_KEY_ENV)):
            hint = " (on the command line: --api-key)"
        err_console.print(f"[red]error:[/red] {exc}{hint}")
        raise typer.Exit(2) from None


# -- serve --------------------------------------------------------------------


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1.")] = 4000,
    db: Annotated[
        str, typer.Option(help="SQLite file, or :memory:.")
    ] = "plexus-dev.db",
    api_key: Annotated[
        str, typer.Option(envvar=API_KEY_ENV, help="Key clients must send.")
    ] = "local-dev-key",
    error_rate: Annotated[float, typer.Option(help="Fraction of HTTP 5xx.")] = 0.0,
    throttle_rate: Annotated[
        float, typer.Option(help="Fraction of HTTP 429 with Retry-After.")
    ] = 0.0,
    retry_after: Annotated[float, typer.Option(help="Retry-After seconds.")] = 1.0,
    field_throttle_rate: Annotated[
        float, typer.Option(help="Chance per mutation field of a throttling error.")
    ] = 0.0,
    latency: Annotated[float, typer.Option(help="Seconds added per request.")] = 0.0,
    drop_response_rate: Annotated[
        float,
        typer.Option(help="Fraction committed but answered with a cut connection."),
    ] = 0.0,
    max_body_bytes: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(help="Answer HTTP 413 above this body size."),
    ] = None,
    outage: Annotated[
        bool, typer.Option(help="Answer every request with HTTP 503.")
    ] = False,
    hang: Annotated[
        bool, typer.Option(help="Accept requests and never answer them.")
    ] = False,
    seed: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(help="Seed of the fault draws, to replay a run."),
    ] = None,
) -> None:
    """Run the local Plexus-compatible GraphQL server (with optional faults)."""
    from .server import Faults, run_server

    faults = Faults(
        error_rate=error_rate,
        throttle_rate=throttle_rate,
        retry_after=retry_after,
        field_throttle_rate=field_throttle_rate,
        latency=latency,
        drop_response_rate=drop_response_rate,
        max_body_bytes=max_body_bytes,
        outage=outage,
        hang=hang,
        seed=seed,
    )
    run_server(port=port, db_path=db, api_key=api_key, faults=faults)


# -- demo ---------------------------------------------------------------------


@app.command()
def demo(
    limit: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(help="Score only the first N of the 569 records."),
    ] = None,
    account_id: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Account id (needed against a real API)."),
    ] = None,
    scorecard_id: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Scorecard id (needed against a real API)."),
    ] = None,
    score_id: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Score id (needed against a real API)."),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Scoring calls at once.")] = 32,
) -> None:
    """Evaluate a real classifier on scikit-learn's breast-cancer data, store every
    prediction and correction, read them back and verify.

    Runs on a local server started for it, unless PLEXUS_API_URL and
    PLEXUS_API_KEY are set and the three ids are given.
    """
    from ._demo import run_demo

    real = bool(
        os.environ.get(API_URL_ENV)
        and os.environ.get(API_KEY_ENV)
        and account_id
        and scorecard_id
        and score_id
    )

    async def go(url: str, key: str) -> Any:
        async with AsyncPlexusClient(url, key) as client:
            return await run_demo(
                client,
                account_id=account_id or "demo-account",
                scorecard_id=scorecard_id or "demo-scorecard",
                score_id=score_id or "demo-score",
                limit=limit,
                concurrency=concurrency,
                report=lambda text: console.print(f"  {text}"),
            )

    if os.environ.get(API_URL_ENV) and not real:
        console.print(
            f"{API_URL_ENV} is set, but the demo needs --account-id, "
            "--scorecard-id and --score-id (and the key) to use it; running on a "
            "local server instead"
        )
    if real:
        console.print(f"running against the real API at {os.environ[API_URL_ENV]}")
        summary = anyio.run(go, os.environ[API_URL_ENV], os.environ[API_KEY_ENV])
    else:
        from .server import LocalPlexusServer

        key = f"demo-{uuid.uuid4()}"
        with (
            tempfile.TemporaryDirectory() as folder,
            LocalPlexusServer(
                api_key=key, db_path=str(Path(folder) / "demo.db"), port=0
            ) as server,
        ):
            console.print(f"local Plexus server at {server.url}")
            summary = anyio.run(go, server.url, key)

    verdict = "[green]OK[/green]" if summary.ok else "[red]FAILED[/red]"
    console.print(
        f"evaluation {summary.evaluation_id}\n"
        f"  results stored:        {summary.stored} of {summary.records} "
        f"(duplicates: {summary.duplicates}, failed: {summary.failed})\n"
        f"  corrections applied:   {summary.corrections_applied}\n"
        f"  requests sent:         {summary.requests}\n"
        f"  accuracy from server:  {summary.accuracy_server:.4f}\n"
        f"  accuracy computed:     {summary.accuracy_local:.4f}\n"
        f"  time taken:            {summary.seconds:.2f} s\n"
        f"verification: {verdict}"
    )
    if not summary.ok:
        raise typer.Exit(1)


# -- send / replay ------------------------------------------------------------


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Yield (line number, row, parse error) from a JSONL or CSV file."""
    with path.open(encoding="utf-8", newline="") as file:
        if path.suffix.lower() == ".csv":
            for number, cells in enumerate(csv.DictReader(file), start=2):
                try:
                    yield number, _csv_row(cells), None
                except ValueError as exc:
                    yield number, None, str(exc)
            return
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, None, f"not valid JSON: {exc.msg}"
                continue
            if not isinstance(row, dict):
                yield number, None, "a row must be a JSON object"
                continue
            yield number, row, None


def _csv_row(cells: dict[str | None, Any]) -> dict[str, Any]:
    """Fields of one CSV row; `ValueError` names the column that is wrong."""
    if None in cells:
        raise ValueError("the row has more cells than the header has columns")
    out: dict[str, Any] = {}
    for key, text in cells.items():
        assert key is not None
        if text is None or text == "":
            continue
        try:
            if key in ("metadata", "trace", "cost", "attachments"):
                out[key] = json.loads(text)
            elif key == "confidence":
                out[key] = float(text)
            elif key == "correct":
                out[key] = text.strip().lower() in ("1", "true", "yes")
            else:
                out[key] = text
        except ValueError:
            raise ValueError(f"{key}: cannot read {text!r} as its type") from None
    return out


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
    )


@app.command()
def send(
    file: Annotated[Path, typer.Argument(help="JSONL or CSV file of score results.")],
    api_url: UrlOption = None,
    api_key: KeyOption = None,
    dead_letters: Annotated[
        Path, typer.Option(help="Where results that fail are written.")
    ] = Path("dead-letters.jsonl"),
    rejects: Annotated[
        Path, typer.Option(help="Where rows that fail validation are written.")
    ] = Path("rejects.jsonl"),
) -> None:
    """Send every row of FILE through the batching queue; exit 0 only if all commit."""

    async def go() -> tuple[int, int, int]:
        committed = failed = rejected = 0
        async with _client(api_url, api_key, dead_letter_path=dead_letters) as client:
            handles: list[PendingScoreResult] = []
            with _progress() as progress:
                task = progress.add_task("settled", total=None)

                def done(_: Any) -> None:
                    progress.advance(task)

                for number, row, problem in _rows(file):
                    if row is not None:
                        try:
                            handles.append(await client.score_results.submit(**row))
                            continue
                        except ValidationError as exc:
                            problem = str(exc)
                    rejected += 1
                    err_console.print(f"line {number}: {problem}")
                    with rejects.open("a", encoding="utf-8") as out:
                        out.write(
                            json.dumps({"line": number, "row": row, "error": problem})
                            + "\n"
                        )
                progress.update(task, total=len(handles))
                for handle in handles:
                    try:
                        await handle
                        committed += 1
                    except PlexusError:
                        failed += 1
                    done(handle)
        return committed, failed, rejected

    committed, failed, rejected = anyio.run(go)
    console.print(
        f"committed {committed}, failed {failed}"
        + (f" (see {dead_letters})" if failed else "")
        + f", rejected {rejected}"
        + (f" (see {rejects})" if rejected else "")
    )
    if failed or rejected:
        raise typer.Exit(1)


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="A dead-letter JSONL file.")],
    api_url: UrlOption = None,
    api_key: KeyOption = None,
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Where what still fails goes (default FILE.retry.jsonl)."),
    ] = None,
) -> None:
    """Resubmit a dead-letter file; results already stored are not duplicated."""
    still_failing = out or file.with_suffix(".retry.jsonl")
    entries = [
        json.loads(line)
        for line in file.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]

    async def go() -> tuple[int, int]:
        async with _client(api_url, api_key, dead_letter_path=still_failing) as client:
            handles = [await client.score_results._replay(entry) for entry in entries]
            outcomes = []
            for handle in handles:
                try:
                    await handle
                    outcomes.append(True)
                except PlexusError:
                    outcomes.append(False)
        return outcomes.count(True), outcomes.count(False)

    committed, failed = anyio.run(go)
    console.print(
        f"replayed {len(entries)}: committed {committed}, still failing {failed}"
        + (f" (written to {still_failing})" if failed else "")
    )
    if failed:
        raise typer.Exit(1)


# -- get / list ---------------------------------------------------------------


@app.command()
def get(
    id: Annotated[str, typer.Argument(help="Score result id.")],
    api_url: UrlOption = None,
    api_key: KeyOption = None,
) -> None:
    """Print one stored score result as JSON."""

    async def go() -> ScoreResult:
        async with _client(api_url, api_key) as client:
            return await ScoreResult.get_by_id(id, client)

    try:
        result = anyio.run(go)
    except PlexusError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print_json(result.model_dump_json())


@app.command("list")
def list_(
    evaluation_id: Annotated[Optional[str], typer.Option(help="Filter.")] = None,  # noqa: UP045
    scoring_job_id: Annotated[Optional[str], typer.Option(help="Filter.")] = None,  # noqa: UP045
    scorecard_id: Annotated[Optional[str], typer.Option(help="Filter.")] = None,  # noqa: UP045
    account_id: Annotated[Optional[str], typer.Option(help="Filter.")] = None,  # noqa: UP045
    item_id: Annotated[Optional[str], typer.Option(help="Filter.")] = None,  # noqa: UP045
    score_id: Annotated[Optional[str], typer.Option(help="Filter.")] = None,  # noqa: UP045
    score_version_id: Annotated[Optional[str], typer.Option(help="Filter.")] = None,  # noqa: UP045
    json_lines: Annotated[
        bool, typer.Option("--json", help="Print JSON lines instead of a table.")
    ] = False,
    api_url: UrlOption = None,
    api_key: KeyOption = None,
) -> None:
    """List stored score results, following every page."""
    keys = {
        "evaluation_id": evaluation_id,
        "scoring_job_id": scoring_job_id,
        "scorecard_id": scorecard_id,
        "account_id": account_id,
        "item_id": item_id,
        "score_id": score_id,
        "score_version_id": score_version_id,
    }
    given: dict[str, Any] = {k: v for k, v in keys.items() if v is not None}

    async def go() -> list[ScoreResult]:
        async with _client(api_url, api_key) as client:
            return [
                r
                async for r in ScoreResult.list(
                    client, limit=None, filter=None, **given
                )
            ]

    results = anyio.run(go)
    if json_lines:
        for result in results:
            sys.stdout.write(result.model_dump_json() + "\n")
        return
    table = Table("id", "item", "value", "confidence", "correct", "updated")
    for r in results:
        table.add_row(
            r.id,
            r.itemId,
            str(r.value),
            "" if r.confidence is None else f"{r.confidence:.3f}",
            "" if r.correct is None else str(r.correct),
            "" if r.updatedAt is None else r.updatedAt.isoformat(),
        )
    console.print(table)
    console.print(f"{len(results)} result(s)")


# -- spool --------------------------------------------------------------------

spool_app = typer.Typer(
    help="Inspect or send a durable spool file.", no_args_is_help=True
)
app.add_typer(spool_app, name="spool")


@spool_app.command("status")
def spool_status(
    path: Annotated[
        Path, typer.Argument(help="The spool file (BatchConfig.spool_path).")
    ],
) -> None:
    """Show how many results in a spool wait to be sent; changes nothing."""
    from ._spool import NotASpool, inspect

    if not path.exists():
        err_console.print(f"[red]error:[/red] no spool at {path}")
        raise typer.Exit(2)
    try:
        status = inspect(path)
    except NotASpool as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(
        f"{path}: {status.pending} pending ({status.creates} create(s), "
        f"{status.updates} update(s))",
        soft_wrap=True,
    )
    if status.damaged is not None:
        console.print(
            f"[yellow]the file is damaged ({status.damaged}); the counts are the "
            "rows that can still be read, which a client recovers on start[/yellow]",
            soft_wrap=True,
        )
        raise typer.Exit(1)


@spool_app.command("drain")
def spool_drain(
    path: Annotated[Path, typer.Argument(help="The spool file to send.")],
    api_url: UrlOption = None,
    api_key: KeyOption = None,
    dead_letters: Annotated[
        Path, typer.Option(help="Where results that fail are written.")
    ] = Path("dead-letters.jsonl"),
) -> None:
    """Send every result left in a spool, without the application that wrote it."""
    from ._config import BatchConfig

    async def go() -> tuple[int, int]:
        client = _client(
            api_url,
            api_key,
            batch=BatchConfig(spool_path=path),
            dead_letter_path=dead_letters,
        )
        async with client:
            report = await client.flush()
        return report.committed, report.failed

    committed, failed = anyio.run(go)
    console.print(f"drained {path}: committed {committed}, failed {failed}")
    if failed:
        raise typer.Exit(1)
