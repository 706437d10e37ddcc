"""`AsyncPlexusClient`: one pooled HTTP client, the retry policy and the queue."""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
import httpx
import orjson

from . import _graphql
from ._config import (
    API_KEY_ENV,
    API_URL_ENV,
    BREAKER_THRESHOLD,
    DEFAULT_TIMEOUT,
    BatchConfig,
    RetryConfig,
)
from ._errors import (
    APIStatusError,
    AuthenticationError,
    ClientClosed,
    ConfigurationError,
    GraphQLError,
    PartialBatchError,
    PlexusError,
    ScoreResultNotFound,
)
from ._models import ScoreResult
from ._queue import FlushReport, ScoreResultQueue, Stats
from ._retry import RETRY_STATUSES, RetryableStatus, parse_retry_after, retrying

if TYPE_CHECKING:
    from ._queue import FailureCallback

logger = logging.getLogger("plexus_async")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{API_URL_ENV} must be an http(s) URL of the GraphQL endpoint, got {url!r}"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            "plain http:// would send the API key unencrypted; use https:// "
            f"(http is allowed only for loopback hosts), got host {parts.hostname!r}"
        )
    return url


class _Gate:
    """Admits requests: adaptive concurrency with a circuit breaker.

    A 429 halves the number of requests allowed at once and each success adds
    one back; after `BREAKER_THRESHOLD` failures in a row only one request (a
    probe) is admitted until one succeeds, so retries never multiply traffic.
    """

    def __init__(self, max_concurrency: int) -> None:
        self.max = max_concurrency
        self.target = max_concurrency
        self.failures = 0
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.max)
        return self._limiter

    @property
    def is_open(self) -> bool:
        return self.failures >= BREAKER_THRESHOLD

    def _apply(self) -> None:
        self.limiter.total_tokens = 1 if self.is_open else self.target

    def succeeded(self) -> None:
        self.failures = 0
        self.target = min(self.max, self.target + 1)
        self._apply()

    def throttled(self) -> None:
        self.target = max(1, self.target // 2)
        self._apply()

    def failed(self) -> None:
        self.failures += 1
        self._apply()


class AsyncPlexusClient:
    """Async client for the Plexus dashboard API, with a batching result queue.

    Use it as `async with AsyncPlexusClient() as client:`, or call
    `await client.aclose()` when done so queued results are delivered.
    """

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        *,
        batch: BatchConfig | None = None,
        retry: RetryConfig | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        http2: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        dead_letter_path: str | os.PathLike[str] | None = None,
        on_failure: FailureCallback | None = None,
    ) -> None:
        url = api_url or os.environ.get(API_URL_ENV)
        if not url:
            raise ConfigurationError(
                f"no API URL: pass api_url= or set {API_URL_ENV} "
                "(or run `plexus-async serve` for a local server)"
            )
        key = api_key or os.environ.get(API_KEY_ENV)
        if not key:
            raise ConfigurationError(f"no API key: pass api_key= or set {API_KEY_ENV}")

        if not timeout > 0:
            raise ConfigurationError(
                f"timeout must be a positive number, got {timeout!r}"
            )
        self.api_url = _check_url(url)
        self._url = httpx.URL(self.api_url)
        self.batch_config = batch or BatchConfig()
        self.retry_config = retry or RetryConfig()
        self.timeout = timeout
        self._closed = False
        self.score_results = ScoreResultQueue(
            self,
            self.batch_config,
            self.retry_config,
            dead_letter_path=Path(dead_letter_path) if dead_letter_path else None,
            on_failure=on_failure,
        )
        """The batching queue: `submit`, `submit_nowait`, `submit_update`."""
        if http2 and importlib.util.find_spec("h2") is None:
            raise ConfigurationError(
                "http2=True needs the h2 package: pip install 'plexus-async[http2]'"
            )
        self._http = httpx.AsyncClient(
            headers={"x-api-key": key, "content-type": "application/json"},
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=self.batch_config.max_concurrent_requests + 2,
                max_keepalive_connections=self.batch_config.max_concurrent_requests + 2,
            ),
            http2=http2,
            transport=transport,
        )
        self._gate = _Gate(self.batch_config.max_concurrent_requests)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        shown = self._url.copy_with(username=None, password=None)
        return f"<AsyncPlexusClient api_url={str(shown)!r} api_key='***' {state}>"

    # -- lifecycle ------------------------------------------------------

    async def __aenter__(self) -> AsyncPlexusClient:
        self._ensure_open()
        self.score_results._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self, timeout: float | None = None) -> FlushReport:
        """Stop intake, drain the queue within `timeout` (default
        `shutdown_timeout`), dead-letter what is left, close the connections.

        Calling it again is harmless and reports an empty drain.
        """
        if self._closed:
            return FlushReport(committed=0, failed=0, pending=[], timed_out=False)
        self._closed = True
        with anyio.CancelScope(shield=True):
            try:
                report = await self.score_results._shutdown(timeout)
            finally:
                await self._http.aclose()
        return report

    async def flush(self, timeout: float | None = None) -> FlushReport:
        """Send everything submitted so far and wait (at most `timeout` s) for it."""
        self._ensure_open()
        return await self.score_results.flush(timeout)

    @property
    def stats(self) -> Stats:
        """A snapshot of the queue's counters."""
        return self.score_results.stats()

    def _ensure_open(self) -> None:
        if self._closed:
            raise ClientClosed("this AsyncPlexusClient is closed; create a new one")

    # -- requests -------------------------------------------------------

    async def post(self, body: bytes, *, items: int = 1) -> dict[str, Any]:
        """Send one request body once; return the decoded GraphQL response.

        Raises the typed error of an HTTP failure; GraphQL errors are left in
        the returned body for the caller to read alias by alias.
        """
        gate = self._gate
        async with self._gate.limiter:
            self.score_results._count_request(len(body))
            started = time.perf_counter()
            try:
                response = await self._http.post(self._url, content=body)
            except httpx.TransportError:
                gate.failed()
                raise
        elapsed = time.perf_counter() - started
        logger.debug(
            "request: %d item(s), %d bytes, HTTP %d in %.1f ms",
            items,
            len(body),
            response.status_code,
            elapsed * 1000,
        )

        status = response.status_code
        if status == 200:
            try:
                decoded = orjson.loads(response.content)
            except ValueError:
                gate.failed()
                raise RetryableStatus(
                    "HTTP 200 with a body that is not JSON",
                    status_code=200,
                    retry_after=None,
                ) from None
            gate.succeeded()
            if not isinstance(decoded, dict):
                raise APIStatusError("response is not a JSON object", status_code=200)
            return decoded
        if status in RETRY_STATUSES:
            if status == 429:
                gate.throttled()
            else:
                gate.failed()
            raise RetryableStatus(
                f"HTTP {status}: {_error_message(response)}",
                status_code=status,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        gate.succeeded()  # The server answered; it is not an outage.
        if status in (401, 403):
            raise AuthenticationError(
                f"HTTP {status}: {_error_message(response)} (check {API_KEY_ENV})",
                status_code=status,
            )
        raise APIStatusError(
            f"HTTP {status}: {_error_message(response)}", status_code=status
        )

    async def execute(
        self, query: str, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run one GraphQL document, retried on transient failures; return `data`.

        Raises `GraphQLError` (with every entry in `.errors` and any partial
        `.data`) when the response carries errors.
        """
        self._ensure_open()
        return await self._execute(query, variables)

    async def _execute(
        self, query: str, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        # Also used while draining after aclose() began, so no open check.
        body = json.dumps(
            {"query": query, "variables": dict(variables or {})},
            separators=(",", ":"),
        ).encode()
        async for attempt in retrying(
            self.retry_config, "request", on_retry=self.score_results._count_retry
        ):
            with attempt:
                response = await self.post(body)
                errors = response.get("errors")
                if errors:
                    first = errors[0]
                    raise GraphQLError(
                        str(first.get("message") or "GraphQL error"),
                        error_type=first.get("errorType"),
                        path=first.get("path"),
                        errors=errors,
                        data=response.get("data"),
                    )
        data = response.get("data")
        return data if isinstance(data, dict) else {}

    # -- ScoreResult operations -------------------------------------------

    async def _get(self, id: str) -> ScoreResult:
        data = await self.execute(_graphql.GET_QUERY, {"id": id})
        record = data.get("getScoreResult")
        if record is None:
            raise ScoreResultNotFound(f"no score result with id {id!r}")
        return ScoreResult.from_dict(record, self)

    async def _get_many(self, ids: list[str]) -> list[dict[str, Any] | None]:
        """Fetch several records in one request (None where there is none).

        One attempt only: the queue calls it inside a batch's own retry loop,
        and nested retries would multiply traffic during an outage.
        """
        variables = {f"g{i}": id for i, id in enumerate(ids)}
        body = json.dumps(
            {"query": _graphql.get_many_document(len(ids)), "variables": variables},
            separators=(",", ":"),
        ).encode()
        response = await self.post(body, items=len(ids))
        for entry in response.get("errors") or ():
            raise GraphQLError.from_entry(entry)
        data = response.get("data") or {}
        return [data.get(f"g{i}") for i in range(len(ids))]

    async def _list(
        self,
        keys: dict[str, Any],
        limit: int | None,
        filter: Mapping[str, Any] | None,
    ) -> AsyncIterator[ScoreResult]:
        index_field = next((f for f in _graphql.INDEX_QUERIES if f in keys), None)
        query, field = _graphql.list_query(index_field)
        conditions = [{name: {"eq": value}} for name, value in keys.items()]
        if index_field is not None:
            conditions = [c for c in conditions if index_field not in c]
        if filter:
            conditions.append(dict(filter))
        unknown = set(keys) - set(_graphql.FIELD_NAMES)
        if unknown:
            raise TypeError(f"unknown field(s) to list by: {sorted(unknown)}")

        variables: dict[str, Any] = {"limit": limit, "nextToken": None}
        if index_field is not None:
            variables["key"] = keys[index_field]
        if conditions:
            variables["filter"] = (
                conditions[0] if len(conditions) == 1 else {"and": conditions}
            )
        while True:
            data = await self.execute(query, variables)
            page = data.get(field) or {}
            for record in page.get("items") or ():
                if record is not None:
                    yield ScoreResult.from_dict(record, self)
            variables["nextToken"] = page.get("nextToken")
            if not variables["nextToken"]:
                return

    async def _create_one(self, result: ScoreResult) -> ScoreResult:
        [stored] = await self._batch_create([result])
        return stored

    async def _batch_create(self, results: list[ScoreResult]) -> list[ScoreResult]:
        self._ensure_open()
        if not results:
            return []
        handles = await self.score_results._deliver_now(results)
        committed: list[ScoreResult] = []
        failed: dict[int, PlexusError] = {}
        for index, handle in enumerate(handles):
            error = handle.exception()
            if error is None:
                committed.append(handle.result())
            else:
                failed[index] = error
        if failed and len(results) == 1:
            raise failed[0]
        if failed:
            raise PartialBatchError(committed, failed)
        return committed


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
        errors = body.get("errors") or [body]
        first = errors[0]
        kind = first.get("errorType")
        message = first.get("message") or response.reason_phrase
        return f"{kind}: {message}" if kind else str(message)
    except (ValueError, AttributeError, IndexError, TypeError):
        return response.reason_phrase or "no message"
