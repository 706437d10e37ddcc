"""The create path's shortcuts: the direct path for creates-only documents answers
exactly like graphql-core, and the cheaper stamps and encoding change nothing."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from graphql import execute_sync, parse, validate

from plexus_async.server import Faults, Store, _schema, create_app
from plexus_async.server import _app as app_module
from plexus_async.server._app import _parse_request
from plexus_async.server._creates import plan_creates
from plexus_async.server._schema import (
    executable_schema,
    format_datetime,
    strict_json_loads,
)

from .helpers import BATCH, CREATE, aliased_creates, score_input

MIXED = """
mutation Mixed(
  $a: CreateScoreResultInput!
  $b: CreateScoreResultInput!
  $l: [CreateScoreResultInput!]!
) {
  a: createScoreResult(input: $a) {
    id value createdAt updatedAt __typename confidence correct metadata code
    kind: type
  }
  createScoreResult(input: $b) { id updatedAt }
  l: batchCreateScoreResults(inputs: $l) { id itemId }
}
"""


def _variables(**overrides: Any) -> dict[str, Any]:
    fixed = {"createdAt": "2026-01-01T00:00:00.000Z"}
    variables: dict[str, Any] = {
        "a": score_input(**fixed),
        "b": score_input(),
        "l": [score_input(**fixed), score_input(id=None)],
    }
    variables.update(overrides)
    return variables


def _without_id(**fields: Any) -> dict[str, Any]:
    given = score_input(**fields)
    del given["id"]
    return given


first = score_input()
CASES: dict[str, tuple[str, Any, str | None]] = {
    "valid": (MIXED, _variables(), None),
    "operation named": (MIXED, _variables(), "Mixed"),
    "other operation name": (MIXED, _variables(), "Other"),
    "duplicate id": (MIXED, _variables(a=first, b=first), None),
    "duplicate in batch": (MIXED, _variables(l=[first, first]), None),
    "index guard": (MIXED, _variables(a=score_input(status=None)), None),
    "guard in batch": (MIXED, _variables(l=[score_input(scoreId=None)]), None),
    "generated ids": (MIXED, _variables(a=_without_id(), b=score_input(id="")), None),
    "coerced scalars": (
        MIXED,
        _variables(
            a=score_input(
                id=7,
                confidence=1,
                correct=False,
                attachments="one",
                metadata='{"k": [1, 2]}',
                updatedAt="2026-01-01T02:00:00+02:00",
                explanation=None,
            )
        ),
        None,
    ),
    "single entry for a list": (MIXED, _variables(l=score_input()), None),
    "empty list": (MIXED, _variables(l=[]), None),
    "wrong scalar": (MIXED, _variables(b=score_input(confidence="high")), None),
    "bool for a string": (MIXED, _variables(b=score_input(code=True)), None),
    "bad json": (MIXED, _variables(a=score_input(metadata="{nope")), None),
    "bad datetime": (MIXED, _variables(a=score_input(updatedAt="yesterday")), None),
    "unknown field": (MIXED, _variables(a=score_input(colour="red")), None),
    "missing required field": (MIXED, _variables(a={"itemId": "i"}), None),
    "null required variable": (MIXED, _variables(a=None), None),
    "input not an object": (MIXED, _variables(a="text"), None),
    "null in list": (MIXED, _variables(l=[None]), None),
    "missing variable": (MIXED, {"a": score_input(), "b": score_input()}, None),
    "no variables": (MIXED, None, None),
    "extra variable": (MIXED, _variables(extra=1), None),
    "aliased batch": (
        aliased_creates(3),
        {f"i{n}": score_input() for n in range(3)},
        None,
    ),
    "batch field": (BATCH, {"inputs": [score_input(), score_input()]}, None),
}


def _answer(query: str, variables: Any, name: str | None, direct: bool) -> Any:
    """The response and the stored records, with a fresh store and seeded faults."""
    ids = itertools.count()
    original = uuid.uuid4
    # Generated ids and timestamps must not differ between the two runs.
    uuid.uuid4 = lambda: uuid.UUID(int=next(ids))  # type: ignore[assignment]
    saved_now = _schema.now
    _schema.now = lambda: "2026-06-01T00:00:00.000Z"
    try:
        store = Store()
        store.insert(first)
        app = create_app(store, "k", Faults(seed=3))
        body = {"query": query, "variables": variables}
        if name is not None:
            body["operationName"] = name
        request = _parse_request(json.dumps(body).encode())
        if not direct:
            request.plan = None
        calls = []
        app_module.execute_sync = lambda *args, **kwargs: (
            calls.append(1) or execute_sync(*args, **kwargs)
        )
        response = app._execute(request)
        return response, store.all(), bool(calls)
    finally:
        app_module.execute_sync = execute_sync
        uuid.uuid4 = original  # type: ignore[assignment]
        _schema.now = saved_now


DECLINED = {
    "other operation name",
    "wrong scalar",
    "bool for a string",
    "bad json",
    "bad datetime",
    "unknown field",
    "missing required field",
    "null required variable",
    "input not an object",
    "null in list",
    "missing variable",
    "no variables",
}
"""Cases the direct path leaves to graphql-core, whose errors fail the request."""


@pytest.mark.parametrize("case", CASES)
def test_direct_path_answers_like_graphql_core(case: str) -> None:
    query, variables, name = CASES[case]

    *direct, declined = _answer(query, variables, name, True)
    *reference, _ = _answer(query, variables, name, False)

    # Compared as JSON text, so that the order of keys counts too.
    assert json.dumps(direct) == json.dumps(reference)
    assert declined == (case in DECLINED)


def test_field_throttling_draws_the_same_sequence() -> None:
    def run(direct: bool) -> Any:
        store = Store()
        app = create_app(store, "k", Faults(seed=11, field_throttle_rate=0.5))
        variables = {f"i{n}": score_input(id=f"id-{n}") for n in range(20)}
        body = {"query": aliased_creates(20), "variables": variables}
        request = _parse_request(json.dumps(body).encode())
        if not direct:
            request.plan = None
        errors = app._execute(request).get("errors", [])
        return [(e["path"], e["errorType"]) for e in errors], store.ids()

    assert json.dumps(run(True)) == json.dumps(run(False))
    assert run(True)[0]


@pytest.mark.parametrize(
    "query", [MIXED, BATCH, aliased_creates(25)], ids=["mixed", "batch", "aliased"]
)
def test_creates_only_documents_get_a_plan(query: str) -> None:
    assert plan_creates(executable_schema(), parse(query)) is not None


@pytest.mark.parametrize(
    "query",
    [
        # A condition, a list field, a fragment, a directive, a literal input,
        # a query, and a field selected twice all go to graphql-core.
        CREATE,
        "mutation M($i: CreateScoreResultInput!, $c: ModelScoreResultConditionInput)"
        " { createScoreResult(input: $i, condition: $c) { id } }",
        "mutation M($i: CreateScoreResultInput!)"
        " { createScoreResult(input: $i) { id attachments } }",
        "mutation M($i: CreateScoreResultInput!)"
        " { createScoreResult(input: $i) { ...F } } fragment F on ScoreResult { id }",
        "mutation M($i: CreateScoreResultInput!, $s: Boolean!)"
        " { createScoreResult(input: $i) { id @include(if: $s) } }",
        'mutation { createScoreResult(input: {value: "v", itemId: "i",'
        ' accountId: "a", scorecardId: "s", status: "x", type: "t",'
        ' scoreId: "s"}) { id } }',
        "query Q($id: ID!) { getScoreResult(id: $id) { id } }",
        "mutation M($i: CreateScoreResultInput!)"
        " { a: createScoreResult(input: $i) { id } a: createScoreResult(input: $i)"
        " { id } }",
    ],
)
def test_other_documents_get_no_plan(query: str) -> None:
    document = parse(query)
    assert validate(executable_schema(), document) == []
    assert plan_creates(executable_schema(), document) is None


def test_now_is_the_current_millisecond_in_appsync_form() -> None:
    before = format_datetime(datetime.now(timezone.utc))
    stamps = [_schema.now() for _ in range(1000)]
    after = format_datetime(datetime.now(timezone.utc))

    assert before <= stamps[0] <= stamps[-1] <= after
    assert stamps == sorted(stamps)
    assert all(len(stamp) == 24 and stamp.endswith("Z") for stamp in stamps)


def test_records_that_orjson_refuses_are_still_stored() -> None:
    store = Store()
    given = score_input(explanation="lone \ud800 surrogate")

    assert store.insert(given)
    assert store.get(given["id"]) == given
    store.close()


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1, 2.5, "x"]}',
        "\ufeff{}",
        b"\xef\xbb\xbf{}",
        '{"a": 1}'.encode("utf-16"),
        b'"\xed\xa0\x80"',
        "NaN",
        '{"a": Infinity}',
        "{nope",
        "",
        b"",
    ],
)
def test_strict_json_loads_is_json_loads(text: str | bytes) -> None:
    def reject(name: str) -> Any:
        raise ValueError(name)

    decoder = json.JSONDecoder(parse_constant=reject)

    def outcome(load: Any) -> Any:
        try:
            return load()
        except ValueError as exc:
            return type(exc), str(exc)

    assert outcome(lambda: strict_json_loads(text, decoder)) == outcome(
        lambda: json.loads(text, parse_constant=reject)
    )
