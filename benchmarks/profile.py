"""Profile the overhead scenario with pyinstrument (`--profile`)."""

from __future__ import annotations

from pathlib import Path

import anyio

from plexus_async import AsyncPlexusClient

from ._common import API_KEY, INSTANT_URL, InstantAppSync
from .overhead import stream


async def _run(total: int) -> None:
    handler = InstantAppSync()
    async with AsyncPlexusClient(
        INSTANT_URL, API_KEY, transport=handler.transport()
    ) as client:
        await stream(client, total)


def profile_overhead(total: int, directory: Path) -> None:
    """Stream `total` results under pyinstrument; write HTML, tree and flat text."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        raise SystemExit(
            "--profile needs pyinstrument: pip install pyinstrument"
        ) from None

    anyio.run(_run, min(total, 2_000))  # Warm up outside the profile.
    profiler = Profiler(interval=0.0005, async_mode="disabled")
    with profiler:
        anyio.run(_run, total)

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "profile.html").write_text(profiler.output_html())
    tree = profiler.output_text(time="percent_of_total", show_all=False)
    flat = profiler.output_text(flat=True, time="percent_of_total")
    (directory / "profile.txt").write_text(tree)
    (directory / "profile-flat.txt").write_text(flat)
    print(flat[:6000])
    print(f"wrote {directory}/profile.html, profile.txt and profile-flat.txt")
