"""The exceptions of plexus-async.

PlexusError
├── ConfigurationError         missing or unsafe settings
├── ClientClosed               used after aclose() (also RuntimeError)
├── QueueFull                  submit_nowait() found no room
├── ValidationError            bad input, rejected at submit (also ValueError)
├── APIStatusError             an HTTP status the SDK does not retry (or gave up on)
│   └── AuthenticationError    HTTP 401/403
├── GraphQLError               an error entry of a GraphQL response
│   ├── ScoreResultRejected    the API refused this one result for good
│   └── ScoreResultNotFound    no stored result has that id
├── DeliveryError              retries exhausted; `__cause__` is the last failure
└── PartialBatchError          batch_create() committed some results, not all
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._models import ScoreResult

CONDITIONAL_CHECK_FAILED = "DynamoDB:ConditionalCheckFailedException"
THROTTLING_ERROR_TYPES = frozenset(
    {
        "DynamoDB:ThrottlingException",
        "DynamoDB:ProvisionedThroughputExceededException",
        "DynamoDB:RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
    }
)
THROTTLING_MESSAGE_PREFIX = "Throughput exceeds the current capacity"


class PlexusError(Exception):
    """Base class of every error raised by plexus-async."""


class ConfigurationError(PlexusError):
    """The client is missing a setting, or a setting is unsafe."""


class ClientClosed(PlexusError, RuntimeError):
    """The client was used after `aclose()`."""


class QueueFull(PlexusError):
    """`submit_nowait()` found the queue at `max_queue_size`."""


class ValidationError(PlexusError, ValueError):
    """A result was rejected at submit time; nothing was enqueued."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class APIStatusError(PlexusError):
    """The API answered with an HTTP status that ends the attempt."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class AuthenticationError(APIStatusError):
    """The API key is missing or wrong (HTTP 401/403)."""


class GraphQLError(PlexusError):
    """One error entry of a GraphQL response, as AppSync shapes it."""

    def __init__(
        self,
        message: str,
        *,
        error_type: str | None = None,
        path: Sequence[str | int] | None = None,
        errors: Sequence[Mapping[str, Any]] = (),
        data: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.path = list(path) if path is not None else None
        self.errors = list(errors)
        """Every error entry of the response, for `execute()` callers."""
        self.data = data
        """The partial `data` of the response, when there was one."""

    @property
    def errorType(self) -> str | None:
        return self.error_type

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> GraphQLError:
        """Build the error for one AppSync error entry."""
        return cls(
            str(entry.get("message") or "GraphQL error"),
            error_type=entry.get("errorType"),
            path=entry.get("path"),
        )

    def __str__(self) -> str:
        prefix = f"{self.error_type}: " if self.error_type else ""
        where = f" (at {'.'.join(map(str, self.path))})" if self.path else ""
        return f"{prefix}{self.message}{where}"

    @property
    def is_throttling(self) -> bool:
        return self.error_type in THROTTLING_ERROR_TYPES or self.message.startswith(
            THROTTLING_MESSAGE_PREFIX
        )

    @property
    def is_conditional_check_failed(self) -> bool:
        return self.error_type == CONDITIONAL_CHECK_FAILED


class ScoreResultRejected(GraphQLError):
    """The API refused this result for a reason retrying cannot fix."""


class ScoreResultNotFound(GraphQLError):
    """No stored score result has the requested id."""


class DeliveryError(PlexusError):
    """A result could not be delivered before retries ran out.

    The last failure is chained as `__cause__` and kept as `last_error`.
    """

    def __init__(
        self, message: str, *, last_error: BaseException | None, attempts: int
    ) -> None:
        super().__init__(message)
        self.last_error = last_error
        self.attempts = attempts


class PartialBatchError(PlexusError):
    """`batch_create()` stored some results and not others."""

    def __init__(
        self,
        committed: list[ScoreResult],
        failed: dict[int, PlexusError],
    ) -> None:
        super().__init__(
            f"{len(failed)} of {len(committed) + len(failed)} results failed; "
            f"first: {next(iter(failed.values()))}"
        )
        self.committed = committed
        """The stored results, in input order without the failed ones."""
        self.failed = failed
        """Index in the input list -> the error of that result."""
