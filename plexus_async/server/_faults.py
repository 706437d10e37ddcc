"""Fault switches for the local server."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from typing import Any

_RATES = frozenset(
    {"error_rate", "throttle_rate", "field_throttle_rate", "drop_response_rate"}
)


@dataclass
class Faults:
    """
    Faults the local server injects; changes apply from the next request.

    Every random draw comes from `rng`, seeded with `seed`, so a run with the
    same seed and the same traffic can be replayed.
    """

    error_rate: float = 0.0
    """Fraction of requests answered 500, 502 or 503 without executing."""
    throttle_rate: float = 0.0
    """Fraction of requests answered 429 with `Retry-After`, not executed."""
    retry_after: float = 1.0
    """Seconds sent in the `Retry-After` header of a 429, as given."""
    field_throttle_rate: float = 0.0
    """Chance that one mutation field or batch entry fails with a throttling
    error while the others commit."""
    latency: float = 0.0
    """Seconds added before answering any request."""
    drop_response_rate: float = 0.0
    """Fraction of requests executed and committed whose response is cut off."""
    max_body_bytes: int | None = None
    """Requests with a larger body get HTTP 413, not executed."""
    outage: bool = False
    """While true, every request gets HTTP 503."""
    hang: bool = False
    """While true, requests are accepted and never answered."""
    seed: int | None = None
    """Seed for `rng`; `None` seeds from the system."""
    rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def __setattr__(self, name: str, value: Any) -> None:
        # Validate on every assignment, since tests flip switches at runtime.
        if name in _RATES and not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if name in ("latency", "retry_after") and value < 0:
            raise ValueError(f"{name} must not be negative, got {value!r}")
        super().__setattr__(name, value)

    def reset(self) -> None:
        """
        Switch every fault off and restart the random sequence from `seed`.
        """
        defaults = Faults(seed=self.seed)
        for f in fields(self):
            if f.init and f.name != "seed":
                setattr(self, f.name, getattr(defaults, f.name))
        self.rng.seed(self.seed)

    def roll(self, rate: float) -> bool:
        """
        Draw once and return whether an event of probability `rate` happens.
        """
        # No draw for a switched-off fault, so enabling one fault does not
        # shift the random sequence another one sees.
        return rate > 0 and self.rng.random() < rate
