"""Every default of the SDK, in one place: the README table is built from here."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

API_URL_ENV = "PLEXUS_API_URL"
API_KEY_ENV = "PLEXUS_API_KEY"

DEFAULT_TIMEOUT = 30.0
"""Seconds allowed for one HTTP request (the real API's own limit is 30 s)."""

MAX_REQUEST_BYTES = 1_000_000
"""AppSync does not publish its request limit; this is the hard ceiling we keep."""

RETRY_AFTER_CAP = 30.0
"""Longest `Retry-After` we honour, in seconds."""

BREAKER_THRESHOLD = 3
"""Consecutive failed requests after which only one probe request is let through."""

SPOOL_COMPACT_EVERY = 5_000
"""Spool rows deleted between compactions (WAL checkpoint and VACUUM)."""

DEFAULT_CODE = "200"
DEFAULT_TYPE = "prediction"
DEFAULT_STATUS = "COMPLETED"


class BatchConfig(BaseModel):
    """Thresholds and limits of the batching queue."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_batch_size: int = Field(25, ge=1, le=500)
    """Results per request at most."""
    max_batch_bytes: int = Field(262_144, ge=1_024, le=MAX_REQUEST_BYTES)
    """Encoded request body size at most, in bytes."""
    max_latency: float = Field(1.0, gt=0)
    """Seconds a result may wait, counted from the oldest one in the forming batch."""
    max_queue_size: int = Field(10_000, ge=1)
    """Results held (queued or in flight) before `submit` waits."""
    max_concurrent_requests: int = Field(4, ge=1)
    """Batch requests in flight at once."""
    shutdown_timeout: float = Field(30.0, ge=0)
    """Seconds `aclose()` drains before dead-lettering what is left."""
    spool_path: Path | None = None
    """SQLite file that keeps submitted results across a crash (off when None)."""
    mutation: Literal["aliased", "batch"] = "aliased"
    """`aliased`: N `createScoreResult` fields in one document (the real API);
    `batch`: one `batchCreateScoreResults` field (the local server only)."""


class RetryConfig(BaseModel):
    """How transient failures are retried."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(6, ge=1)
    """Attempts per request, the first included."""
    initial_delay: float = Field(0.5, ge=0)
    """Backoff before the second attempt, in seconds."""
    backoff_factor: float = Field(2.0, ge=1)
    """Multiplier between consecutive backoffs."""
    max_delay: float = Field(8.0, ge=0)
    """Longest backoff between attempts, in seconds."""
    jitter: float = Field(0.5, ge=0)
    """Up to this many seconds of random delay added to each backoff."""
    retry_after_cap: float = Field(RETRY_AFTER_CAP, ge=0)
    """Longest `Retry-After` honoured, in seconds."""
