"""The benchmark harness still runs: every scenario at a tiny size, no timing."""

from __future__ import annotations

import json
import math
from pathlib import Path

from benchmarks._common import TINY
from benchmarks._run import SCENARIOS, run_all


def test_every_scenario_produces_figures(tmp_path: Path) -> None:
    output = tmp_path / "latest.json"

    outcomes = run_all(TINY, output=output, use_rich=False, echo=lambda _: None)

    assert [o.name for o in outcomes] == list(SCENARIOS)
    for outcome in outcomes:
        assert outcome.rows, f"{outcome.name} produced no figures"
        for row in outcome.rows:
            assert math.isfinite(row.value) and row.value > 0, row
            assert math.isfinite(row.baseline_value) and row.baseline_value > 0, row

    spool = next(o for o in outcomes if o.name == "spool")
    assert {row.metric.split(",")[0] for row in spool.rows} == {
        "instant transport",
        "loopback queue",
    }

    written = json.loads(output.read_text())
    assert written["machine"]["cores"]
    assert {row["scenario"] for row in written["rows"]} == set(SCENARIOS)
    assert output.with_suffix(".md").read_text().count("|") > 0
