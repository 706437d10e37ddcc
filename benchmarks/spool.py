"""Durable spool: throughput with `BatchConfig(spool_path=...)` on and off.

Two comparisons, spool off and on taking turns, every spooled trial with a
fresh file in a new temporary directory: the overhead scenario's instant
transport (one producer, so each `submit` waits for its own SQLite write),
and the loopback queue with N concurrent producers against a fresh local
server per trial.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import anyio

from plexus_async import BatchConfig

from . import loopback, overhead
from ._common import Outcome, Row

NAME = "spool"

Measure = Callable[[BatchConfig | None], dict[str, Any]]


@contextmanager
def _fresh_spool() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="plexus-bench-spool-") as directory:
        yield Path(directory) / "spool.db"


def _rows_left(path: Path) -> int:
    """Rows still in a closed spool (0 when every result settled and was deleted)."""
    with closing(sqlite3.connect(path)) as db:
        (count,) = db.execute("SELECT count(*) FROM spool").fetchone()
    return int(count)


def _with_spool(measure: Measure, spool: bool) -> dict[str, Any]:
    if not spool:
        return measure(None)
    with _fresh_spool() as path:
        figures = measure(BatchConfig(spool_path=path))
        figures["spool_bytes_after_close"] = path.stat().st_size
        figures["spool_rows_left"] = _rows_left(path)
    return figures


def _instant(total: int) -> Measure:
    def measure(batch: BatchConfig | None) -> dict[str, Any]:
        wall, cpu, handler, committed = anyio.run(overhead.timed_run, total, batch)
        return {
            "rate": total / wall,
            "wall_seconds": wall,
            "committed": committed,
            "cpu_us_per_result": cpu / total * 1e6,
            "sdk_cpu_us_per_result": (cpu - handler.cpu_seconds) / total * 1e6,
        }

    return measure


def _loopback(total: int, producers: int) -> Measure:
    def measure(batch: BatchConfig | None) -> dict[str, Any]:
        return loopback.trial(loopback.WAYS["queue"], total, producers, batch=batch)

    return measure


def _alternate(measure: Measure, rounds: int) -> dict[str, Any]:
    """Measure off and on `rounds` times each, taking turns; keep the median."""
    trials: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for round in range(rounds):
        for mode in ("off", "on") if round % 2 == 0 else ("on", "off"):
            trials[mode].append(_with_spool(measure, mode == "on"))
    median = {
        mode: sorted(runs, key=lambda t: t["rate"])[len(runs) // 2]
        for mode, runs in trials.items()
    }
    return {"rounds": rounds, "median": median, "trials": trials}


def run(
    instant_total: int, loopback_total: int, producers: int, rounds: int
) -> Outcome:
    """Compare spool on and off on the instant transport and on loopback."""
    # Warm up imports, the document cache and sqlite3 outside the timing.
    warm = _instant(min(instant_total, 2_000))
    for spool in (False, True):
        _with_spool(warm, spool)

    instant = _alternate(_instant(instant_total), rounds)
    instant.update(results=instant_total, producers=1)
    local = _alternate(_loopback(loopback_total, producers), rounds)
    local.update(results=loopback_total, producers=producers)
    outcome = Outcome(NAME, details={"instant": instant, "loopback": local})

    on, off = instant["median"]["on"], instant["median"]["off"]
    outcome.rows += [
        Row(
            NAME,
            f"instant transport, {instant_total:,} results, spool on",
            on["rate"],
            "results/s",
            "spool off",
            off["rate"],
        ),
        Row(
            NAME,
            "instant transport, CPU per result (SDK), spool on",
            on["sdk_cpu_us_per_result"],
            "µs",
            "spool off",
            off["sdk_cpu_us_per_result"],
        ),
    ]
    on, off = local["median"]["on"], local["median"]["off"]
    outcome.rows.append(
        Row(
            NAME,
            f"loopback queue, {producers} producers, spool on",
            on["rate"],
            "results/s",
            "spool off",
            off["rate"],
        )
    )
    return outcome
