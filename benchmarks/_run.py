"""Run the scenarios, print the table, write the JSON."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from . import latency, loopback, memory, overhead, spool
from ._common import FULL, QUICK, Outcome, Sizes
from ._machine import OtherLoad, describe, load_average, summary
from ._report import markdown, show, write_json

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS: dict[str, Callable[[Sizes], Outcome]] = {
    overhead.NAME: lambda s: overhead.run(s.overhead_results),
    loopback.NAME: lambda s: loopback.run(
        s.loopback_results, s.loopback_producers, s.loopback_rounds, s.remote_results
    ),
    latency.NAME: lambda s: latency.run(s.latency_rates, s.latency_seconds),
    memory.NAME: lambda s: memory.run(s.memory_totals),
    spool.NAME: lambda s: spool.run(
        s.spool_results, s.loopback_results, s.loopback_producers, s.spool_rounds
    ),
}


def run_all(
    sizes: Sizes,
    names: Sequence[str] = tuple(SCENARIOS),
    *,
    output: Path | None = RESULTS / "latest.json",
    use_rich: bool = True,
    echo: Callable[[str], None] = print,
) -> list[Outcome]:
    """Run the named scenarios at `sizes`; print and (unless None) write them."""
    machine = describe()
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    seconds: dict[str, float] = {}
    others: dict[str, float | None] = {}
    for name in names:
        echo(f"running {name} ...")
        began = time.perf_counter()
        with OtherLoad() as load:
            outcomes.append(SCENARIOS[name](sizes))
        seconds[name] = time.perf_counter() - began
        others[name] = load.cores
    machine["load_average_at_end"] = load_average()
    machine["other_processes_cores"] = others

    caption = summary(machine)
    show(outcomes, caption, use_rich=use_rich)
    if output is not None:
        extra = {
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "sizes": sizes.__dict__,
            "seconds": {"total": time.perf_counter() - started, **seconds},
        }
        write_json(output, machine, outcomes, extra)
        markdown_path = output.with_suffix(".md")
        markdown_path.write_text(f"{caption}\n\n{markdown(outcomes)}\n")
        echo(f"wrote {output} and {markdown_path}")
    return outcomes


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(SCENARIOS),
        default=list(SCENARIOS),
        help="run only these scenarios",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS / "latest.json",
        help="where the JSON goes (a .md table is written beside it)",
    )
    parser.add_argument("--plain", action="store_true", help="no rich table")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the overhead scenario with pyinstrument instead",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL

    if args.profile:
        from .profile import profile_overhead

        profile_overhead(sizes.overhead_results, args.output.parent)
        return
    run_all(sizes, args.only, output=args.output, use_rich=not args.plain)
