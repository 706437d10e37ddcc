"""The table of figures (rich when installed, plain otherwise) and the JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ._common import Outcome, Row

HEADERS = ("scenario", "metric", "value", "baseline", "ratio", "target")


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(ratio: float) -> str:
    if math.isnan(ratio):
        return "n/a"
    # Three decimals below 10x, so 1.002x does not read as a bare 1x.
    return f"{ratio:.1f}x" if ratio >= 10 else f"{ratio:.3f}x"


def _cells(row: Row) -> tuple[str, ...]:
    verdict = {True: " ✓", False: " ✗", None: ""}[row.met]
    return (
        row.scenario,
        row.metric,
        f"{_number(row.value)} {row.unit}",
        f"{_number(row.baseline_value)} {row.unit} ({row.baseline})",
        _ratio(row.ratio),
        f"{row.target}{verdict}",
    )


def markdown(outcomes: list[Outcome]) -> str:
    """The table as Markdown, for BENCHMARKS.md."""
    lines = [
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    for outcome in outcomes:
        for row in outcome.rows:
            lines.append("| " + " | ".join(_cells(row)) + " |")
    return "\n".join(lines)


def plain(outcomes: list[Outcome], caption: str) -> str:
    """The table as aligned plain text."""
    rows = [HEADERS] + [_cells(row) for o in outcomes for row in o.rows]
    widths = [max(len(cells[i]) for cells in rows) for i in range(len(HEADERS))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
        for cells in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return caption + "\n" + "\n".join(lines)


def show(outcomes: list[Outcome], caption: str, *, use_rich: bool = True) -> None:
    """Print the table."""
    try:
        if not use_rich:
            raise ImportError
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(plain(outcomes, caption))
        return

    console = Console()
    if not console.is_terminal:
        # Piped to a file or a CI log: do not wrap the table at 80 columns.
        console = Console(width=170)
    table = Table(title="plexus-async benchmarks", caption=caption)
    for header in HEADERS:
        justify = "right" if header in ("value", "ratio") else "left"
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for outcome in outcomes:
        for row in outcome.rows:
            table.add_row(*_cells(row))
        table.add_section()
    console.print(table)


def write_json(
    path: Path, machine: dict[str, Any], outcomes: list[Outcome], extra: dict[str, Any]
) -> None:
    """Write every figure, its details and the machine to `path`."""
    document = {
        "machine": machine,
        **extra,
        "rows": [row.to_json() for o in outcomes for row in o.rows],
        "details": {o.name: o.details for o in outcomes},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
