"""A FastAPI service that scores requests and records every score in Plexus.

One `AsyncPlexusClient` per process, opened in the app's lifespan and drained
when it shuts down; handlers get it through a dependency, submit the result and
answer 202 at once, without waiting for the commit.

    PLEXUS_API_URL=https://...appsync-api.../graphql PLEXUS_API_KEY=... \\
        uvicorn examples.fastapi_service:app
    python examples/fastapi_service.py --local     # with a local Plexus server

    curl -X POST localhost:8000/score -H 'content-type: application/json' \\
        -d '{"item_id": "call-1", "text": "I want a refund"}'
    curl localhost:8000/score/<id>
"""

from __future__ import annotations

import argparse
import logging
import os
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from pydantic import BaseModel, Field

from plexus_async import (
    AsyncPlexusClient,
    ClientClosed,
    PendingScoreResult,
    ScoreResult,
    ScoreResultNotFound,
)

logger = logging.getLogger("fastapi_service")

ESCALATION_WORDS = ("refund", "cancel", "complaint", "manager", "lawyer")

RECENT_LIMIT = 10_000
"""Handles kept for `GET /score/{id}`; older ids are looked up in Plexus (where
one still queued reads as not found)."""


# -- the scorer ---------------------------------------------------------------


def score_text(text: str) -> tuple[str, float, str]:
    """Does the caller want escalation? A keyword rule standing in for a model.

    Returns the value, the confidence and the explanation.
    """
    words = text.lower()
    hits = [word for word in ESCALATION_WORDS if word in words]
    if not hits:
        return "No", 0.7, "no escalation words"
    return "Yes", min(0.99, 0.75 + 0.08 * len(hits)), "mentions " + ", ".join(hits)


# -- request and response bodies ------------------------------------------------


class ScoreRequest(BaseModel):
    """An item to score."""

    item_id: str = Field(min_length=1, max_length=512)
    """The item's id in Plexus."""
    text: str = Field(max_length=100_000)
    """What to score, e.g. a call transcript."""


class ScoreAccepted(BaseModel):
    """The score, accepted for delivery to Plexus."""

    id: str
    """The score result's id, to ask `GET /score/{id}` about."""
    value: str
    confidence: float


class ScoreState(BaseModel):
    """Whether a score result has reached Plexus."""

    id: str
    status: Literal["pending", "committed", "failed"]
    error: str | None = None


# -- per-process state ------------------------------------------------------------


class RecentResults:
    """The handles of the latest submitted results, oldest dropped first."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._handles: OrderedDict[str, PendingScoreResult] = OrderedDict()

    def add(self, handle: PendingScoreResult) -> None:
        self._handles[handle.id] = handle
        while len(self._handles) > self._limit:
            self._handles.popitem(last=False)

    def get(self, id: str) -> PendingScoreResult | None:
        return self._handles.get(id)


@dataclass(frozen=True)
class ScoreIds:
    """Where the service's scores belong in Plexus."""

    account_id: str
    scorecard_id: str
    score_id: str

    @classmethod
    def from_env(cls) -> ScoreIds:
        return cls(
            account_id=os.environ.get("PLEXUS_ACCOUNT_ID", "example-account"),
            scorecard_id=os.environ.get("PLEXUS_SCORECARD_ID", "example-scorecard"),
            score_id=os.environ.get("PLEXUS_SCORE_ID", "escalation"),
        )


def get_plexus(request: Request) -> AsyncPlexusClient:
    """The process's client, opened by the lifespan."""
    client: AsyncPlexusClient = request.app.state.plexus
    return client


def get_recent(request: Request) -> RecentResults:
    recent: RecentResults = request.app.state.recent
    return recent


def get_score_ids(request: Request) -> ScoreIds:
    ids: ScoreIds = request.app.state.score_ids
    return ids


Plexus = Annotated[AsyncPlexusClient, Depends(get_plexus)]
Recent = Annotated[RecentResults, Depends(get_recent)]
Ids = Annotated[ScoreIds, Depends(get_score_ids)]


# -- routes -------------------------------------------------------------------


router = APIRouter()


@router.post("/score", status_code=status.HTTP_202_ACCEPTED)
async def score(
    body: ScoreRequest, plexus: Plexus, recent: Recent, ids: Ids
) -> ScoreAccepted:
    """Score the item and queue the result; answer before it is committed."""
    value, confidence, explanation = score_text(body.text)

    try:
        # Waits only if the queue is full (backpressure), never for the commit.
        pending = await plexus.score_results.submit(
            value=value,
            confidence=confidence,
            explanation=explanation,
            itemId=body.item_id,
            accountId=ids.account_id,
            scorecardId=ids.scorecard_id,
            scoreId=ids.score_id,
        )
    except ClientClosed:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "the service is shutting down"
        ) from None
    recent.add(pending)
    return ScoreAccepted(id=pending.id, value=value, confidence=confidence)


@router.get("/score/{id}")
async def score_state(id: str, plexus: Plexus, recent: Recent) -> ScoreState:
    """Report whether a score result has been committed to Plexus."""
    handle = recent.get(id)
    if handle is not None:
        if not handle.done():
            return ScoreState(id=id, status="pending")
        error = handle.exception()
        if error is not None:
            return ScoreState(id=id, status="failed", error=str(error))
        return ScoreState(id=id, status="committed")

    # Not one of the recent results of this process: ask Plexus.
    try:
        await ScoreResult.get_by_id(id, plexus)
    except ScoreResultNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such score result") from None
    return ScoreState(id=id, status="committed")


# -- the app --------------------------------------------------------------------


def create_app(
    make_client: Callable[[], AsyncPlexusClient] = AsyncPlexusClient,
    *,
    recent_limit: int = RECENT_LIMIT,
) -> FastAPI:
    """Build the app; `make_client` builds its client when the app starts
    (by default from `PLEXUS_API_URL` and `PLEXUS_API_KEY`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with make_client() as client:
            app.state.plexus = client
            app.state.recent = RecentResults(recent_limit)
            app.state.score_ids = ScoreIds.from_env()
            yield
            # Leaving the block would drain too; closing here reports on it.
            report = await client.aclose()
            logger.info(
                "Plexus queue drained: %d committed, %d failed, %d not sent",
                report.committed,
                report.failed,
                len(report.pending),
            )

    app = FastAPI(title="Scoring service", lifespan=lifespan)
    app.include_router(router)
    return app


app = create_app()


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--local",
        action="store_true",
        help="start a local Plexus server in-process and send results there",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # A line per batch.

    if not args.local:
        uvicorn.run(app, host=args.host, port=args.port)
        return

    from plexus_async.server import DEFAULT_API_KEY, LocalPlexusServer

    with LocalPlexusServer() as server:
        print(f"local Plexus server at {server.url}")
        local = create_app(lambda: AsyncPlexusClient(server.url, DEFAULT_API_KEY))
        uvicorn.run(local, host=args.host, port=args.port)
        print(f"{server.store.count()} score result(s) stored")


if __name__ == "__main__":
    main()
