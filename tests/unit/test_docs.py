"""The README's configuration tables agree with the code's defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from plexus_async import BatchConfig, RetryConfig

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("config", [BatchConfig, RetryConfig])
def test_readme_lists_every_field_with_its_default(config: type[BaseModel]) -> None:
    rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]+)` \|", README, re.MULTILINE))
    for name, info in config.model_fields.items():
        assert name in rows, f"README lacks {config.__name__}.{name}"
        assert rows[name].strip('"') == str(info.default), name
