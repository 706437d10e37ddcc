"""Memory: results streamed through the queue with the default
`max_queue_size`; peak RSS must not grow with the total."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ._common import Outcome, Row

NAME = "memory"
TARGET_MB = 150.0
_ROOT = Path(__file__).resolve().parent.parent


def measure(total: int) -> dict[str, Any]:
    """Stream `total` results in a fresh process and return its figures."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks._memory_child", str(total)],
        capture_output=True,
        text=True,
        check=False,
        cwd=_ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the memory run of {total} failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["committed"] != total:
        raise RuntimeError(f"the memory run committed {figures['committed']}/{total}")
    return figures


def run(totals: tuple[int, int]) -> Outcome:
    """Compare the peak RSS of a smaller and a larger stream."""
    small, large = (measure(total) for total in totals)
    outcome = Outcome(NAME, details={"small": small, "large": large})
    small_label = f"{small['total']:,} results"
    outcome.rows += [
        Row(
            NAME,
            f"peak RSS, {large['total']:,} results",
            large["peak_rss_mb"],
            "MB",
            f"peak RSS, {small_label}",
            small["peak_rss_mb"],
            f"< {TARGET_MB:g} MB",
            large["peak_rss_mb"] < TARGET_MB,
        ),
        Row(
            NAME,
            f"growth while streaming {large['total']:,}",
            large["peak_rss_mb"] - large["setup_rss_mb"],
            "MB",
            f"same, {small_label}",
            small["peak_rss_mb"] - small["setup_rss_mb"],
        ),
    ]
    return outcome
