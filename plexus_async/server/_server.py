"""Running the local server: in a background thread, or blocking for the CLI."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from types import TracebackType

import uvicorn

from ._app import PlexusApp, RequestLog, create_app
from ._faults import Faults
from ._store import Store

DEFAULT_API_KEY = "local-dev-key"
"""The key the local server accepts when none is given."""

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
# Backstop for uvicorn's shutdown; hung requests are released before it.
_GRACEFUL_SHUTDOWN = 2


def _config(app: PlexusApp, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        interface="asgi3",
        lifespan="off",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN,
    )


def _bind(host: str, port: int) -> socket.socket:
    # Binding here rather than in uvicorn means port 0 resolves to a real port
    # before the server starts, with no race for a "free" port.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio only sets TCP_NODELAY on
    # sockets that say they are TCP, and without it every response waits
    # ~40 ms for a delayed ACK between its header and body writes.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _url(host: str, port: int) -> str:
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/graphql"


class LocalPlexusServer:
    """
    The local Plexus-compatible GraphQL server, run in a background thread.

        with LocalPlexusServer(api_key="test-key", port=0) as server:
            server.url, server.store, server.faults, server.requests
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        db_path: str | os.PathLike[str] = ":memory:",
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        store: Store | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._owns_store = store is None
        self.store = store if store is not None else Store(db_path)
        self.app = create_app(self.store, api_key, faults)
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def faults(self) -> Faults:
        """The fault switches; change them, or replace them, at any time."""
        return self.app.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.app.faults = faults

    @property
    def requests(self) -> RequestLog:
        """What the server has received."""
        return self.app.requests

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("The server has not been started.")
        return self._port

    @property
    def url(self) -> str:
        """The GraphQL endpoint, e.g. http://127.0.0.1:54321/graphql."""
        return _url(self.host, self.port)

    def start(self) -> None:
        """Start serving; return once the server listens."""
        if self._thread is not None:
            raise RuntimeError("The server is already running.")
        # Reuse the port of an earlier run, so a restarted server keeps its URL.
        sock = _bind(self.host, self._port or self._requested_port)
        self._port = sock.getsockname()[1]
        server = uvicorn.Server(_config(self.app, "warning"))
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"plexus-server-{self._port}",
            # A forgotten server must not keep the interpreter alive.
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join(_STOP_TIMEOUT)
                sock.close()
                raise RuntimeError(f"The server did not start on {self.url}.")
            time.sleep(0.005)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop serving, answering hung requests; the store stays open."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self.app.release_hung()
        server.should_exit = True
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():
            server.force_exit = True
            thread.join(_STOP_TIMEOUT)
        self._server = self._thread = None

    def reset(self, timeout: float = 5.0) -> None:
        """
        Switch faults off, let requests in flight finish, then empty the store
        and the request log: a clean slate for the next test.
        """
        self.faults.reset()
        self.app.release_hung()
        # A request delayed by latency, or cut off by its client, still
        # commits when it wakes; clearing before it does would leak its
        # record into the next test.
        deadline = time.monotonic() + timeout
        while self.app.in_flight and time.monotonic() < deadline:
            time.sleep(0.005)
        if self.app.in_flight:
            raise RuntimeError(f"Requests still in flight after {timeout} s.")
        self.store.clear()
        self.requests.clear()

    def close(self) -> None:
        """Stop, and close the store if this server opened it."""
        self.stop()
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> LocalPlexusServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def run_server(
    host: str = "127.0.0.1",
    port: int = 4000,
    db_path: str | os.PathLike[str] = "plexus-dev.db",
    api_key: str = DEFAULT_API_KEY,
    faults: Faults | None = None,
    log_level: str = "info",
) -> None:
    """Serve in the foreground until interrupted (Ctrl+C)."""
    store = Store(db_path)
    try:
        sock = _bind(host, port)
        app = create_app(store, api_key, faults)
        print(
            f"Plexus-compatible GraphQL endpoint: {_url(host, sock.getsockname()[1])}",
            file=sys.stderr,
            flush=True,
        )
        uvicorn.Server(_config(app, log_level)).run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn shuts down cleanly on Ctrl+C and then re-raises the signal;
        # for a foreground server that is the normal way to stop.
        pass
    finally:
        store.close()
