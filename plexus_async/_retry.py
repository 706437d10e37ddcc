"""Which failures are worth another attempt, and how long to wait before it."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import httpx
import tenacity

from ._config import RetryConfig
from ._errors import APIStatusError, GraphQLError

logger = logging.getLogger("plexus_async")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class RetryableStatus(APIStatusError):
    """An HTTP status worth retrying (429, 5xx), with the server's `Retry-After`."""

    def __init__(
        self, message: str, *, status_code: int, retry_after: float | None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


def is_retryable(exc: BaseException) -> bool:
    """True for transient failures: the network, 429/5xx and table throttling."""
    if isinstance(exc, (httpx.TimeoutException, httpx.NetworkError)):
        return True
    if isinstance(exc, httpx.RemoteProtocolError):
        return True
    if isinstance(exc, RetryableStatus):
        return True
    if isinstance(exc, GraphQLError):
        return exc.is_throttling
    return bool(getattr(exc, "retryable", False))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header; HTTP dates are not used by AppSync."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class _WaitRetryAfterOrBackoff(tenacity.wait.wait_base):
    """Honour the server's `Retry-After` (capped), else exponential backoff."""

    def __init__(self, config: RetryConfig) -> None:
        self._cap = config.retry_after_cap
        self._backoff = tenacity.wait_exponential(
            multiplier=config.initial_delay,
            max=config.max_delay,
            exp_base=config.backoff_factor,
        ) + tenacity.wait_random(0, config.jitter)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(min(retry_after, self._cap))
        return float(self._backoff(retry_state))


def _log_retry(what: str) -> Any:
    def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        delay = retry_state.next_action.sleep if retry_state.next_action else 0.0
        logger.warning(
            "retrying %s after %s (attempt %d) in %.2f s",
            what,
            _describe(exc),
            retry_state.attempt_number,
            delay,
        )

    return before_sleep


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no error"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def retrying(
    config: RetryConfig, what: str, *, on_retry: Any = None
) -> tenacity.AsyncRetrying:
    """A tenacity policy for one request (or one batch) under `config`."""
    log = _log_retry(what)

    def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        log(retry_state)
        if on_retry is not None:
            on_retry()

    return tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(config.max_attempts),
        wait=_WaitRetryAfterOrBackoff(config),
        retry=tenacity.retry_if_exception(is_retryable),
        before_sleep=before_sleep,
        sleep=anyio.sleep,
        reraise=True,
    )
