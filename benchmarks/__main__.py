"""`python -m benchmarks`: see `benchmarks/_run.py` and BENCHMARKS.md."""

from __future__ import annotations

from ._run import main

main()
