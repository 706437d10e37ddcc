"""A blocking facade over `AsyncPlexusClient`, for plain scripts and threads.

    from plexus_async.sync import PlexusClient

    with PlexusClient() as client:
        id = client.log_score(0.92, "item-1", accountId="acct",
                              scorecardId="card", scoreId="score")

The async client runs on a background event loop (an anyio blocking portal)
that starts on first use. Every process has its own: a client made before
`os.fork()` (a pre-forking server such as gunicorn) starts a fresh loop, client
and empty queue in the child, while what the parent had queued stays the
parent's to deliver, so no result is ever sent by both.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._client import AsyncPlexusClient
from ._config import DEFAULT_TIMEOUT, BatchConfig, RetryConfig
from ._errors import ClientClosed, PlexusError
from ._models import ScoreResult
from ._queue import FlushReport, Stats

if TYPE_CHECKING:
    import httpx

    from ._queue import FailureCallback

__all__ = ["PlexusClient"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


class _Loop:
    """A background event loop running one entered `AsyncPlexusClient`.

    It belongs to the process that started it; a forked child never touches it.
    """

    def __init__(self, client: AsyncPlexusClient, backend: str) -> None:
        self.pid = os.getpid()
        self.client = client
        self._stop = threading.Event()
        ready: Future[BlockingPortal] = Future()
        # The portal's context manager is a suspended generator. Held here, a
        # copy of it in a forked child would, when finalised, wait forever on
        # the parent's loop; held only by this thread's frame, a child never
        # finalises it (CPython drops other threads' frames at fork).
        self._thread = threading.Thread(
            target=self._hold,
            args=(ready, backend),
            name=f"plexus-sync-{self.pid}",
            # Not what delivery relies on: an exit hook closes open loops.
            daemon=True,
        )
        self._thread.start()
        self.portal = ready.result()
        try:
            self.portal.call(client.__aenter__)
        except BaseException:
            self._stop.set()
            self._thread.join()
            raise

    def _hold(self, ready: Future[BlockingPortal], backend: str) -> None:
        try:
            with start_blocking_portal(backend) as portal:
                ready.set_result(portal)
                self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            else:
                raise

    def close(self, timeout: float | None) -> FlushReport:
        """Drain and close the client, then stop the loop."""
        _open_loops.discard(self)
        try:
            return self.portal.call(self.client.aclose, timeout)
        finally:
            self._stop.set()
            self._thread.join()


_lock = threading.Lock()
"""Guards starting and closing loops; replaced in a forked child."""
_open_loops: set[_Loop] = set()
"""Loops of this process not closed yet; the exit hook drains them."""
_left_behind: list[object] = []
"""A forked child's copies of its parent's loops and clients, kept so they are
never finalised: that would act on the parent's connections and files."""


def _close_at_exit() -> None:
    # A script that forgets close() still delivers what it logged. atexit runs
    # before daemon threads stop, so the loops are still there to drain.
    for loop in list(_open_loops):
        if loop.pid != os.getpid():
            continue
        try:
            held = loop.portal.call(_held, loop.client)
            logger.info(
                "PlexusClient was not closed; delivering %d result(s) at exit", held
            )
            loop.close(None)
        except Exception:
            logger.exception("PlexusClient could not be closed at exit")


async def _held(client: AsyncPlexusClient) -> int:
    stats = client.stats
    return stats.queued + stats.in_flight


def _before_fork() -> None:
    # Fork with no loop half-started, so the child sees a consistent state.
    _lock.acquire()


def _after_fork_in_parent() -> None:
    _lock.release()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    _left_behind.extend(_open_loops)
    _open_loops.clear()


atexit.register(_close_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


class PlexusClient:
    """Blocking client for the Plexus dashboard API, with a batching queue.

    Takes `AsyncPlexusClient`'s arguments, plus the anyio `backend` of its
    background loop. Safe to share between threads and across `os.fork()`,
    except that a spool (`BatchConfig.spool_path`) belongs to one process: with
    one, make the client in each worker after the fork. Use it as
    `with PlexusClient() as client:`, or call `close()` when done; a client
    still open at interpreter exit is drained then.
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
        backend: str = "asyncio",
    ) -> None:
        self._options: dict[str, Any] = {
            "api_url": api_url,
            "api_key": api_key,
            "batch": batch,
            "retry": retry,
            "timeout": timeout,
            "http2": http2,
            "transport": transport,
            "dead_letter_path": dead_letter_path,
            "on_failure": on_failure,
        }
        self._backend = backend
        # Built now so that a missing URL or key fails here, not at first use;
        # the loop that runs it starts on first use, which keeps a pre-forking
        # server's parent free of threads until it logs something itself.
        self._unstarted: AsyncPlexusClient | None = AsyncPlexusClient(**self._options)
        self._unstarted_pid = os.getpid()
        self.api_url = self._unstarted.api_url
        self._loop: _Loop | None = None
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<PlexusClient api_url={self.api_url!r} api_key='***' {state}>"

    # -- lifecycle ------------------------------------------------------

    def __enter__(self) -> PlexusClient:
        if self._closed:
            raise ClientClosed("this PlexusClient is closed; create a new one")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self, timeout: float | None = None) -> FlushReport:
        """Stop intake, deliver what this process queued (within `timeout`,
        default `shutdown_timeout`), dead-letter the rest, stop the loop.

        Calling it again is harmless and reports an empty drain.
        """
        with _lock:
            if self._closed:
                return FlushReport(committed=0, failed=0)
            loop = self._loop if self._owns(self._loop) else None
            if loop is None and self._unstarted_here():
                # Never used: start a loop only to release what the client holds.
                loop = self._start_loop()
            self._closed = True
        if loop is None:
            return FlushReport(committed=0, failed=0)
        return loop.close(timeout)

    def flush(self, timeout: float | None = None) -> FlushReport:
        """Send everything logged so far in this process and wait (at most
        `timeout` s) until it settles."""
        if self._closed:
            raise ClientClosed("this PlexusClient is closed; create a new one")
        if not self._owns(self._loop):
            return FlushReport(committed=0, failed=0)  # Nothing logged here yet.
        return self._call(lambda client: client.flush(timeout))

    @property
    def stats(self) -> Stats:
        """A snapshot of this process's queue counters."""
        return self._call(_stats)

    # -- results --------------------------------------------------------

    def log_score(
        self,
        value: float | int | str,
        item_id: str,
        *,
        immediate: bool = False,
        batch_size: int | None = None,
        batch_timeout: float | None = None,
        **fields: Any,
    ) -> str:
        """Queue a score result and return its id at once, without waiting for
        the commit (a drop-in for the synchronous Plexus client's method).

        `fields` are the result's other fields (`accountId`, `scorecardId`,
        `scoreId`, `confidence`, `metadata`, ...), camelCase or snake_case.
        `immediate`, `batch_size` and `batch_timeout` are accepted for
        compatibility and ignored: `BatchConfig` decides when batches go out
        (within `max_latency`, one second by default). Blocks while the queue
        is full; a result that later fails is logged and dead-lettered.
        """

        async def submit(client: AsyncPlexusClient) -> str:
            pending = await client.score_results.submit(
                value=value, itemId=item_id, **fields
            )
            return pending.id

        return self._call(submit)

    def create(self, **fields: Any) -> ScoreResult:
        """Create one result in its own request and return it as stored."""
        return self._call(lambda client: ScoreResult.create(client, **fields))

    def update(self, id: str | ScoreResult, **fields: Any) -> ScoreResult:
        """Update result `id` and return it as stored.

        Pass the `ScoreResult` itself (as `create()` returns it) rather than its
        id to save the read of the fields the API needs repeated on an update.
        """
        if isinstance(id, ScoreResult):
            known = id.companions()
            given = {name.replace("_", "").lower() for name in fields}
            fields = {
                **{k: v for k, v in known.items() if k.lower() not in given},
                **fields,
            }
            id = id.id

        async def update(client: AsyncPlexusClient) -> ScoreResult:
            pending = await client.score_results.submit_update(id, **fields)
            return await pending

        return self._call(update)

    # -- the loop -------------------------------------------------------

    def _call(self, fn: Callable[[AsyncPlexusClient], Awaitable[_T]]) -> _T:
        """Run `fn(client)` on this process's loop and wait for its result."""
        loop = self._running_loop()
        try:
            return loop.portal.call(lambda: fn(loop.client))
        except RuntimeError as exc:
            # The portal refuses calls once close() stopped it.
            if self._closed and not isinstance(exc, PlexusError):
                raise ClientClosed("this PlexusClient is closed") from exc
            raise

    def _running_loop(self) -> _Loop:
        if self._closed:
            raise ClientClosed("this PlexusClient is closed; create a new one")
        loop = self._loop
        if loop is not None and self._owns(loop):
            return loop
        with _lock:
            if self._closed:
                raise ClientClosed("this PlexusClient is closed; create a new one")
            loop = self._loop
            if loop is not None and self._owns(loop):
                return loop
            return self._start_loop()

    def _start_loop(self) -> _Loop:
        # Called with _lock held. Whatever was inherited through fork is the
        # parent's, the loop with every result it holds and even a client never
        # started (it may hold a spool's database and lock): leave it alone and
        # start afresh.
        if self._loop is not None:
            _left_behind.append(self._loop)
        client = self._unstarted
        if client is None or self._unstarted_pid != os.getpid():
            _left_behind.append(client)
            client = AsyncPlexusClient(**self._options)
        self._unstarted = None
        loop = _Loop(client, self._backend)
        _open_loops.add(loop)
        self._loop = loop
        return loop

    def _unstarted_here(self) -> bool:
        return self._unstarted is not None and self._unstarted_pid == os.getpid()

    @staticmethod
    def _owns(loop: _Loop | None) -> bool:
        return loop is not None and loop.pid == os.getpid()


async def _stats(client: AsyncPlexusClient) -> Stats:
    return client.stats
