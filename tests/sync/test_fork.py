"""A client made before `os.fork()` (as under gunicorn) works in the child,
and no result is ever sent by both processes."""

from __future__ import annotations

import json
import os
import signal
import traceback
import warnings
from collections import Counter
from pathlib import Path
from typing import NoReturn

import pytest

from plexus_async import BatchConfig, SpoolLocked
from plexus_async.server import LocalPlexusServer
from plexus_async.sync import PlexusClient

from .conftest import FAST_RETRY, score_fields

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork"), reason="the platform cannot fork"
)

CHILD_RESULTS = 30


def _child(client: PlexusClient, read_fd: int, write_fd: int) -> NoReturn:
    """Log from the inherited client, report the ids, and exit: never return
    into pytest in the child."""
    code = 1
    try:
        # Die rather than hang if the child's client waits on the parent's loop.
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(30)
        os.close(read_fd)
        inherited = client.stats
        ids = [
            client.log_score(n, f"child-item-{n}", **score_fields(n))
            for n in range(CHILD_RESULTS)
        ]
        report = client.close(timeout=20)
        with os.fdopen(write_fd, "w") as pipe:
            json.dump(ids, pipe)
        if inherited.queued or inherited.submitted:
            code = 2  # The child saw the parent's queue.
        elif report.failed or report.pending:
            code = 3
        else:
            code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


@pytest.mark.parametrize("used_before_fork", [True, False])
def test_forked_child_gets_a_client_of_its_own(
    server: LocalPlexusServer, api_key: str, used_before_fork: bool
) -> None:
    # A 30 s batch latency keeps the parent's results queued across the fork,
    # where a child that reused the parent's queue would send them too.
    client = PlexusClient(
        server.url,
        api_key,
        batch=BatchConfig(max_latency=30.0),
        retry=FAST_RETRY,
    )
    parent_ids: list[str] = []
    if used_before_fork:
        parent_ids += [
            client.log_score(n, f"parent-item-{n}", **score_fields(n))
            for n in range(20)
        ]
        assert client.stats.queued == 20

    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a process with threads (the local
        # server's) may deadlock the child; this child only uses its own client.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        _child(client, read_fd, write_fd)

    os.close(write_fd)
    try:
        parent_ids += [
            client.log_score(n, f"parent-item-{n}", **score_fields(n))
            for n in range(20, 40)
        ]
        report = client.close(timeout=20)
        with os.fdopen(read_fd) as pipe:
            reported = pipe.read()
    finally:
        _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    child_ids = json.loads(reported)
    # The close reports on what was still unsettled; the rest committed before.
    assert (report.failed, report.pending, report.timed_out) == (0, [], False)
    assert len(child_ids) == CHILD_RESULTS
    stored = Counter(server.store.ids())
    assert set(stored) == set(parent_ids) | set(child_ids)
    assert max(stored.values()) == 1
    # Each result went out in exactly one create, from one process.
    creates = server.requests.fields().count("createScoreResult")
    assert creates == len(parent_ids) + CHILD_RESULTS
    assert set(server.requests.statuses()) == {200}


def test_a_spool_stays_with_the_process_that_opened_it(
    server: LocalPlexusServer, api_key: str, tmp_path: Path
) -> None:
    """The child builds its own client rather than share the parent's spool
    database and lock; the spool's lock then tells it to use a file of its own."""
    batch = BatchConfig(max_latency=30.0, spool_path=tmp_path / "spool.db")
    client = PlexusClient(server.url, api_key, batch=batch, retry=FAST_RETRY)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(30)
            client.log_score(1, "child-item", **score_fields(1))
            code = 2  # The child wrote to the parent's spool.
        except SpoolLocked:
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)

    _, status = os.waitpid(pid, 0)
    ids = [client.log_score(n, f"parent-item-{n}", **score_fields(n)) for n in range(3)]
    report = client.close(timeout=20)

    assert os.waitstatus_to_exitcode(status) == 0
    assert (report.committed, report.failed) == (3, 0)
    assert sorted(server.store.ids()) == sorted(ids)
