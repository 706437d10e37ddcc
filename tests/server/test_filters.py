"""The filter and condition evaluator, without HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from plexus_async.server._filters import matches

RECORD: dict[str, Any] = {
    "id": "r1",
    "value": "Yes",
    "confidence": 0.8,
    "correct": False,
    "attachments": ["a.txt", "b.txt"],
    "explanation": None,
    "updatedAt": "2026-12-03T16:22:44.158Z",
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (None, True),
        ({}, True),
        ({"value": {"eq": "Yes"}}, True),
        ({"value": {"eq": "No"}}, False),
        ({"value": {"ne": "No"}}, True),
        ({"scoreId": {"ne": "x"}}, True),
        ({"scoreId": {"eq": "x"}}, False),
        ({"confidence": {"gt": 0.5, "le": 0.8}}, True),
        ({"confidence": {"lt": 0.8}}, False),
        ({"confidence": {"between": [0.7, 0.9]}}, True),
        ({"confidence": {"between": [0.9, 1.0]}}, False),
        ({"confidence": {"eq": "0.8"}}, False),
        ({"value": {"gt": 1}}, False),
        ({"correct": {"eq": False}}, True),
        ({"correct": {"ne": True}}, True),
        ({"value": {"contains": "e"}}, True),
        ({"value": {"notContains": "e"}}, False),
        ({"attachments": {"contains": "b.txt"}}, True),
        ({"attachments": {"contains": "b"}}, False),
        ({"scoreId": {"notContains": "x"}}, True),
        ({"value": {"beginsWith": "Ye"}}, True),
        ({"updatedAt": {"beginsWith": "2026-12"}}, True),
        ({"updatedAt": {"ge": "2026-12-04"}}, False),
        ({"value": {"attributeExists": True}}, True),
        ({"explanation": {"attributeExists": True}}, True),
        ({"scoreId": {"attributeExists": False}}, True),
        ({"value": {"attributeType": "string"}}, True),
        ({"confidence": {"attributeType": "number"}}, True),
        ({"explanation": {"attributeType": "_null"}}, True),
        ({"attachments": {"attributeType": "list"}}, True),
        ({"correct": {"attributeType": "bool"}}, True),
        ({"value": {"size": {"eq": 3}}}, True),
        ({"attachments": {"size": {"between": [3, 5]}}}, False),
        ({"scoreId": {"size": {"ge": 0}}}, False),
        ({"value": {"eq": None}}, True),
        ({"and": [{"value": {"eq": "Yes"}}, {"confidence": {"gt": 0.5}}]}, True),
        ({"and": [{"value": {"eq": "Yes"}}, {"confidence": {"gt": 0.9}}]}, False),
        ({"or": [{"value": {"eq": "No"}}, {"confidence": {"gt": 0.5}}]}, True),
        ({"or": [{"value": {"eq": "No"}}, {"confidence": {"gt": 0.9}}]}, False),
        ({"not": {"value": {"eq": "No"}}}, True),
        ({"value": {"eq": "Yes"}, "not": {"correct": {"eq": False}}}, False),
    ],
)
def test_expression(expression: dict[str, Any] | None, expected: bool) -> None:
    assert matches(RECORD, expression) is expected


def test_a_missing_record_only_matches_absence() -> None:
    assert matches({}, {"value": {"attributeExists": False}})
    assert not matches({}, {"value": {"eq": "Yes"}})
