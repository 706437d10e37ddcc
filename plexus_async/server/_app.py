"""The ASGI application: AppSync's HTTP behaviour around the GraphQL schema."""

from __future__ import annotations

import hmac
import json
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import anyio
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    execute_sync,
    parse,
    validate,
)

from ._creates import CreatePlan, plan_creates
from ._faults import Faults
from ._schema import AppSyncError, Context, executable_schema, strict_json_loads
from ._store import Store

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_HANG_POLL = 0.05
_DROP_MESSAGE = "ASGI callable returned without completing response."


@dataclass(frozen=True)
class RequestRecord:
    """One request the server received."""

    status: int | None
    """HTTP status answered; None when the request hung without an answer."""
    fields: tuple[str, ...]
    """Top-level field names of the operation, e.g. 25 x createScoreResult."""
    body_bytes: int
    """Size of the request body."""
    fault: str | None = None
    """The `Faults` switch that decided the answer (e.g. "throttle_rate"), if
    any."""


class RequestLog:
    """A thread-safe record of the requests a server received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def snapshot(self) -> list[RequestRecord]:
        """A copy of the records so far, oldest first."""
        with self._lock:
            return list(self._records)

    def statuses(self) -> list[int | None]:
        return [record.status for record in self.snapshot()]

    def fields(self) -> list[str]:
        """Every top-level field name of every request, in order."""
        return [name for record in self.snapshot() for name in record.fields]

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.snapshot())


@dataclass
class _Request:
    """A request body, parsed as far as it goes."""

    size: int
    payload: dict[str, Any] | None = None
    malformed: str | None = None
    document: DocumentNode | None = None
    errors: tuple[GraphQLError, ...] = ()
    plan: CreatePlan | None = None
    fields: tuple[str, ...] = ()


@dataclass
class _Reply:
    """An HTTP response to send."""

    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    fault: str | None = None


class _DropFilter(logging.Filter):
    """Hide uvicorn's complaint about the responses we cut off on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _DROP_MESSAGE


class PlexusApp:
    """
    ASGI app serving POST /graphql like the Plexus AppSync API.

    Build it with `create_app`.
    """

    def __init__(
        self,
        store: Store,
        api_key: str,
        faults: Faults | None = None,
    ) -> None:
        self.store = store
        self.faults = faults if faults is not None else Faults()
        self.requests = RequestLog()
        self._api_key = api_key.encode()
        self._schema = executable_schema()
        self._release_generation = 0
        self._in_flight = 0
        _quiet_drops()

    def release_hung(self) -> None:
        """Answer every hung request with 503, so that a shutdown can finish."""
        self._release_generation += 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/graphql":
            await _send(send, _error(404, "NotFoundException", "Not found."))
            return
        if scope["method"] != "POST":
            await _send(send, _error(405, "MethodNotAllowedException", "Use POST."))
            return

        self._in_flight += 1
        try:
            await self._serve(scope, receive, send)
        finally:
            self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        """How many requests are being answered (or hanging) right now."""
        return self._in_flight

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = _parse_request(await _read_body(receive))
        reply = await self._answer(scope, request)
        # Logged before answering, so a client that has its response can
        # rely on the log showing the request.
        self.requests.append(
            RequestRecord(
                reply.status if reply else None,
                request.fields,
                request.size,
                reply.fault if reply else "hang",
            )
        )
        if reply is None:
            await self._hang(receive, send)
        else:
            await _send(send, reply)

    async def _answer(self, scope: Scope, request: _Request) -> _Reply | None:
        """
        Decide the reply to one request, executing it if it gets that far.

        None means the request hangs.
        """
        faults = self.faults

        if faults.latency:
            await anyio.sleep(faults.latency)
        if faults.max_body_bytes is not None and request.size > faults.max_body_bytes:
            return _error(
                413,
                "PayloadTooLargeException",
                "Request entity too large.",
                fault="max_body_bytes",
            )
        if faults.outage:
            return _error(
                503,
                "ServiceUnavailableException",
                "Service unavailable.",
                fault="outage",
            )
        if faults.hang:
            return None
        if faults.roll(faults.error_rate):
            status = faults.rng.choice((500, 502, 503))
            return _error(
                status,
                "InternalFailure",
                "An internal failure occurred.",
                fault="error_rate",
            )
        if faults.roll(faults.throttle_rate):
            reply = _error(
                429, "TooManyRequestsException", "Rate exceeded.", fault="throttle_rate"
            )
            reply.headers.append((b"retry-after", f"{faults.retry_after:g}".encode()))
            return reply

        denial = self._check_key(scope)
        if denial is not None:
            return _error(401, "UnauthorizedException", denial)
        if request.malformed is not None:
            return _error(400, "MalformedHttpRequestException", request.malformed)

        reply = _Reply(200, _encode(self._execute(request)))
        if faults.roll(faults.drop_response_rate):
            reply.fault = "drop_response_rate"
        return reply

    def _check_key(self, scope: Scope) -> str | None:
        keys = [value for name, value in scope["headers"] if name == b"x-api-key"]
        if not keys:
            return "Valid authorization header not provided."
        if not hmac.compare_digest(keys[0], self._api_key):
            return "You are not authorized to make this call."
        return None

    def _execute(self, request: _Request) -> dict[str, Any]:
        assert request.payload is not None
        if request.errors:
            return _failed(request.errors)
        assert request.document is not None
        # Resolvers are synchronous SQLite calls, so execution runs inline;
        # mutation fields run one after another, as the spec demands. One
        # commit for the request rather than one per write: each field still
        # succeeds or fails alone, and nothing is answered before the commit.
        variables = request.payload.get("variables")
        operation_name = request.payload.get("operationName")
        context = Context(self.store, self.faults)
        with self.store.transaction():
            outcome = None
            if request.plan is not None:
                outcome = request.plan.execute(context, variables, operation_name)
            if outcome is None:
                result = execute_sync(
                    self._schema,
                    request.document,
                    variable_values=variables,
                    operation_name=operation_name,
                    context_value=context,
                )
                data, errors = result.data, result.errors
            else:
                data, errors = outcome
        response: dict[str, Any] = {"data": data}
        if errors:
            response["errors"] = [_format_error(error) for error in errors]
        return response

    async def _hang(self, receive: Receive, send: Send) -> None:
        generation = self._release_generation
        while generation == self._release_generation:
            # Poll, because release_hung is called from another thread.
            with anyio.move_on_after(_HANG_POLL):
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
        await _send(
            send, _error(503, "ServiceUnavailableException", "Server shutting down.")
        )


def create_app(store: Store, api_key: str, faults: Faults | None = None) -> PlexusApp:
    """The ASGI app of the local Plexus server over `store`."""
    return PlexusApp(store, api_key, faults)


def _quiet_drops() -> None:
    uvicorn_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropFilter) for f in uvicorn_logger.filters):
        uvicorn_logger.addFilter(_DropFilter())


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _parse_request(body: bytes) -> _Request:
    request = _Request(size=len(body))
    if not body.strip():
        request.malformed = "Request body is empty."
        return request
    try:
        payload = strict_json_loads(body, _REQUEST_JSON)
    except ValueError as exc:
        request.malformed = f"Unable to parse JSON document: {exc}"
        return request
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        request.malformed = "The request body must be a JSON object with a query."
        return request
    if not isinstance(payload.get("variables") or {}, dict) or not isinstance(
        payload.get("operationName") or "", str
    ):
        request.malformed = "variables must be an object, operationName a string."
        return request

    request.payload = payload
    request.document, request.errors, request.plan = _compile(payload["query"])
    if request.document is not None:
        request.fields = _top_level_fields(
            request.document, payload.get("operationName")
        )
    return request


@lru_cache(maxsize=256)
def _compile(
    query: str,
) -> tuple[DocumentNode | None, tuple[GraphQLError, ...], CreatePlan | None]:
    """
    Parse and validate a document; the errors fail the whole request. A valid
    document made only of creates comes with the plan that runs it directly.
    """
    # Cached because clients send the same few documents over and over (a
    # batch of N aliased creates is one text for every N), and validation
    # costs more than executing the batch.
    try:
        document = parse(query)
    except GraphQLError as exc:
        return None, (exc,), None
    schema = executable_schema()
    errors = tuple(validate(schema, document))
    plan = None if errors else plan_creates(schema, document)
    return document, errors, plan


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_REQUEST_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def _top_level_fields(
    document: DocumentNode, operation_name: str | None
) -> tuple[str, ...]:
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        name = definition.name.value if definition.name else None
        if operation_name is None or name == operation_name:
            return tuple(
                selection.name.value
                for selection in definition.selection_set.selections
                if isinstance(selection, FieldNode)
            )
    return ()


def _failed(errors: Sequence[GraphQLError]) -> dict[str, Any]:
    """A whole-request failure: nothing executed."""
    return {"data": None, "errors": [_format_error(error) for error in errors]}


def _format_error(error: GraphQLError) -> dict[str, Any]:
    original = error.original_error
    error_type: str | None = None
    if isinstance(original, AppSyncError):
        error_type = original.error_type
    elif original is not None and error.path is not None:
        # A resolver bug, not a modelled failure: say so and keep the trace.
        logger.error("Resolver failed at %s", error.path, exc_info=original)
        error_type = "InternalFailure"
    return {
        "path": error.path,
        "data": None,
        "errorType": error_type,
        "errorInfo": None,
        "locations": [
            {"line": location.line, "column": location.column, "sourceName": None}
            for location in error.locations or ()
        ],
        "message": error.message,
    }


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _error(
    status: int, error_type: str, message: str, *, fault: str | None = None
) -> _Reply:
    body = _encode({"errors": [{"errorType": error_type, "message": message}]})
    return _Reply(status, body, fault=fault)


async def _send(send: Send, reply: _Reply) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": [
                (b"content-type", b"application/json;charset=UTF-8"),
                (b"content-length", str(len(reply.body)).encode()),
                (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
                *reply.headers,
            ],
        }
    )
    if reply.fault == "drop_response_rate":
        # Announce the full length, send half, and return: uvicorn then closes
        # the connection, which the client sees as a response cut off.
        half = reply.body[: len(reply.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})
    else:
        await send({"type": "http.response.body", "body": reply.body})
