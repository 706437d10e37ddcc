"""Asyncio-first SDK for writing score results to the Plexus dashboard API."""

from __future__ import annotations

from ._client import AsyncPlexusClient
from ._config import BatchConfig, RetryConfig
from ._errors import (
    APIStatusError,
    AuthenticationError,
    ClientClosed,
    ConfigurationError,
    DeliveryError,
    GraphQLError,
    PartialBatchError,
    PlexusError,
    QueueFull,
    ScoreResultNotFound,
    ScoreResultRejected,
    ValidationError,
)
from ._models import ScoreResult
from ._queue import FlushReport, PendingScoreResult, ScoreResultQueue, Stats
from ._spool import SpoolLocked

__version__ = "0.1.0.dev0"

__all__ = [
    "APIStatusError",
    "AsyncPlexusClient",
    "AuthenticationError",
    "BatchConfig",
    "ClientClosed",
    "ConfigurationError",
    "DeliveryError",
    "FlushReport",
    "GraphQLError",
    "PartialBatchError",
    "PendingScoreResult",
    "PlexusError",
    "QueueFull",
    "RetryConfig",
    "ScoreResult",
    "ScoreResultNotFound",
    "ScoreResultQueue",
    "ScoreResultRejected",
    "SpoolLocked",
    "Stats",
    "ValidationError",
    "__version__",
]

# Tracebacks and reprs read `plexus_async.QueueFull`, not a private module.
for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, str):
        _obj.__module__ = __name__
del _name, _obj
