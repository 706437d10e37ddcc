"""What the scenarios share: workload, instant transport, server, figures."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

API_KEY = "bench-key"
LOOPBACK_URL = "http://127.0.0.1:{port}/graphql"
INSTANT_URL = "http://127.0.0.1:9/graphql"
"""Never dialled: the instant transport answers in-process."""

SERVER_TIMESTAMP = "2026-01-01T00:00:00.000Z"
_POOL_SIZE = 1024


@dataclass(frozen=True)
class Sizes:
    """How much work each scenario does."""

    overhead_results: int
    loopback_results: int
    loopback_producers: int
    loopback_rounds: int
    remote_results: int
    """Results per way when the server adds a remote API's round trip."""
    latency_seconds: float
    latency_rates: tuple[int, ...]
    memory_totals: tuple[int, int]
    """A smaller total, then the large one: peak RSS must not grow with it."""
    spool_results: int
    """Results per instant-transport trial with the spool on and off."""
    spool_rounds: int


FULL = Sizes(
    overhead_results=100_000,
    loopback_results=4_000,
    loopback_producers=16,
    loopback_rounds=3,
    remote_results=2_000,
    latency_seconds=8.0,
    latency_rates=(15, 200),
    memory_totals=(100_000, 1_000_000),
    spool_results=20_000,
    spool_rounds=3,
)
QUICK = Sizes(
    overhead_results=5_000,
    loopback_results=200,
    loopback_producers=8,
    loopback_rounds=1,
    remote_results=200,
    latency_seconds=2.0,
    latency_rates=(15, 200),
    memory_totals=(10_000, 50_000),
    spool_results=2_000,
    spool_rounds=1,
)
TINY = Sizes(
    overhead_results=200,
    loopback_results=30,
    loopback_producers=3,
    loopback_rounds=1,
    remote_results=30,
    latency_seconds=0.3,
    latency_rates=(50,),
    memory_totals=(300, 600),
    spool_results=100,
    spool_rounds=1,
)


@dataclass
class Row:
    """One figure beside its baseline from the same run."""

    scenario: str
    metric: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float:
        if not self.baseline_value:
            return float("nan")
        return self.value / self.baseline_value

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


@dataclass
class Outcome:
    """What one scenario measured: table rows and the raw details behind them."""

    name: str
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


# -- workload --------------------------------------------------------------


def result_fields(i: int) -> dict[str, Any]:
    """A realistic score result's keyword fields (about 500 bytes on the wire)."""
    return {
        "value": "Yes" if i % 3 else 0.87,
        "explanation": (
            "The agent confirmed the caller's identity before discussing the "
            "account, as the compliance script requires."
        ),
        "confidence": 0.91,
        "metadata": {
            "model": "gpt-4o-mini",
            "tokens": {"prompt": 812 + i % 97, "completion": 41},
            "labels": ["identity", "compliance"],
        },
        "itemId": f"item-{i}",
        "accountId": "account-bench",
        "scorecardId": "scorecard-bench",
        "scoreId": "score-identity",
        "scoringJobId": "job-bench",
    }


FIELDS: tuple[dict[str, Any], ...] = tuple(result_fields(i) for i in range(_POOL_SIZE))
"""Built once, so producing a result costs the benchmark nothing measurable."""


def fields_for(i: int) -> dict[str, Any]:
    return FIELDS[i % _POOL_SIZE]


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (`pct` in 0..100); NaN for no samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


# -- the instant transport ---------------------------------------------------


class InstantAppSync:
    """An `httpx.MockTransport` handler that answers like AppSync, at once.

    It decodes each request's variables to echo the ids of the creates, and
    counts its own CPU time so the scenario can subtract it from the SDK's.
    """

    def __init__(self, keep: int = 0) -> None:
        self.requests = 0
        self.creates = 0
        self.cpu_seconds = 0.0
        self.samples: list[tuple[dict[str, Any], bytes]] = []
        """The first `keep` (decoded request body, response body) pairs."""
        self._keep = keep

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        started = time.process_time()
        body = json.loads(request.content)
        variables = body.get("variables") or {}
        stamps = {"createdAt": SERVER_TIMESTAMP, "updatedAt": SERVER_TIMESTAMP}
        data: dict[str, Any] = {}
        for alias, value in variables.items():
            if alias == "c":
                data["c"] = [{"id": item["id"], **stamps} for item in value]
                self.creates += len(value)
            elif alias.startswith("c"):
                data[alias] = {"id": value["id"], **stamps}
                self.creates += 1
            else:
                # Updates select every field: echo the input as the record.
                data[alias] = {**value, **stamps}
        content = json.dumps({"data": data}).encode()
        if len(self.samples) < self._keep:
            self.samples.append((body, content))
        self.requests += 1
        self.cpu_seconds += time.process_time() - started
        return httpx.Response(
            200, content=content, headers={"content-type": "application/json"}
        )


# -- the local server in its own process ------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """`plexus-async serve` in a subprocess, so it does not share our GIL."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self.url = LOOPBACK_URL.format(port=port)

    def cpu_seconds(self) -> float | None:
        """User plus system CPU the server has used so far (Linux only)."""
        try:
            with open(f"/proc/{self.process.pid}/stat") as file:
                # Fields after the command name, which may hold spaces.
                parts = file.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(parts[11]) + int(parts[12])) / ticks


@contextmanager
def server_process(
    latency: float = 0.0, start_timeout: float = 30.0
) -> Iterator[ServerProcess]:
    """Start the local server on a free loopback port with an in-memory db.

    `latency` seconds are added to every answer (the server sleeps, it does
    not spin), to stand in for a remote API's round trip.
    """
    port = _free_port()
    command = [
        sys.executable,
        "-c",
        "from plexus_async.cli import main; main()",
        "serve",
        "--port",
        str(port),
        "--db",
        ":memory:",
        "--api-key",
        API_KEY,
        "--latency",
        str(latency),
    ]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        try:
            _wait_listening(process, port, start_timeout, log)
            yield ServerProcess(process, port)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_listening(
    process: subprocess.Popen[bytes], port: int, timeout: float, log: Any
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            output = log.read().decode(errors="replace")
            raise RuntimeError(f"the server exited early:\n{output}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the server did not listen on port {port} in {timeout} s")
