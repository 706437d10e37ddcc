"""getScoreResult, listScoreResults and the twelve index queries."""

from __future__ import annotations

from typing import Any

import pytest

from plexus_async.server import LocalPlexusServer

from .helpers import GET, GraphQL, aliased_creates, score_input

INDEX_QUERIES = {
    "listScoreResultByTypeAndStatusAndUpdatedAt": ("type", "String!"),
    "listScoreResultByItemId": ("itemId", "String!"),
    "listScoreResultByItemIdAndScorecardIdAndScoreId": ("itemId", "String!"),
    "listScoreResultByItemIdAndTypeAndScoreIdAndUpdatedAt": ("itemId", "String!"),
    "listScoreResultByAccountIdAndUpdatedAt": ("accountId", "String!"),
    "listScoreResultByScoringJobId": ("scoringJobId", "String!"),
    "listScoreResultByEvaluationId": ("evaluationId", "String!"),
    "listScoreResultByScorecardIdAndUpdatedAt": ("scorecardId", "String!"),
    "listScoreResultByScorecardIdAndItemIdAndCreatedAt": ("scorecardId", "String!"),
    "listScoreResultByScorecardIdAndScoreIdAndItemId": ("scorecardId", "String!"),
    "listScoreResultByScoreVersionId": ("scoreVersionId", "String!"),
    "listScoreResultByScoreId": ("scoreId", "String!"),
}


def create_many(gql: GraphQL, inputs: list[dict[str, Any]]) -> None:
    body = gql(aliased_creates(len(inputs)), {f"i{n}": i for n, i in enumerate(inputs)})
    assert "errors" not in body, body


def list_page(
    gql: GraphQL, field: str, arguments: dict[str, Any], types: dict[str, str]
) -> dict[str, Any]:
    params = ", ".join(f"${name}: {types[name]}" for name in arguments)
    passed = ", ".join(f"{name}: ${name}" for name in arguments)
    if arguments:
        params, passed = f"({params})", f"({passed})"
    document = (
        f"query List{params} {{ {field}{passed} "
        "{ items { id value createdAt updatedAt } nextToken } }"
    )
    body = gql(document, arguments)
    assert "errors" not in body, body
    page: dict[str, Any] = body["data"][field]
    return page


LIST_TYPES = {
    "filter": "ModelScoreResultFilterInput",
    "limit": "Int",
    "nextToken": "String",
    "sortDirection": "ModelSortDirection",
}


def list_all(
    gql: GraphQL, field: str, arguments: dict[str, Any], types: dict[str, str]
) -> tuple[list[str], int]:
    """Follow nextToken to the end; return the ids and the number of pages."""
    ids: list[str] = []
    token = None
    pages = 0
    while True:
        page = list_page(gql, field, {**arguments, "nextToken": token}, types)
        ids += [item["id"] for item in page["items"]]
        pages += 1
        token = page["nextToken"]
        if token is None:
            return ids, pages


def test_get_of_unknown_id_is_null(gql: GraphQL) -> None:
    assert gql(GET, {"id": "missing"}) == {"data": {"getScoreResult": None}}


def test_list_pages_in_insertion_order_until_next_token_is_null(gql: GraphQL) -> None:
    inputs = [score_input() for _ in range(7)]
    create_many(gql, inputs)

    ids, pages = list_all(gql, "listScoreResults", {"limit": 3}, LIST_TYPES)

    assert ids == [i["id"] for i in inputs]
    assert pages == 3


def test_next_token_is_null_when_the_last_page_is_exactly_full(gql: GraphQL) -> None:
    create_many(gql, [score_input() for _ in range(4)])

    _, pages = list_all(gql, "listScoreResults", {"limit": 2}, LIST_TYPES)

    assert pages == 2


def test_limit_defaults_to_100(gql: GraphQL) -> None:
    create_many(gql, [score_input() for _ in range(101)])

    page = list_page(gql, "listScoreResults", {}, LIST_TYPES)

    assert len(page["items"]) == 100
    assert page["nextToken"] is not None


def test_limit_applies_before_the_filter(gql: GraphQL) -> None:
    values = ["No", "No", "Yes", "No", "No", "No", "Yes"]
    inputs = [score_input(value=value) for value in values]
    create_many(gql, inputs)
    arguments = {"limit": 2, "filter": {"value": {"eq": "Yes"}}}

    first = list_page(gql, "listScoreResults", arguments, LIST_TYPES)
    ids, pages = list_all(gql, "listScoreResults", arguments, LIST_TYPES)

    assert first["items"] == []
    assert first["nextToken"] is not None
    assert ids == [i["id"] for i in inputs if i["value"] == "Yes"]
    assert pages == 4


def test_invalid_next_token_is_an_error(gql: GraphQL) -> None:
    create_many(gql, [score_input() for _ in range(2)])
    index_token = list_page(
        gql,
        "listScoreResultByScoreId",
        {"scoreId": "score-1", "limit": 1},
        {**LIST_TYPES, "scoreId": "String!"},
    )["nextToken"]

    for token in ("garbage", "e30=", index_token):
        body = gql(
            "query($t: String) { listScoreResults(nextToken: $t) { nextToken } }",
            {"t": token},
        )
        [error] = body["errors"]
        assert error["path"] == ["listScoreResults"]
        assert error["errorType"] is not None


def test_limit_below_one_is_an_error(gql: GraphQL) -> None:
    body = gql("{ listScoreResults(limit: 0) { nextToken } }")

    assert body["data"] == {"listScoreResults": None}
    assert body["errors"][0]["errorType"] == "DynamoDB:DynamoDbException"


@pytest.mark.parametrize("field", list(INDEX_QUERIES))
def test_index_query_selects_its_partition(gql: GraphQL, field: str) -> None:
    partition, kind = INDEX_QUERIES[field]
    full = {
        "scoringJobId": "job-1",
        "evaluationId": "eval-1",
        "scoreVersionId": "version-1",
    }
    wanted = [score_input(**{**full, partition: "wanted"}) for _ in range(3)]
    others = [score_input(**{**full, partition: "other"})]
    create_many(gql, others + wanted)

    ids, _ = list_all(
        gql, field, {partition: "wanted", "limit": 2}, {**LIST_TYPES, partition: kind}
    )

    assert sorted(ids) == sorted(i["id"] for i in wanted)


def test_index_without_the_attribute_omits_the_record(gql: GraphQL) -> None:
    create_many(gql, [score_input(scoringJobId="job-1"), score_input()])

    ids, _ = list_all(
        gql,
        "listScoreResultByScoringJobId",
        {"scoringJobId": "job-1"},
        {**LIST_TYPES, "scoringJobId": "String!"},
    )

    assert len(ids) == 1


def test_composite_key_condition_and_descending_order(gql: GraphQL) -> None:
    """byScorecardItemAndCreatedAt sorts by itemId#createdAt."""
    rows = [
        ("item-a", "2026-01-01T00:00:00.000Z"),
        ("item-b", "2026-01-02T00:00:00.000Z"),
        ("item-b", "2026-01-03T00:00:00.000Z"),
        ("item-b", "2026-01-04T00:00:00.000Z"),
        ("item-c", "2026-01-05T00:00:00.000Z"),
    ]
    inputs = [
        score_input(scorecardId="card", itemId=item, createdAt=created)
        for item, created in rows
    ]
    create_many(gql, inputs)
    field = "listScoreResultByScorecardIdAndItemIdAndCreatedAt"
    types = {
        **LIST_TYPES,
        "scorecardId": "String!",
        "itemIdCreatedAt": (
            "ModelScoreResultByScorecardItemAndCreatedAtCompositeKeyConditionInput"
        ),
    }

    def query(condition: dict[str, Any], direction: str = "ASC") -> list[str]:
        arguments = {
            "scorecardId": "card",
            "itemIdCreatedAt": condition,
            "sortDirection": direction,
            "limit": 1,
        }
        ids, _ = list_all(gql, field, arguments, types)
        created = {i["id"]: i["createdAt"] for i in inputs}
        return [created[id] for id in ids]

    b_desc = query({"beginsWith": {"itemId": "item-b"}}, "DESC")
    b_after_2nd = query(
        {"gt": {"itemId": "item-b", "createdAt": "2026-01-02T00:00:00.000Z"}}
    )
    between = query(
        {
            "between": [
                {"itemId": "item-a"},
                {"itemId": "item-b", "createdAt": "2026-01-03"},
            ]
        }
    )
    exact = query({"eq": {"itemId": "item-c", "createdAt": "2026-01-05T00:00:00.000Z"}})

    assert b_desc == [created for _, created in rows[1:4]][::-1]
    assert b_after_2nd == [created for _, created in rows[2:]]
    assert between == [created for _, created in rows[:2]]
    assert exact == [rows[4][1]]


def test_single_sort_key_condition_on_updated_at(gql: GraphQL) -> None:
    stamps = [f"2026-03-0{day}T12:00:00.000Z" for day in range(1, 6)]
    create_many(gql, [score_input(accountId="acct", updatedAt=s) for s in stamps])

    page = list_page(
        gql,
        "listScoreResultByAccountIdAndUpdatedAt",
        {
            "accountId": "acct",
            "updatedAt": {"between": [stamps[1], stamps[3]]},
            "sortDirection": "DESC",
        },
        {
            **LIST_TYPES,
            "accountId": "String!",
            "updatedAt": "ModelStringKeyConditionInput",
        },
    )

    assert [item["updatedAt"] for item in page["items"]] == stamps[3:0:-1]
    assert page["nextToken"] is None


def test_index_query_filters_after_limit(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    inputs = [
        score_input(evaluationId="ev", value=value) for value in ("a", "b", "a", "b")
    ]
    create_many(gql, inputs)

    ids, pages = list_all(
        gql,
        "listScoreResultByEvaluationId",
        {"evaluationId": "ev", "limit": 1, "filter": {"value": {"eq": "b"}}},
        {**LIST_TYPES, "evaluationId": "String!"},
    )

    assert sorted(ids) == sorted(i["id"] for i in inputs if i["value"] == "b")
    assert pages == 4
