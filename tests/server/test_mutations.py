"""createScoreResult, updateScoreResult, deleteScoreResult and batch creates."""

from __future__ import annotations

import json
import re
import uuid

from plexus_async.server import LocalPlexusServer

from .helpers import (
    BATCH,
    CREATE,
    DELETE,
    GET,
    UPDATE,
    GraphQL,
    aliased_creates,
    score_input,
)

CCFE = "DynamoDB:ConditionalCheckFailedException"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def update_input(record: dict[str, object], **fields: object) -> dict[str, object]:
    """An update carrying the companion fields the index guard requires."""
    keys = ("id", "status", "type", "scoreId", "scorecardId", "itemId", "createdAt")
    return {**{key: record[key] for key in keys}, **fields}


def test_create_then_get_returns_the_record(gql: GraphQL) -> None:
    given = score_input(confidence=0.87, explanation="because", attachments=["a", "b"])

    created = gql(CREATE, {"input": given})["data"]["createScoreResult"]
    fetched = gql(GET, {"id": given["id"]})["data"]["getScoreResult"]

    assert created == fetched
    for key, value in given.items():
        assert fetched[key] == value
    assert fetched["correct"] is None


def test_create_without_id_generates_a_uuid(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    given = score_input()
    del given["id"]

    record = gql(CREATE, {"input": given})["data"]["createScoreResult"]

    assert uuid.UUID(record["id"]).version == 4
    assert server.store.ids() == [record["id"]]


def test_create_sets_timestamps_in_appsync_form(gql: GraphQL) -> None:
    record = gql.create()

    assert TIMESTAMP.fullmatch(record["createdAt"])
    assert record["updatedAt"] == record["createdAt"]


def test_given_timestamps_are_normalised_to_utc_milliseconds(gql: GraphQL) -> None:
    record = gql.create(
        createdAt="2026-12-03T17:22:44.158934+01:00", updatedAt="2026-12-03T16:22:44Z"
    )

    assert record["createdAt"] == "2026-12-03T16:22:44.158Z"
    assert record["updatedAt"] == "2026-12-03T16:22:44.000Z"


def test_awsjson_round_trips_as_the_same_string(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    metadata = json.dumps({"human_label": "No", "scores": [1, 2.5, None]})

    record = gql.create(metadata=metadata, trace="[]", cost='{"tokens": 12}')

    assert record["metadata"] == metadata
    assert record["trace"] == "[]"
    stored = server.store.get(record["id"])
    assert stored is not None
    assert stored["metadata"] == metadata


def test_awsjson_in_a_literal_must_be_a_json_string(gql: GraphQL) -> None:
    ok = gql(
        '{ listScoreResults(filter: {metadata: {eq: "{\\"a\\": 1}"}}) { nextToken } }'
    )
    document = """
    mutation { createScoreResult(input: {value: "v", itemId: "i", accountId: "a",
      scorecardId: "s", type: "t", status: "s", scoreId: "x", metadata: "{bad"})
      { id } }
    """

    assert "errors" not in ok
    assert gql(document)["data"] is None


def test_duplicate_create_fails_with_conditional_check(gql: GraphQL) -> None:
    given = score_input()
    gql(CREATE, {"input": given})

    body = gql(CREATE, {"input": {**given, "value": "No"}})

    assert body["data"] == {"createScoreResult": None}
    [error] = body["errors"]
    assert error["errorType"] == CCFE
    assert error["path"] == ["createScoreResult"]
    assert error["message"].startswith(
        "The conditional request failed (Service: DynamoDb"
    )
    assert gql(GET, {"id": given["id"]})["data"]["getScoreResult"]["value"] == "Yes"


def test_create_index_guard_names_the_missing_key(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    cases = {
        "status": "byTypeStatusUpdated",
        "type": "byTypeStatusUpdated",
        "scoreId": "byItemIdAndTypeAndScoreIdAndUpdatedAt",
    }
    for key, index in cases.items():
        absent = score_input()
        del absent[key]
        for given in (absent, score_input(**{key: None})):
            [error] = gql(CREATE, {"input": given})["errors"]

            assert error["errorType"] is None
            assert error["message"] == (
                "When creating any part of the composite sort key for @index "
                f"'{index}', you must provide all fields for the key. "
                f"Missing key: '{key}'."
            )
    assert server.store.count() == 0


def test_update_merges_fields_and_returns_the_full_record(gql: GraphQL) -> None:
    record = gql.create(
        explanation="first", confidence=0.5, createdAt="2026-01-01T00:00:00Z"
    )

    updated = gql(
        UPDATE,
        {"input": update_input(record, correct=True, explanation=None, value="No")},
    )["data"]["updateScoreResult"]

    assert updated["correct"] is True
    assert updated["explanation"] is None
    assert updated["value"] == "No"
    assert updated["confidence"] == 0.5
    assert updated["accountId"] == record["accountId"]
    assert updated["createdAt"] == "2026-01-01T00:00:00.000Z"
    assert updated["updatedAt"] > record["updatedAt"]
    assert gql(GET, {"id": record["id"]})["data"]["getScoreResult"] == updated


def test_update_of_missing_id_fails_with_conditional_check(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    record = {**score_input(), "createdAt": "2026-01-01T00:00:00.000Z"}

    body = gql(UPDATE, {"input": update_input(record, correct=True)})

    assert body["data"] == {"updateScoreResult": None}
    assert body["errors"][0]["errorType"] == CCFE
    assert server.store.count() == 0


def test_update_index_guard_names_the_missing_key(gql: GraphQL) -> None:
    record = gql.create()
    cases = {
        "status": "byTypeStatusUpdated",
        "type": "byTypeStatusUpdated",
        "scoreId": "byItemIdAndTypeAndScoreIdAndUpdatedAt",
        "scorecardId": "byItemScorecardScore",
        "itemId": "byScorecardScoreItem",
        "createdAt": "byScorecardItemAndCreatedAt",
    }
    for key, index in cases.items():
        given = update_input(record, correct=True)
        del given[key]

        [error] = gql(UPDATE, {"input": given})["errors"]

        assert error["errorType"] is None
        assert error["message"] == (
            "When updating any part of the composite sort key for @index "
            f"'{index}', you must provide all fields for the key. "
            f"Missing key: '{key}'."
        )
    assert gql(GET, {"id": record["id"]})["data"]["getScoreResult"]["correct"] is None


def test_delete_returns_the_record_and_removes_it(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    record = gql.create()

    deleted = gql(DELETE, {"input": {"id": record["id"]}})["data"]["deleteScoreResult"]
    again = gql(DELETE, {"input": {"id": record["id"]}})

    assert deleted == record
    assert server.store.count() == 0
    assert again["errors"][0]["errorType"] == CCFE


def test_conditions_guard_every_mutation(gql: GraphQL) -> None:
    record = gql.create(confidence=0.9)
    mismatch = {"confidence": {"lt": 0.5}}
    match = {"and": [{"confidence": {"ge": 0.5}}, {"value": {"beginsWith": "Y"}}]}

    failed_update = gql(
        UPDATE, {"input": update_input(record, correct=True), "condition": mismatch}
    )
    updated = gql(
        UPDATE, {"input": update_input(record, correct=True), "condition": match}
    )
    failed_delete = gql(
        DELETE, {"input": {"id": record["id"]}, "condition": {"correct": {"eq": False}}}
    )
    failed_create = gql(
        CREATE, {"input": score_input(), "condition": {"value": {"eq": "Yes"}}}
    )
    allowed_create = gql(
        CREATE,
        {"input": score_input(), "condition": {"value": {"attributeExists": False}}},
    )

    assert failed_update["errors"][0]["errorType"] == CCFE
    assert updated["data"]["updateScoreResult"]["correct"] is True
    assert failed_delete["errors"][0]["errorType"] == CCFE
    assert failed_create["errors"][0]["errorType"] == CCFE
    assert "errors" not in allowed_create


def test_aliased_fields_fail_and_commit_independently(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    existing = gql.create()
    inputs = [
        score_input(),
        score_input(id=existing["id"]),
        score_input(status=None),
        score_input(),
    ]

    body = gql(aliased_creates(4), {f"i{n}": given for n, given in enumerate(inputs)})

    assert list(body["data"]) == ["r0", "r1", "r2", "r3"]
    assert body["data"]["r1"] is None
    assert body["data"]["r2"] is None
    assert body["data"]["r0"]["id"] == inputs[0]["id"]
    assert body["data"]["r3"]["id"] == inputs[3]["id"]
    errors = {tuple(error["path"]): error for error in body["errors"]}
    assert errors[("r1",)]["errorType"] == CCFE
    assert errors[("r2",)]["errorType"] is None
    assert set(server.store.ids()) == {existing["id"], inputs[0]["id"], inputs[3]["id"]}


def test_aliased_fields_run_in_document_order(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    inputs = [score_input() for _ in range(10)]

    gql(aliased_creates(10), {f"i{n}": given for n, given in enumerate(inputs)})

    assert server.store.ids() == [given["id"] for given in inputs]


def test_batch_create_reports_failed_entries_by_index(
    server: LocalPlexusServer, gql: GraphQL
) -> None:
    existing = gql.create()
    inputs = [
        score_input(),
        score_input(id=existing["id"]),
        score_input(),
        score_input(scoreId=None),
    ]

    body = gql(BATCH, {"inputs": inputs})

    results = body["data"]["batchCreateScoreResults"]
    assert [r and r["id"] for r in results] == [
        inputs[0]["id"],
        None,
        inputs[2]["id"],
        None,
    ]
    errors = {tuple(error["path"]): error["errorType"] for error in body["errors"]}
    assert errors == {
        ("batchCreateScoreResults", 1): CCFE,
        ("batchCreateScoreResults", 3): None,
    }
    assert server.store.count() == 3
    assert server.requests.fields() == ["createScoreResult", "batchCreateScoreResults"]
