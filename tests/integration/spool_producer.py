"""A producer process for the crash test: submits with the spool on and
prints each id once `submit` has returned (so the spool holds it)."""

from __future__ import annotations

import random
import sys

import anyio

from plexus_async import AsyncPlexusClient, BatchConfig


async def main(url: str, key: str, spool: str, start: int, count: int) -> None:
    rng = random.Random(start)
    config = BatchConfig(spool_path=spool, max_latency=0.05, max_batch_size=10)
    async with AsyncPlexusClient(url, key, batch=config) as client:
        for n in range(start, start + count):
            pending = await client.score_results.submit(
                value=rng.choice(["Yes", "No"]),
                itemId=f"crash-item-{n}",
                accountId="acct",
                scorecardId="card",
                scoreId="score",
            )
            print(f"SUBMITTED {pending.id}", flush=True)
            if rng.random() < 0.3:
                await anyio.sleep(0.002)
    print("DONE", flush=True)


if __name__ == "__main__":
    url, key, spool, start, count = sys.argv[1:6]
    anyio.run(main, url, key, spool, int(start), int(count))
