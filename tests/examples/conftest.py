"""Load the examples as modules, and serve an ASGI app under uvicorn."""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import uvicorn

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str) -> ModuleType:
    """Import `examples/<name>.py` (the folder is not a package)."""
    module_name = f"examples_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first: pydantic and FastAPI resolve annotations through it.
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Run `app` under uvicorn in its own thread and event loop, lifespan on;
    yield its base URL. On exit, shut it down and wait for the lifespan's end."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="on", log_level="warning", access_log=False, backlog=2048
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="example-app"
    )
    thread.start()
    try:
        with anyio.fail_after(10):
            while not server.started:
                if not thread.is_alive():
                    raise RuntimeError("the app did not start")
                await anyio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await anyio.to_thread.run_sync(thread.join, 60)
        sock.close()
        assert not thread.is_alive(), "the app did not shut down within 60 s"
