"""Benchmarks of plexus-async: overhead, loopback throughput, latency, memory.

Run them with `make bench` or `python -m benchmarks` (`--quick` for tiny
sizes, `--profile` for a pyinstrument profile of the overhead scenario). Every
figure is printed beside a baseline measured in the same run, and written with
the machine's description to `benchmarks/results/latest.json`.
"""

from __future__ import annotations
