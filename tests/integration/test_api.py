"""ScoreResult operations against the local server over loopback."""

from __future__ import annotations

import pytest

from plexus_async import (
    AuthenticationError,
    BatchConfig,
    PartialBatchError,
    ScoreResult,
    ScoreResultNotFound,
    ScoreResultRejected,
)
from plexus_async.server import LocalPlexusServer

from ._support import ClientFactory, result_fields


async def test_create_then_get_returns_the_stored_result(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    async with make_client() as client:
        created = await ScoreResult.create(
            client, **result_fields(1, metadata={"k": [1, 2]}, trace={"steps": 3})
        )
        fetched = await ScoreResult.get_by_id(created.id, client)
    assert fetched == created
    assert fetched.createdAt is not None and fetched.updatedAt is not None
    stored = server.store.get(created.id)
    assert stored is not None and stored["metadata"] == '{"k":[1,2]}'
    assert stored["value"] == "Yes"


@pytest.mark.parametrize("style", ["aliased", "batch"])
async def test_batch_create_sends_one_request_in_either_style(
    make_client: ClientFactory, server: LocalPlexusServer, style: str
) -> None:
    async with make_client(batch=BatchConfig(mutation=style)) as client:  # type: ignore[arg-type]
        results = await ScoreResult.batch_create(
            client, [result_fields(n) for n in range(30)]
        )
    assert len(results) == 30
    assert len(server.requests) == 1
    assert {r.id for r in results} == set(server.store.ids())
    for result in results:
        assert ScoreResult.from_dict(server.store.get(result.id) or {}) == result


@pytest.mark.parametrize("style", ["aliased", "batch"])
async def test_batch_create_reports_which_results_failed(
    make_client: ClientFactory, server: LocalPlexusServer, style: str
) -> None:
    async with make_client(batch=BatchConfig(mutation=style)) as client:  # type: ignore[arg-type]
        taken = await ScoreResult.create(client, **result_fields(0))
        items = [result_fields(n) for n in range(1, 4)]
        items.insert(1, {**result_fields(9), "id": taken.id})
        with pytest.raises(PartialBatchError) as caught:
            await ScoreResult.batch_create(client, items)
    error = caught.value
    assert list(error.failed) == [1]
    assert isinstance(error.failed[1], ScoreResultRejected)
    assert len(error.committed) == 3
    assert server.store.count() == 4


async def test_duplicate_id_create_is_rejected_as_conditional_check_failed(
    make_client: ClientFactory,
) -> None:
    async with make_client() as client:
        first = await ScoreResult.create(client, **result_fields(1))
        with pytest.raises(ScoreResultRejected) as caught:
            await ScoreResult.create(client, **result_fields(2, id=first.id))
    assert caught.value.error_type == "DynamoDB:ConditionalCheckFailedException"


async def test_get_of_a_missing_id_raises_not_found(make_client: ClientFactory) -> None:
    async with make_client() as client:
        with pytest.raises(ScoreResultNotFound):
            await ScoreResult.get_by_id("no-such-id", client)


async def test_list_follows_next_token_through_short_and_empty_pages(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    async with make_client() as client:
        await ScoreResult.batch_create(
            client,
            [
                result_fields(n, evaluationId="eval-a" if n % 5 else "eval-b")
                for n in range(40)
            ],
        )
        # `limit` applies before the filter, so pages of 3 are mostly short.
        listed = [
            r
            async for r in ScoreResult.list(
                client, evaluationId="eval-b", limit=3, scorecard_id="card"
            )
        ]
        everything = [r async for r in ScoreResult.list(client, limit=7)]
    assert sorted(r.itemId for r in listed) == sorted(
        f"item-{n}" for n in range(0, 40, 5)
    )
    assert len(everything) == 40
    assert len({r.id for r in everything}) == 40


@pytest.mark.parametrize(
    "key", ["scoringJobId", "scorecardId", "accountId", "itemId", "scoreId"]
)
async def test_list_by_each_index(make_client: ClientFactory, key: str) -> None:
    async with make_client() as client:
        await ScoreResult.batch_create(
            client,
            [
                result_fields(1, scoringJobId="job-1"),
                result_fields(2, scoringJobId="job-2"),
            ],
        )
        wanted = {
            "scoringJobId": "job-1",
            "scorecardId": "card",
            "accountId": "acct",
            "itemId": "item-1",
            "scoreId": "score",
        }[key]
        listed = [r async for r in ScoreResult.list(client, **{key: wanted})]
    assert listed and all(getattr(r, key) == wanted for r in listed)


async def test_update_carries_the_index_companions_and_returns_the_record(
    make_client: ClientFactory, server: LocalPlexusServer
) -> None:
    async with make_client() as client:
        created = await ScoreResult.create(client, **result_fields(1))
        updated = await created.update(correct=True, metadata={"human_label": "Yes"})
    assert updated.correct is True
    assert updated.metadata == {"human_label": "Yes"}
    assert updated.value == created.value and updated.createdAt == created.createdAt
    stored = server.store.get(created.id)
    assert stored is not None and stored["correct"] is True


async def test_wrong_key_raises_authentication_error(
    server: LocalPlexusServer,
) -> None:
    from plexus_async import AsyncPlexusClient

    async with AsyncPlexusClient(server.url, "wrong-key") as client:
        with pytest.raises(AuthenticationError) as caught:
            await ScoreResult.get_by_id("x", client)
    assert caught.value.status_code == 401
    assert "wrong-key" not in str(caught.value)


async def test_execute_runs_raw_graphql(make_client: ClientFactory) -> None:
    async with make_client() as client:
        created = await ScoreResult.create(client, **result_fields(1))
        data = await client.execute(
            "query Q($id: ID!) { getScoreResult(id: $id) { id value } }",
            {"id": created.id},
        )
    assert data == {"getScoreResult": {"id": created.id, "value": "Yes"}}
