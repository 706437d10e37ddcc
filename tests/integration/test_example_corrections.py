"""examples/evaluation_corrections.py: predictions, then corrections from a file."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from plexus_async.server import LocalPlexusServer

from ._support import ClientFactory

EXAMPLE = Path(__file__).parents[2] / "examples" / "evaluation_corrections.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("evaluation_corrections", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_every_correction_is_applied_once_in_batches(
    make_client: ClientFactory, server: LocalPlexusServer, tmp_path: Path
) -> None:
    example = load_example()
    async with make_client() as client:
        applied, failed = await example.main(client, 200, None, tmp_path)
    assert (applied, failed) == (200, 0)

    labels = dict(example.read_labels(tmp_path / "labels.csv"))
    records = server.store.all()
    assert len(records) == 200
    for record in records:
        human = labels[record["id"]]
        assert json.loads(record["metadata"]) == {"human_label": human}
        assert record["correct"] is (record["value"] == human)
    updates = sum(
        r.fields.count("updateScoreResult") for r in server.requests.snapshot()
    )
    assert updates == 200
