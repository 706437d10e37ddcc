"""ScoreResult validation and its wire form (no network)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from plexus_async import ScoreResult, ValidationError
from plexus_async._models import ScoreResultUpdate, decode_value, encode_value

BASE = {"itemId": "i1", "accountId": "a1", "scorecardId": "sc1", "scoreId": "s1"}


def build(**fields: object) -> ScoreResult:
    return ScoreResult.build({**BASE, **fields})


def test_snake_case_keywords_are_accepted() -> None:
    result = ScoreResult.build(
        {"value": "Yes", "item_id": "i", "account_id": "a", "scorecard_id": "s"}
    )
    assert (result.itemId, result.accountId, result.scorecardId) == ("i", "a", "s")


def test_giving_both_spellings_is_an_error() -> None:
    with pytest.raises(ValidationError, match="itemId: given twice"):
        build(value="x", item_id="other")


@pytest.mark.parametrize(
    ("given", "wire", "read_back"),
    [
        (0.95, "0.95", 0.95),
        (1, "1.0", 1.0),
        ("Yes", "Yes", "Yes"),
        ("0.25", "0.25", 0.25),
        ("007", "007", "007"),
        (1e22, "1e+22", 1e22),
        ("NaN", "NaN", "NaN"),
    ],
)
def test_value_is_sent_as_text_and_read_back_as_number_or_string(
    given: object, wire: str, read_back: object
) -> None:
    result = build(value=given)
    assert result.to_input()["value"] == wire
    assert decode_value(wire) == read_back
    assert result.value == read_back


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"value": float("nan")}, "value", "finite"),
        ({"value": float("inf")}, "value", "finite"),
        ({"value": True}, "value", "not bool"),
        ({"value": None}, "value", "not NoneType"),
        ({"value": 10**400}, "value", "too large"),
        ({"value": "x", "confidence": 1.5}, "confidence", "less than or equal"),
        ({"value": "x", "confidence": float("nan")}, "confidence", "finite"),
        ({"value": "x", "confidence": "0.5"}, "confidence", "valid number"),
        ({"value": "x", "metadata": {1, 2}}, "metadata", "set is not JSON"),
        ({"value": "x", "metadata": {"b": b"x"}}, "metadata", "bytes is not JSON"),
        ({"value": "x", "trace": object()}, "trace", "object is not JSON"),
        ({"value": "x", "cost": {"n": float("nan")}}, "cost", "NaN"),
        ({"value": "x", "unknown": 1}, "unknown", "unknown field"),
        ({"value": "x", "id": ""}, "id", "at least 1 character"),
        ({"value": "x", "itemId": ""}, "itemId", "at least 1 character"),
        ({"value": "x", "itemId": 5}, "itemId", "valid string"),
        ({"value": "x", "correct": "yes"}, "correct", "valid boolean"),
        ({"value": "x", "createdAt": "yesterday"}, "createdAt", "ISO 8601"),
    ],
)
def test_bad_input_names_the_field_and_the_reason(
    fields: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        build(**fields)
    assert caught.value.field == field
    assert field in str(caught.value) and reason in str(caught.value)


def test_missing_required_fields_are_named() -> None:
    with pytest.raises(ValidationError, match="accountId: required field is missing"):
        ScoreResult.build({"value": "x", "itemId": "i", "scorecardId": "s"})


def test_circular_metadata_is_rejected() -> None:
    loop: dict[str, object] = {}
    loop["self"] = loop
    with pytest.raises(ValidationError, match=r"metadata: .*circular"):
        build(value="x", metadata=loop)


def test_decimal_datetime_and_uuid_in_metadata_become_strings() -> None:
    moment = datetime(2026, 12, 3, 16, 22, 44, 158000, tzinfo=timezone.utc)
    ident = uuid.UUID(int=7)
    result = build(value="x", metadata={"d": Decimal("1.10"), "t": moment, "u": ident})
    expected = {"d": "1.10", "t": moment.isoformat(), "u": str(ident)}
    assert json.loads(result.to_input()["metadata"]) == expected
    assert ScoreResult.from_dict(result.to_input()).metadata == expected


def test_the_wire_form_is_a_snapshot_of_the_callers_dict() -> None:
    data = {"label": "Yes"}
    wire = ScoreResult.wire_of({**BASE, "value": "x", "metadata": data})
    data["label"] = "No"
    assert json.loads(wire["metadata"]) == {"label": "Yes"}


def test_new_ids_are_version_4_uuids() -> None:
    from plexus_async._models import new_id

    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in ids)


def test_wire_form_follows_the_api() -> None:
    wire = build(
        value=0.5,
        metadata={"a": [1, 2]},
        createdAt=datetime(2026, 12, 3, 16, 22, 44, 158999, tzinfo=timezone.utc),
    ).to_input()
    assert wire["metadata"] == '{"a":[1,2]}'
    assert wire["createdAt"] == "2026-12-03T16:22:44.158Z"
    assert (wire["code"], wire["type"], wire["status"]) == (
        "200",
        "prediction",
        "COMPLETED",
    )
    uuid.UUID(wire["id"])  # a client-generated UUID
    assert "trace" not in wire  # unset optional fields are not sent


def test_from_dict_decodes_awsjson_values_and_dates() -> None:
    record = {
        "id": "r1",
        "value": "0.75",
        "metadata": '{"human_label": "Yes"}',
        "trace": None,
        "createdAt": "2026-12-03T16:22:44.158Z",
        "__typename": "ScoreResult",
        **BASE,
    }
    result = ScoreResult.from_dict(record)
    assert result.value == 0.75
    assert result.metadata == {"human_label": "Yes"}
    assert result.createdAt == datetime(
        2026, 12, 3, 16, 22, 44, 158000, tzinfo=timezone.utc
    )


def test_round_trip_through_the_wire_keeps_the_result() -> None:
    result = build(value="Yes", confidence=0.9, metadata={"k": [1, "2"]}, correct=True)
    assert ScoreResult.from_dict(result.to_input()) == result


def test_fields_selects_every_model_field() -> None:
    assert set(ScoreResult.fields().split()) == set(ScoreResult.model_fields)


def test_update_sends_only_given_fields_and_may_clear_optional_ones() -> None:
    update = ScoreResultUpdate.build({"correct": False, "metadata": None})
    assert update.to_input() == {"correct": False, "metadata": None}


def test_update_cannot_clear_a_required_field() -> None:
    with pytest.raises(ValidationError, match=r"value: .*cannot be cleared"):
        ScoreResultUpdate.build({"value": None})


def test_encode_value_uses_shortest_round_trip_text() -> None:
    assert encode_value(0.1 + 0.2) == "0.30000000000000004"
    assert float(encode_value(0.1 + 0.2)) == 0.1 + 0.2
