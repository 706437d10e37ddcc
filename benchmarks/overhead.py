"""SDK overhead: `submit` to committed against a transport that answers at once.

The baseline is the least any SDK must do for the same traffic: encode the
same request bodies and decode the same responses with the same JSON library.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anyio

from plexus_async import AsyncPlexusClient, BatchConfig

from ._common import API_KEY, INSTANT_URL, InstantAppSync, Outcome, Row, fields_for

NAME = "overhead"
TARGET_RATE = 50_000
_SAMPLE_REQUESTS = 400
_BOUND_MIN_SECONDS = 0.3


async def stream(client: AsyncPlexusClient, total: int) -> None:
    """Submit `total` results from one producer, then wait until all settle."""
    submit = client.score_results.submit
    for i in range(total):
        await submit(**fields_for(i))
    report = await client.flush()
    if report.failed or report.pending:
        raise RuntimeError(f"the instant transport run did not commit all: {report}")


async def timed_run(
    total: int, batch: BatchConfig | None = None
) -> tuple[float, float, InstantAppSync, int]:
    """Stream `total` results; return (wall s, CPU s, the handler, committed)."""
    handler = InstantAppSync(keep=_SAMPLE_REQUESTS)
    async with AsyncPlexusClient(
        INSTANT_URL, API_KEY, batch=batch, transport=handler.transport()
    ) as client:
        wall = time.perf_counter()
        cpu = time.process_time()
        await stream(client, total)
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        committed = client.stats.committed
    return wall, cpu, handler, committed


def encode_decode_bound(
    samples: list[tuple[dict[str, Any], bytes]], dumps: Any, loads: Any
) -> float:
    """CPU seconds per result to only encode the bodies and decode the answers."""
    results = 0
    spent = 0.0
    while spent < _BOUND_MIN_SECONDS:
        started = time.process_time()
        for body, answer in samples:
            dumps(body)
            loads(answer)
        spent += time.process_time() - started
        results += sum(len(body["variables"]) for body, _ in samples)
    return spent / results


def _json_dumps(body: dict[str, Any]) -> bytes:
    # What the SDK sends: compact separators, then bytes.
    return json.dumps(body, separators=(",", ":")).encode()


def run(total: int) -> Outcome:
    """Measure the SDK against the instant transport, and the encode/decode bound."""
    # Warm up imports, caches and the document cache outside the timing.
    anyio.run(timed_run, min(total, 2_000))
    wall, cpu, handler, committed = anyio.run(timed_run, total)

    sdk_cpu = (cpu - handler.cpu_seconds) / total
    bound = encode_decode_bound(handler.samples, _json_dumps, json.loads)
    rate = total / wall
    outcome = Outcome(NAME)
    outcome.details = {
        "results": total,
        "committed": committed,
        "requests": handler.requests,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "mock_transport_cpu_seconds": handler.cpu_seconds,
        "bound_cpu_us_per_result": bound * 1e6,
        "bound_sample_requests": len(handler.samples),
    }
    outcome.rows += [
        Row(
            NAME,
            "submit→committed",
            rate,
            "results/s",
            "encode+decode only",
            1 / bound,
            f"≥ {TARGET_RATE:,}/s",
            rate >= TARGET_RATE,
        ),
        Row(
            NAME,
            "CPU per result (SDK)",
            sdk_cpu * 1e6,
            "µs",
            "encode+decode only",
            bound * 1e6,
        ),
        Row(
            NAME,
            "CPU per result (SDK + mock)",
            cpu / total * 1e6,
            "µs",
            "encode+decode only",
            bound * 1e6,
        ),
    ]

    try:
        import orjson
    except ImportError:
        return outcome
    fast = encode_decode_bound(handler.samples, orjson.dumps, orjson.loads)
    outcome.details["orjson_bound_cpu_us_per_result"] = fast * 1e6
    outcome.rows.append(
        Row(
            NAME,
            "encode+decode with orjson",
            fast * 1e6,
            "µs",
            "same with json",
            bound * 1e6,
        )
    )
    return outcome
