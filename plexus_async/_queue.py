"""The batching queue: every submitted result settles exactly once.

Work is kept as operations (`_Op`): one create or one update of one id, with
the handles it will settle. At most one unsent operation exists per id, so a
later update merges into it; an operation for an id that is in flight waits
(`_blocked`) until that one settles, which keeps updates behind their create.
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.abc
import anyio.lowlevel
import httpx
import orjson
import sniffio

from . import _graphql
from ._config import MAX_REQUEST_BYTES, BatchConfig, RetryConfig
from ._errors import (
    APIStatusError,
    ClientClosed,
    DeliveryError,
    GraphQLError,
    PlexusError,
    QueueFull,
    ScoreResultNotFound,
    ScoreResultRejected,
    ValidationError,
)
from ._models import ScoreResult, ScoreResultUpdate
from ._retry import is_retryable, retrying
from ._spool import Spool

if TYPE_CHECKING:
    from ._client import AsyncPlexusClient

logger = logging.getLogger("plexus_async")

FailureCallback = Callable[[str, PlexusError, dict[str, Any]], Any]
"""`on_failure(id, error, input)`: called once for every result that failed."""

# Bytes a field adds to the document and variables besides its input: the
# alias, the selection and the variable declaration (measured, rounded up).
_CREATE_OVERHEAD = 120
_UPDATE_OVERHEAD = 420
_BODY_OVERHEAD = 64


@dataclass(frozen=True)
class FlushReport:
    """What a `flush()` or `aclose()` saw of the results it waited for."""

    committed: int
    """Results stored."""
    failed: int
    """Results that failed with a typed error."""
    pending: list[str] = field(default_factory=list)
    """Ids still unsettled when the deadline came."""
    timed_out: bool = False
    """Whether the deadline cut the wait short."""


@dataclass(frozen=True)
class Stats:
    """Counters of the queue since the client was made."""

    submitted: int
    queued: int
    in_flight: int
    committed: int
    failed: int
    retries: int
    requests: int
    bytes_sent: int
    dead_lettered: int


class PendingScoreResult:
    """The handle of one submitted result: await it for the stored `ScoreResult`.

    Cancelling a task that awaits it cancels only that wait, never delivery.
    """

    __slots__ = ("_done", "_error", "_event", "_queue", "_record", "_result", "id")

    def __init__(self, id: str, queue: ScoreResultQueue) -> None:
        self.id = id
        """The client-generated id, known at once."""
        self._queue = queue
        # Made only when someone waits: most handles are never awaited.
        self._event: anyio.Event | None = None
        self._done = False
        self._record: dict[str, Any] | None = None
        self._result: ScoreResult | None = None
        self._error: PlexusError | None = None

    def __repr__(self) -> str:
        state = (
            "pending"
            if not self._done
            else ("failed" if self._error is not None else "committed")
        )
        return f"<PendingScoreResult id={self.id!r} {state}>"

    def done(self) -> bool:
        """Whether the result has settled (committed or failed)."""
        return self._done

    def result(self) -> ScoreResult:
        """The stored result; raises its error, or `RuntimeError` while pending."""
        if not self._done:
            raise RuntimeError(f"result {self.id} has not settled yet")
        if self._error is not None:
            raise self._error
        if self._result is None:
            assert self._record is not None
            self._result = ScoreResult.from_dict(self._record, self._queue._client)
        return self._result

    def exception(self) -> PlexusError | None:
        """The error it failed with, or None; `RuntimeError` while pending."""
        if not self._done:
            raise RuntimeError(f"result {self.id} has not settled yet")
        return self._error

    def __await__(self) -> Generator[Any, None, ScoreResult]:
        return self._wait().__await__()

    async def _wait(self) -> ScoreResult:
        await self._settled()
        return self.result()

    async def _settled(self) -> None:
        if not self._done:
            if self._event is None:
                self._event = anyio.Event()
            await self._event.wait()

    async def update(self, **fields: Any) -> ScoreResult:
        """Update this result (after its create) and return it as stored."""
        companions = self._record_companions()
        pending = await self._queue.submit_update(self.id, **{**companions, **fields})
        return await pending

    def _record_companions(self) -> dict[str, Any]:
        if not self._done or self._error is not None or self._record is None:
            return {}
        return _companions_of(self._record)

    def _settle(self, record: dict[str, Any] | None, error: PlexusError | None) -> None:
        if self._done:
            return
        self._record = record
        self._error = error
        self._done = True
        if self._event is not None:
            self._event.set()


class _Op:
    """One create or update of one id, and the handles it settles."""

    __slots__ = (
        "attempts",
        "encoded",
        "enqueued",
        "error",
        "handles",
        "id",
        "input",
        "kind",
        "replayed",
        "result",
        "size",
        "spool_seqs",
    )

    def __init__(
        self, kind: Literal["create", "update"], id: str, input: dict[str, Any]
    ) -> None:
        self.kind = kind
        self.id = id
        self.input = input
        self.handles: list[PendingScoreResult] = []
        self.attempts = 0
        self.replayed = False
        """Sent by an earlier process (a replayed dead letter): it may be stored."""
        self.enqueued = 0.0
        self.result: dict[str, Any] | None = None
        """The stored record, in wire form, once committed."""
        self.error: PlexusError | None = None
        self.encoded = b""
        self.size = 0
        self.spool_seqs: list[int] = []
        self.encode()

    def encode(self) -> None:
        self.encoded = orjson.dumps(self.input)
        overhead = _CREATE_OVERHEAD if self.kind == "create" else _UPDATE_OVERHEAD
        self.size = len(self.encoded) + overhead

    @property
    def settled(self) -> bool:
        return self.result is not None or self.error is not None

    def merge(self, wire: dict[str, Any]) -> None:
        """Fold a later update into this unsent operation (last writer wins)."""
        self.input.update(wire)
        self.encode()

    def fill_companions(self, record: dict[str, Any]) -> None:
        """Take missing index companions from the record this update follows."""
        known = {
            k: v for k, v in _companions_of(record).items() if self.input.get(k) is None
        }
        if known:
            self.input.update(known)
            self.encode()

    def missing_companions(self) -> list[str]:
        return [n for n in _graphql.UPDATE_COMPANIONS if self.input.get(n) is None]


class _WholeRequestRejected(PlexusError):
    """The API refused the whole document (variable coercion, HTTP 413)."""


class _Unfinished(PlexusError):
    """Some operations of a batch need another attempt (table throttling)."""

    def __init__(self, last: PlexusError) -> None:
        super().__init__(str(last))
        self.last = last
        self.retryable = True


class ScoreResultQueue:
    """Batches score-result creates and updates into few requests.

    Reach it as `client.score_results`.
    """

    def __init__(
        self,
        client: AsyncPlexusClient,
        config: BatchConfig,
        retry: RetryConfig,
        *,
        dead_letter_path: Path | None = None,
        on_failure: FailureCallback | None = None,
    ) -> None:
        self._client = client
        self._config = config
        self._retry = retry
        self._dead_letter_path = dead_letter_path
        self._on_failure = on_failure
        self._spool = Spool(config.spool_path) if config.spool_path else None
        self._spool_done: list[int] = []
        self._dead_letters: list[str] = []

        self._ready: deque[_Op] = deque()
        self._ready_bytes = 0
        self._unsent: dict[str, _Op] = {}
        self._inflight: dict[str, _Op] = {}
        self._blocked: dict[str, _Op] = {}
        self._held = 0
        self._flushing = 0
        self._closing = False
        self._abandoning = False
        self._started = False
        self._wakeup: anyio.Event | None = None
        self._room: anyio.Event | None = None
        self._slots: anyio.Semaphore | None = None
        self._worker_done: anyio.Event | None = None
        self._cancel_worker: anyio.CancelScope | None = None
        self._counts = {
            "submitted": 0,
            "committed": 0,
            "failed": 0,
            "retries": 0,
            "requests": 0,
            "bytes_sent": 0,
            "dead_lettered": 0,
        }

    # -- public API -----------------------------------------------------

    async def submit(self, **fields: Any) -> PendingScoreResult:
        """Validate and enqueue a result, waiting while the queue is full.

        With a spool, it returns once the result is on disk.
        """
        op = self._build_create(fields)
        await self._wait_for_room()
        if self._spool is not None:
            op.spool_seqs.append(await self._spool.write(op.id, "create", op.input))
        handle = self._enqueue_create(op)
        if len(self._ready) % self._config.max_batch_size == 0:
            # A full batch is waiting: let the worker send it now rather than
            # once a producer in a tight loop has filled the whole queue.
            await anyio.lowlevel.checkpoint()
        return handle

    def submit_nowait(self, **fields: Any) -> PendingScoreResult:
        """Validate and enqueue a result; raise `QueueFull` when there is no room."""
        op = self._build_create(fields)
        self._check_open()
        if self._held >= self._config.max_queue_size:
            raise QueueFull(
                f"{self._held} results are waiting (max_queue_size="
                f"{self._config.max_queue_size}); await submit() to wait for room"
            )
        self._start()
        if self._spool is not None:
            # A short synchronous write: this method cannot await.
            op.spool_seqs.append(self._spool.add(op.id, "create", op.input))
        return self._enqueue_create(op)

    async def submit_update(self, id: str, **fields: Any) -> PendingScoreResult:
        """Enqueue an update of result `id`; it never overtakes that id's create.

        Give the index companion fields (`status`, `type`, `scoreId`,
        `scorecardId`, `itemId`, `createdAt`) if you know them; missing ones are
        fetched once, in a batch, before the update is sent.
        """
        if not isinstance(id, str) or not id:
            raise ValidationError("id: must be a non-empty string", field="id")
        update = ScoreResultUpdate.build(fields)
        wire = update.to_input()
        # Measured as `_Op.encode` measures it, so the limit means the same.
        self._check_size(len(orjson.dumps(wire)) + _UPDATE_OVERHEAD, wire)
        await self._wait_for_room()
        seqs: list[int] = []
        if self._spool is not None:
            seqs.append(await self._spool.write(id, "update", {"id": id, **wire}))
        self._check_open()
        return self._enqueue_update(id, wire, seqs)

    def _enqueue_update(
        self,
        id: str,
        wire: dict[str, Any],
        seqs: list[int],
        handle: PendingScoreResult | None = None,
    ) -> PendingScoreResult:
        handle = handle or PendingScoreResult(id, self)
        self._hold(1)
        existing = self._unsent.get(id)
        if existing is not None and existing.replayed:
            # A recovered create may be stored already; merged fields would
            # be lost when it turns out so. Send the update after it instead.
            op = _Op("update", id, {"id": id, **wire})
            op.spool_seqs.extend(seqs)
            op.handles.append(handle)
            self._unsent[id] = op
            self._blocked[id] = op
            return handle
        if existing is not None:
            before = existing.size
            existing.merge(wire)
            existing.handles.append(handle)
            existing.spool_seqs.extend(seqs)
            if self._blocked.get(id) is not existing:
                self._ready_bytes += existing.size - before
            return handle

        op = _Op("update", id, {"id": id, **wire})
        op.spool_seqs.extend(seqs)
        op.handles.append(handle)
        self._unsent[id] = op
        if id in self._inflight:
            self._blocked[id] = op
        else:
            self._push(op)
        return handle

    async def _replay(self, entry: dict[str, Any]) -> PendingScoreResult:
        """Resubmit one dead-letter entry; it may already be stored, so a
        conditional-check failure on its create means it committed earlier."""
        op = _rebuilt(entry.get("kind", "create"), dict(entry["input"]))
        await self._wait_for_room()
        seqs: list[int] = []
        if self._spool is not None:
            seqs.append(await self._spool.write(op.id, op.kind, op.input))
        self._check_open()
        return self._enqueue_rebuilt(op, seqs)

    def _enqueue_rebuilt(self, op: _Op, seqs: list[int]) -> PendingScoreResult:
        if op.kind == "update":
            wire = {k: v for k, v in op.input.items() if k != "id"}
            return self._enqueue_update(op.id, wire, seqs)
        op.spool_seqs.extend(seqs)
        return self._enqueue_create(op)

    async def flush(self, timeout: float | None = None) -> FlushReport:
        """Send everything queued now and wait (at most `timeout` s) until it
        settles. Results submitted meanwhile go out too; the queue stays open."""
        self._start()
        handles = self._all_handles()
        self._flushing += 1
        self._wake()
        try:
            return await _wait_report(handles, timeout)
        finally:
            self._flushing -= 1

    def stats(self) -> Stats:
        """A snapshot of the counters."""
        in_flight = sum(len(op.handles) for op in self._inflight.values())
        queued = sum(len(op.handles) for op in self._live_ops()) - in_flight
        return Stats(queued=queued, in_flight=in_flight, **self._counts)

    # -- intake ---------------------------------------------------------

    def _build_create(self, fields: dict[str, Any]) -> _Op:
        self._check_open()
        op = _create_op(ScoreResult.wire_of(fields))
        if op.id in self._unsent or op.id in self._inflight:
            raise ValidationError(
                f"id: {op.id!r} was already submitted to this client", field="id"
            )
        self._check_size(op.size, op.input)
        return op

    def _check_size(self, size: int, wire: dict[str, Any]) -> None:
        limit = min(self._config.max_batch_bytes, MAX_REQUEST_BYTES) - _BODY_OVERHEAD
        if size + 400 > limit:
            # Name the field that makes it large: that is what to shrink.
            largest = max(wire, key=lambda name: len(str(wire[name])))
            raise ValidationError(
                f"{largest}: the result is about {size} bytes encoded, too large "
                f"to send even alone (max_batch_bytes="
                f"{self._config.max_batch_bytes}); {largest} is its largest field",
                field=largest,
            )

    def _enqueue_create(self, op: _Op) -> PendingScoreResult:
        self._check_open()
        handle = PendingScoreResult(op.id, self)
        op.handles.append(handle)
        self._hold(1)
        self._unsent[op.id] = op
        self._push(op)
        return handle

    def _check_open(self) -> None:
        if self._closing:
            raise ClientClosed("the client is closing; results are no longer accepted")

    async def _wait_for_room(self) -> None:
        self._check_open()
        self._start()
        while self._held >= self._config.max_queue_size:
            if self._room is None or self._room.is_set():
                self._room = anyio.Event()
            await self._room.wait()
            self._check_open()

    def _hold(self, count: int) -> None:
        self._counts["submitted"] += count
        self._held += count

    def _push(self, op: _Op) -> None:
        op.enqueued = time.monotonic()
        self._ready.append(op)
        self._ready_bytes += op.size
        self._start()
        if (
            len(self._ready) >= self._config.max_batch_size
            or self._ready_bytes >= self._config.max_batch_bytes
            or len(self._ready) == 1
            or self._flushing
            or self._closing
        ):
            self._wake()

    def _all_handles(self) -> list[PendingScoreResult]:
        return [handle for op in self._live_ops() for handle in op.handles]

    def _live_ops(self) -> list[_Op]:
        """Every unsettled operation: ready, blocked or in flight."""
        ops = [*self._ready, *self._unsent.values(), *self._inflight.values()]
        return list({id(op): op for op in ops}.values())

    # -- the worker -----------------------------------------------------

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        self._wakeup = anyio.Event()
        self._slots = anyio.Semaphore(self._config.max_concurrent_requests)
        self._worker_done = anyio.Event()
        _spawn_detached(self._run)
        if self._spool is not None:
            self._recover(self._spool)

    def _recover(self, spool: Spool) -> None:
        """Queue again what an earlier process left unsettled in the spool."""
        rows = spool.pending()
        for row in rows:
            try:
                self._enqueue_rebuilt(_rebuilt(row.kind, row.input), [row.seq])
            except PlexusError as exc:
                # A row that can no longer be sent must not block the rest.
                op = _Op(row.kind, row.id, row.input)  # type: ignore[arg-type]
                op.spool_seqs.append(row.seq)
                op.handles.append(PendingScoreResult(row.id, self))
                self._hold(1)
                self._unsent[row.id] = op
                self._fail(op, exc)
        if rows:
            logger.warning(
                "recovered %d unsettled result(s) from spool %s", len(rows), spool.path
            )

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    async def _run(self) -> None:
        assert self._worker_done is not None
        try:
            with anyio.CancelScope() as scope:
                self._cancel_worker = scope
                async with anyio.create_task_group() as tg:
                    while not (self._closing and self._held == 0):
                        try:
                            await self._dispatch(tg)
                        except Exception:
                            # The worker must not die: what it was handling
                            # is settled by `_send`; it carries on.
                            logger.exception("the batching worker hit an error")
                            await anyio.sleep(0.01)
        except anyio.get_cancelled_exc_class():
            if not self._closing:
                await self._abandoned()
            raise
        finally:
            self._worker_done.set()

    async def _dispatch(self, tg: anyio.abc.TaskGroup) -> None:
        assert self._slots is not None
        await self._wait_until_due()
        if not self._ready:
            return
        await self._slots.acquire()
        try:
            batch = self._take_batch()
        except BaseException:
            self._slots.release()
            raise
        if batch:
            tg.start_soon(self._send, batch)
        else:
            self._slots.release()

    async def _abandoned(self) -> None:
        """The event loop is ending and nobody closed the client."""
        warnings.warn(
            f"AsyncPlexusClient was not closed and still held {self._held} "
            "undelivered result(s); use `async with` or `await client.aclose()`",
            ResourceWarning,
            stacklevel=1,
        )
        self._closing = True
        self._abandoning = True
        self._client._closed = True
        with anyio.CancelScope(shield=True):
            await self._client._http.aclose()
            await self._persist_settled()
            if self._spool is not None:
                await anyio.to_thread.run_sync(self._spool.close)

    async def _wait_until_due(self) -> None:
        while True:
            assert self._wakeup is not None
            if self._wakeup.is_set():
                self._wakeup = anyio.Event()
            if self._closing and self._held == 0:
                return
            if self._ready:
                if (
                    len(self._ready) >= self._config.max_batch_size
                    or self._ready_bytes >= self._config.max_batch_bytes
                    or self._flushing
                    or self._closing
                ):
                    return
                due = self._ready[0].enqueued + self._config.max_latency
                delay = due - time.monotonic()
                if delay <= 0:
                    return
                with anyio.move_on_after(delay):
                    await self._wakeup.wait()
            else:
                await self._wakeup.wait()

    def _take_batch(self) -> list[_Op]:
        batch: list[_Op] = []
        size = _BODY_OVERHEAD
        while self._ready and len(batch) < self._config.max_batch_size:
            op = self._ready[0]
            if batch and size + op.size > self._config.max_batch_bytes:
                break
            self._ready.popleft()
            self._ready_bytes -= op.size
            size += op.size
            if self._unsent.get(op.id) is op:
                del self._unsent[op.id]
            self._inflight[op.id] = op
            batch.append(op)
        return batch

    async def _send(self, batch: list[_Op]) -> None:
        assert self._slots is not None
        try:
            await self._deliver(batch)
        except anyio.get_cancelled_exc_class():
            # Only shutdown cancels delivery; it settles what is left.
            raise
        except Exception as exc:
            # The worker must not die, nor leave a result pending forever.
            logger.exception("unexpected error while delivering a batch")
            for op in batch:
                if not op.settled:
                    self._fail(
                        op,
                        DeliveryError(
                            f"delivery of {op.id} was interrupted: {exc!r}",
                            last_error=exc,
                            attempts=op.attempts,
                        ),
                    )
        finally:
            self._slots.release()
            await self._persist_settled()

    async def _persist_settled(self) -> None:
        """Write pending dead letters, then forget the spool rows of what settled."""
        if not self._dead_letters and not (self._spool and self._spool_done):
            return
        lines, self._dead_letters = self._dead_letters, []
        seqs, self._spool_done = self._spool_done, []
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._write_settled, lines, seqs)

    def _write_settled(self, lines: list[str], seqs: list[int]) -> None:
        if lines and self._dead_letter_path is not None:
            with self._dead_letter_path.open("a", encoding="utf-8") as file:
                file.writelines(lines)
        if seqs and self._spool is not None:
            self._spool.done(seqs)

    async def _deliver_now(
        self, results: Sequence[ScoreResult]
    ) -> list[PendingScoreResult]:
        """Deliver creates in the caller's task, as one request (batch_create)."""
        self._start()
        ops = []
        for model in results:
            op = _create_op(model.to_input())
            op.handles.append(PendingScoreResult(op.id, self))
            ops.append(op)
        await self._deliver(ops, track=False)
        return [op.handles[0] for op in ops]

    # -- delivery -------------------------------------------------------

    async def _deliver(self, ops: list[_Op], *, track: bool = True) -> None:
        """Send `ops` as one request, retrying and splitting, until all settle."""
        remaining = [op for op in ops if not op.settled]
        try:
            async for attempt in retrying(
                self._retry, f"batch of {len(ops)}", on_retry=self._count_retry
            ):
                with attempt:
                    remaining = await self._attempt(remaining, track)
        except _WholeRequestRejected as exc:
            remaining = [op for op in remaining if not op.settled]
            if len(remaining) <= 1:
                for op in remaining:
                    self._fail(
                        op,
                        ScoreResultRejected(f"the API refused this result: {exc}"),
                        track,
                    )
                return
            half = len(remaining) // 2
            await self._deliver(remaining[:half], track=track)
            await self._deliver(remaining[half:], track=track)
            return
        except Exception as exc:
            last = exc.last if isinstance(exc, _Unfinished) else exc
            if not isinstance(last, (PlexusError, httpx.HTTPError)):
                logger.exception("unexpected error while delivering a batch")
            for op in remaining:
                if op.settled:
                    continue
                self._fail(op, _final_error(last, op.attempts), track)

    async def _attempt(self, ops: list[_Op], track: bool) -> list[_Op]:
        ops = [op for op in ops if not op.settled]
        if not ops:
            return []
        await self._fill_companions(ops, track)
        ops = [op for op in ops if not op.settled]
        if not ops:
            return []

        creates = [op for op in ops if op.kind == "create"]
        updates = [op for op in ops if op.kind == "update"]
        body = self._body(creates, updates)
        for op in ops:
            op.attempts += 1
        try:
            response = await self._client.post(body, items=len(ops))
        except APIStatusError as exc:
            if exc.status_code == 413:
                raise _WholeRequestRejected(str(exc)) from exc
            raise

        errors = _graphql.errors_by_alias(response)
        whole = errors.pop("", [])
        if whole:
            # Errors without a path concern the document as a whole.
            if any(e.is_throttling for e in whole):
                raise whole[0]
            raise _WholeRequestRejected("; ".join(e.message for e in whole))
        data = response.get("data")
        if not isinstance(data, dict):
            if not errors:
                raise _WholeRequestRejected("the response has neither data nor errors")
            data = {}  # Every field failed, each with its own error.

        if creates and self._config.mutation == "batch":
            _spread_batch_field(data, errors, len(creates))

        retry: list[_Op] = []
        dedupe: list[_Op] = []
        last_retryable: PlexusError | None = None
        for alias, op in _aliases(creates, updates):
            record = data.get(alias)
            op_errors = errors.get(alias, [])
            if record is not None and not op_errors:
                self._commit(op, self._record_of(op, record), track)
                continue
            error = op_errors[0] if op_errors else None
            if error is None:
                last_retryable = GraphQLError(f"no answer for {op.id}")
                retry.append(op)
            elif error.is_throttling:
                last_retryable = error
                retry.append(op)
            elif error.is_conditional_check_failed and op.kind == "update":
                self._fail(op, _not_found(op.id, error), track)
            elif error.is_conditional_check_failed and (op.attempts > 1 or op.replayed):
                # An earlier attempt of ours may have stored it and lost the
                # answer: the id is ours, so check what is stored.
                dedupe.append(op)
            else:
                self._fail(op, _rejected(error), track)

        if dedupe:
            await self._commit_existing(dedupe, track)
        if retry:
            assert last_retryable is not None
            raise _Unfinished(last_retryable)
        return retry

    def _body(self, creates: list[_Op], updates: list[_Op]) -> bytes:
        document = _graphql.batch_document(
            len(creates), len(updates), self._config.mutation
        )
        parts: list[bytes] = []
        if creates and self._config.mutation == "batch":
            parts.append(b'"c":[' + b",".join(op.encoded for op in creates) + b"]")
        else:
            parts.extend(b'"c%d":%b' % (i, op.encoded) for i, op in enumerate(creates))
        parts.extend(b'"u%d":%b' % (i, op.encoded) for i, op in enumerate(updates))
        return (
            b'{"query":'
            + json.dumps(document).encode()
            + b',"variables":{'
            + b",".join(parts)
            + b"}}"
        )

    def _record_of(self, op: _Op, answer: dict[str, Any]) -> dict[str, Any]:
        """The stored record: an update's answer, or what a create sent plus
        the fields the server added (batched creates select only those)."""
        if op.kind == "update":
            return answer
        return {**op.input, **answer}

    async def _fill_companions(self, ops: list[_Op], track: bool) -> None:
        lacking = [op for op in ops if op.kind == "update" and op.missing_companions()]
        if not lacking:
            return
        records = await self._client._get_many([op.id for op in lacking])
        for op, record in zip(lacking, records, strict=True):
            if record is None:
                self._fail(op, _not_found(op.id, None), track)
                continue
            for name in op.missing_companions():
                op.input[name] = record.get(name)
            op.encode()

    async def _commit_existing(self, ops: list[_Op], track: bool) -> None:
        """Our earlier attempt stored these (its answer was lost): fetch them."""
        records = await self._client._get_many([op.id for op in ops])
        for op, record in zip(ops, records, strict=True):
            if record is None or any(
                record.get(name) != op.input.get(name)
                for name in ("itemId", "accountId", "scorecardId")
            ):
                self._fail(
                    op,
                    ScoreResultRejected(
                        f"id {op.id} is already taken by another score result",
                        error_type="DynamoDB:ConditionalCheckFailedException",
                    ),
                    track,
                )
            else:
                logger.debug(
                    "result %s was already stored by an earlier attempt", op.id
                )
                self._commit(op, record, track)

    # -- settling -------------------------------------------------------

    def _commit(self, op: _Op, record: dict[str, Any], track: bool = True) -> None:
        op.result = record
        for handle in op.handles:
            handle._settle(record, None)
        if track:
            self._counts["committed"] += len(op.handles)
            self._release(op)

    def _fail(self, op: _Op, error: PlexusError, track: bool = True) -> None:
        op.error = error
        for handle in op.handles:
            handle._settle(None, error)
        if track:
            self._counts["failed"] += len(op.handles)
            self._report_failure(op, error)
            self._release(op)

    def _release(self, op: _Op) -> None:
        if not self._abandoning:
            self._spool_done.extend(op.spool_seqs)
        self._held -= len(op.handles)
        if self._room is not None:
            self._room.set()
        if self._inflight.get(op.id) is op:
            del self._inflight[op.id]
        elif self._unsent.get(op.id) is op:
            del self._unsent[op.id]
            if op in self._ready:
                self._ready.remove(op)
                self._ready_bytes -= op.size
        successor = self._blocked.pop(op.id, None)
        if successor is not None and successor is not op:
            if op.error is None:
                if op.result is not None:
                    successor.fill_companions(op.result)
                self._push(successor)
            else:
                self._fail(
                    successor,
                    DeliveryError(
                        f"not applied: the earlier write of {op.id} failed",
                        last_error=op.error,
                        attempts=0,
                    ),
                )
        if self._closing and self._held == 0:
            self._wake()

    def _report_failure(self, op: _Op, error: PlexusError) -> None:
        logger.error("result %s failed (%s): %s", op.id, type(error).__name__, error)
        if self._dead_letter_path is not None:
            line = {
                "id": op.id,
                "kind": op.kind,
                "input": op.input,
                "error_type": type(error).__name__,
                "error": str(error),
                "attempts": op.attempts,
                "failed_at": datetime.now(timezone.utc).isoformat(),
            }
            # Written off the event loop by `_persist_settled`, before the
            # result's spool rows are deleted.
            self._dead_letters.append(json.dumps(line) + "\n")
            self._counts["dead_lettered"] += 1
        if self._on_failure is not None:
            try:
                self._on_failure(op.id, error, op.input)
            except Exception:
                logger.exception("on_failure callback raised for result %s", op.id)

    # -- shutdown -------------------------------------------------------

    async def _shutdown(self, timeout: float | None) -> FlushReport:
        handles = self._all_handles()
        self._closing = True
        if not self._started:
            if self._spool is not None:
                self._spool.close()
            return FlushReport(committed=0, failed=0)
        self._wake()
        if self._room is not None:
            self._room.set()
        limit = self._config.shutdown_timeout if timeout is None else timeout
        report = await _wait_report(handles, limit)

        if report.timed_out:
            if self._cancel_worker is not None:
                self._cancel_worker.cancel()
            assert self._worker_done is not None
            await self._worker_done.wait()
            # With a spool, what is left stays on disk for the next start.
            self._abandoning = self._spool is not None
            leftover = [op for op in self._live_ops() if not op.settled]
            unconfirmed = 0
            for op in leftover:
                if op.attempts:
                    # A request carrying it went out; its answer never came.
                    unconfirmed += 1
                    reason = (
                        f"delivery not confirmed within the {limit:g} s shutdown "
                        "deadline: a request carrying it was sent and may have "
                        "stored it (replaying its dead letter is safe)"
                    )
                else:
                    reason = f"not sent within the {limit:g} s shutdown deadline"
                self._fail(
                    op,
                    DeliveryError(reason, last_error=None, attempts=op.attempts),
                )
            logger.error(
                "shutdown deadline passed: %d result(s) not confirmed (%d of them "
                "sent, outcome unknown)%s",
                len(report.pending),
                unconfirmed,
                " and dead-lettered" if self._dead_letter_path else "",
            )
        else:
            self._wake()
            assert self._worker_done is not None
            await self._worker_done.wait()
        await self._persist_settled()
        if self._spool is not None:
            await anyio.to_thread.run_sync(self._spool.close)
        return report

    # -- counters -------------------------------------------------------

    def _count_request(self, size: int) -> None:
        self._counts["requests"] += 1
        self._counts["bytes_sent"] += size

    def _count_retry(self) -> None:
        self._counts["retries"] += 1


def _aliases(creates: list[_Op], updates: list[_Op]) -> list[tuple[str, _Op]]:
    return [(f"c{i}", op) for i, op in enumerate(creates)] + [
        (f"u{i}", op) for i, op in enumerate(updates)
    ]


def _create_op(wire: dict[str, Any]) -> _Op:
    """A create of `wire`, if the real API would accept one."""
    if wire.get("scoreId") is None:
        raise ValidationError(
            "scoreId: required field is missing; the Plexus API refuses a create "
            "without it (its byItemIdAndTypeAndScoreIdAndUpdatedAt index needs "
            "the whole key)",
            field="scoreId",
        )
    return _Op("create", wire["id"], wire)


def _companions_of(record: dict[str, Any]) -> dict[str, Any]:
    """The index companion fields a stored record has (see UPDATE_COMPANIONS)."""
    return {
        name: record[name]
        for name in _graphql.UPDATE_COMPANIONS
        if record.get(name) is not None
    }


def _rebuilt(kind: str, wire: dict[str, Any]) -> _Op:
    """Validate again a create or update kept in wire form (a dead letter, a
    spool row). A create may be stored already, so it is marked `replayed`."""
    fields = _fields_of(wire)
    if kind == "update":
        id = str(fields.pop("id", ""))
        if not id:
            raise ValidationError("id: an update needs the id it updates", field="id")
        update = ScoreResultUpdate.build(fields).to_input()
        return _Op("update", id, {"id": id, **update})
    op = _create_op(ScoreResult.wire_of(fields))
    op.replayed = True
    return op


def _fields_of(wire: dict[str, Any]) -> dict[str, Any]:
    """Model field values of a wire-form input (AWSJSON decoded, and so on)."""
    decoded = ScoreResult.from_dict(wire)
    return {name: getattr(decoded, name) for name in wire if name in decoded.__dict__}


def _spread_batch_field(
    data: dict[str, Any], errors: dict[str, list[GraphQLError]], count: int
) -> None:
    """Give `batchCreateScoreResults` entries the aliases `c0..` they would
    have in the aliased style, so one reader serves both."""
    entries = data.pop("c", None)
    whole = errors.pop("c", [])
    for i in range(count):
        if isinstance(entries, list) and i < len(entries):
            data[f"c{i}"] = entries[i]
        if whole and f"c{i}" not in errors:
            errors[f"c{i}"] = whole


def _not_found(id: str, cause: GraphQLError | None) -> ScoreResultNotFound:
    return ScoreResultNotFound(
        f"no score result with id {id!r} to update",
        error_type=cause.error_type if cause else None,
        path=cause.path if cause else None,
    )


def _rejected(error: GraphQLError) -> ScoreResultRejected:
    return ScoreResultRejected(
        error.message, error_type=error.error_type, path=error.path
    )


def _final_error(last: BaseException, attempts: int) -> PlexusError:
    if is_retryable(last) or isinstance(last, _Unfinished):
        error: PlexusError = DeliveryError(
            f"gave up after {attempts} attempt(s): {last}",
            last_error=last,
            attempts=attempts,
        )
        error.__cause__ = last
        return error
    if isinstance(last, PlexusError):
        return last
    error = DeliveryError(
        f"delivery failed: {last!r}", last_error=last, attempts=attempts
    )
    error.__cause__ = last
    return error


async def _wait_report(
    handles: list[PendingScoreResult], timeout: float | None
) -> FlushReport:
    deadline = math.inf if timeout is None else timeout
    with anyio.move_on_after(deadline) as scope:
        for handle in handles:
            await handle._settled()
    committed = sum(1 for h in handles if h.done() and h._error is None)
    failed = sum(1 for h in handles if h.done() and h._error is not None)
    pending = [h.id for h in handles if not h.done()]
    return FlushReport(
        committed=committed,
        failed=failed,
        pending=pending,
        timed_out=scope.cancelled_caught,
    )


_background: set[Any] = set()


def _spawn_detached(fn: Callable[[], Awaitable[None]]) -> None:
    """Run the worker outside the caller's task tree.

    anyio offers no detached task by design (agronholm/anyio#457, #468), and
    the worker must outlive the task that first submits (a request handler,
    say): delivery must not be cancelled with it. So this one place asks the
    running event loop directly; everything inside the worker is anyio.
    """
    if sniffio.current_async_library() == "trio":
        import trio

        trio.lowlevel.spawn_system_task(fn)
        return
    import asyncio

    task: asyncio.Task[None] = asyncio.get_running_loop().create_task(
        fn()  # type: ignore[arg-type]
    )
    _background.add(task)
    task.add_done_callback(_background.discard)
