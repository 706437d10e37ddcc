"""
A local Plexus-compatible GraphQL server for tests, demos and development.

It serves the ScoreResult part of the Plexus dashboard API the way AWS AppSync
does (same schema, error shapes, conditions, index guard and paging) from a
SQLite database, with switches to inject faults.
"""

from __future__ import annotations

from ._app import PlexusApp, RequestLog, RequestRecord, create_app
from ._faults import Faults
from ._server import DEFAULT_API_KEY, LocalPlexusServer, run_server
from ._store import Store

__all__ = [
    "DEFAULT_API_KEY",
    "Faults",
    "LocalPlexusServer",
    "PlexusApp",
    "RequestLog",
    "RequestRecord",
    "Store",
    "create_app",
    "run_server",
]

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and _obj.__module__.startswith(__name__ + "._"):
        _obj.__module__ = __name__
del _name, _obj
