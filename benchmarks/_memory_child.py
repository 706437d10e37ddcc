"""Stream results into the instant transport and print peak RSS as JSON.

Run by the memory scenario in a fresh process (`python -m
benchmarks._memory_child TOTAL`), so the peak is this stream's alone.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import anyio

from plexus_async import AsyncPlexusClient

from ._common import API_KEY, INSTANT_URL, InstantAppSync
from .overhead import stream


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (10^6 bytes)."""
    # Linux carries `ru_maxrss` over from the parent across fork and exec,
    # so it can report the parent's peak; VmHWM belongs to this image alone.
    try:
        with open("/proc/self/status") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


async def _stream(total: int) -> dict[str, float]:
    handler = InstantAppSync()
    async with AsyncPlexusClient(
        INSTANT_URL, API_KEY, transport=handler.transport()
    ) as client:
        # The first results load what the SDK loads lazily; count that as setup.
        await stream(client, 100)
        setup = peak_rss_mb()
        started = time.perf_counter()
        await stream(client, total)
        seconds = time.perf_counter() - started
        committed = client.stats.committed - 100
        max_queue_size = client.batch_config.max_queue_size
    return {
        "total": total,
        "committed": committed,
        "max_queue_size": max_queue_size,
        "seconds": seconds,
        "setup_rss_mb": setup,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    total = int(sys.argv[1])
    print(json.dumps(anyio.run(_stream, total)))


if __name__ == "__main__":
    main()
