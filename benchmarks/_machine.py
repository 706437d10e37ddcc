"""A description of the machine and software a run was measured on."""

from __future__ import annotations

import os
import platform
import subprocess
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
    """One line for the table's caption."""
    return (
        f"{machine['cpu']}, {machine['cores']} cores, "
        f"{machine['memory_gb']} GB; {machine['python']}; {machine['os']}; "
        f"commit {machine['commit']}; load {machine['load_average_at_start']}"
    )
