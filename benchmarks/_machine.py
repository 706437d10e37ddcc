"""A description of the machine and software a run was measured on."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) * 1024 / 1e9, 1)
    except OSError:
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip() or None


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, where the OS reports them."""
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except OSError:
        return None


def describe() -> dict[str, Any]:
    """CPU, cores, memory, Python, OS, library versions and the commit."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gb": _memory_gb(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
        "commit": _git_commit(),
        "packages": {
            name: _version(name)
            for name in ("plexus-async", "httpx", "pydantic", "anyio", "orjson")
        },
        "load_average_at_start": load_average(),
    }


def summary(machine: dict[str, Any]) -> str:
    """The table's caption: the machine, and how busy others kept it."""
    caption = (
        f"{machine['cpu']}, {machine['cores']} cores, "
        f"{machine['memory_gb']} GB; {machine['python']}; {machine['os']}; "
        f"commit {machine['commit']}"
    )
    others = machine.get("other_processes_cores") or {}
    if any(cores is not None for cores in others.values()):
        busy = ", ".join(
            f"{name} {cores:.2f}" for name, cores in others.items() if cores is not None
        )
        caption += f"\ncores kept busy by other processes meanwhile: {busy}"
    return caption


def _busy_seconds() -> float | None:
    """CPU seconds every process on the machine has used (Linux only)."""
    try:
        with open("/proc/stat") as file:
            fields = [int(x) for x in file.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    mine = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


class OtherLoad:
    """How many cores other processes kept busy while a scenario ran.

    The machine may be shared; a figure measured while others ran is not
    comparable with one measured on an idle machine, so each run says so.
    """

    def __enter__(self) -> OtherLoad:
        self.cores: float | None = None
        self._wall = time.perf_counter()
        self._busy = _busy_seconds()
        self._own = _own_seconds()
        return self

    def __exit__(self, *exc_info: object) -> None:
        busy = _busy_seconds()
        if busy is None or self._busy is None:
            return
        wall = time.perf_counter() - self._wall
        others = (busy - self._busy) - (_own_seconds() - self._own)
        self.cores = max(0.0, others / wall)
