"""The executable schema: the SDL file with scalars and resolvers attached."""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache
from importlib import resources
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    StringValueNode,
    ValueNode,
    build_schema,
)

from ._faults import Faults
from ._filters import matches
from ._store import INDEXES, KEY_SEPARATOR, Index, KeyCondition, Record, Store

DEFAULT_LIMIT = 100
"""Page size of list queries when the request gives none, as in AppSync."""

CONDITIONAL_CHECK_FAILED = "DynamoDB:ConditionalCheckFailedException"
THROTTLED = "DynamoDB:ThrottlingException"
_DYNAMODB_ERROR = "DynamoDB:DynamoDbException"

# Composite sort key parts each write must carry, in the order they are
# checked: (index named in the message, field).
_CREATE_GUARD = (
    ("byTypeStatusUpdated", "status"),
    ("byTypeStatusUpdated", "type"),
    ("byItemIdAndTypeAndScoreIdAndUpdatedAt", "scoreId"),
)
_UPDATE_GUARD = (
    ("byTypeStatusUpdated", "status"),
    ("byTypeStatusUpdated", "type"),
    ("byItemIdAndTypeAndScoreIdAndUpdatedAt", "scoreId"),
    ("byItemScorecardScore", "scorecardId"),
    ("byScorecardScoreItem", "itemId"),
    ("byScorecardItemAndCreatedAt", "createdAt"),
)

_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:\d{2}(?::\d{2})?)"
)


class AppSyncError(Exception):
    """A resolver failure, reported with AppSync's `errorType`."""

    def __init__(self, message: str, error_type: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type


@dataclass
class Context:
    """What resolvers need from the server, passed as the context value."""

    store: Store
    faults: Faults


def _request_id() -> str:
    return str(uuid.uuid4())


def conditional_check_failed() -> AppSyncError:
    return AppSyncError(
        "The conditional request failed (Service: DynamoDb, Status Code: 400, "
        f"Request ID: {_request_id()})",
        CONDITIONAL_CHECK_FAILED,
    )


def throttled() -> AppSyncError:
    return AppSyncError(
        "Throughput exceeds the current capacity of your table or index. "
        "DynamoDB is automatically scaling your table or index so please try "
        "again shortly. If exceptions persist, check if you have a hot key: "
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
        "bp-partition-key-design.html (Service: DynamoDb, Status Code: 400, "
        f"Request ID: {_request_id()})",
        THROTTLED,
    )


# Scalars


def format_datetime(moment: datetime) -> str:
    """AWSDateTime in the form AppSync returns: UTC, milliseconds, `Z`."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_last_stamp: tuple[int, str] = (-1, "")


def now() -> str:
    """The current time as AWSDateTime."""
    global _last_stamp
    # Formatting costs more than storing a small record, and the creates of
    # one request mostly share a millisecond.
    millis = time.time_ns() // 1_000_000
    if millis != _last_stamp[0]:
        seconds, rest = divmod(millis, 1000)
        moment = datetime.fromtimestamp(seconds, timezone.utc)
        _last_stamp = (millis, format_datetime(moment.replace(microsecond=rest * 1000)))
    return _last_stamp[1]


def parse_datetime(text: object) -> str:
    """Check an ISO 8601 date-time with a zone and return its UTC form."""
    match = _DATETIME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise GraphQLError(
            f"Invalid AWSDateTime {text!r}: expected ISO 8601 with a time zone, "
            "such as 2026-12-03T16:22:44.158Z"
        )
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if zone == "Z":
        offset = timedelta(0)
    else:
        sign = -1 if zone[0] == "-" else 1
        hours, minutes, *seconds = (int(part) for part in zone[1:].split(":"))
        offset = sign * timedelta(hours=hours, minutes=minutes, seconds=sum(seconds))
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")[:6]),
            tzinfo=timezone(offset),
        )
    except ValueError as exc:
        raise GraphQLError(f"Invalid AWSDateTime {text!r}: {exc}") from None
    return format_datetime(moment)


def parse_json(text: object) -> str:
    """Check that an AWSJSON value is a string holding JSON; keep the string."""
    if not isinstance(text, str):
        raise GraphQLError(
            f"Invalid AWSJSON: expected a string holding JSON, got {text!r}"
        )
    try:
        strict_json_loads(text, _STRICT_JSON)
    except ValueError as exc:
        raise GraphQLError(f"Invalid AWSJSON {text!r}: {exc}") from None
    return text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_STRICT_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def strict_json_loads(text: str | bytes, decoder: json.JSONDecoder) -> Any:
    """
    `json.loads(text, parse_constant=...)` with a decoder made once.

    json.loads builds a new decoder on every call that passes a hook, which
    costs more than decoding a small document; this does what it does
    otherwise, step for step.
    """
    if isinstance(text, str):
        if text.startswith("\ufeff"):
            raise json.JSONDecodeError(
                "Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0
            )
    else:
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    return decoder.decode(text)


def _serialize_json(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _literal(parse: Callable[[object], str]) -> Callable[..., str]:
    def parse_literal(node: ValueNode, *_: Any, **__: Any) -> str:
        if not isinstance(node, StringValueNode):
            raise GraphQLError("Expected a string literal")
        return parse(node.value)

    return parse_literal


def _install_scalar(
    scalar: GraphQLScalarType,
    parse: Callable[[object], str],
    serialize: Callable[[object], str],
) -> None:
    # build_schema makes pass-through scalars; give them behaviour in place.
    # graphql-core 3.2 calls serialize/parse_value/parse_literal, 3.3 calls
    # the coerce_* names (falling back to parse_literal), so set both.
    hooks: dict[str, Any] = {
        "serialize": serialize,
        "parse_value": parse,
        "parse_literal": _literal(parse),
        "coerce_output_value": serialize,
        "coerce_input_value": parse,
    }
    for name, hook in hooks.items():
        setattr(scalar, name, hook)


# Mutations


def _guard(
    fields: Mapping[str, Any], guard: Sequence[tuple[str, str]], verb: str
) -> None:
    for index, key in guard:
        if fields.get(key) is None:
            raise AppSyncError(
                f"When {verb} any part of the composite sort key for @index "
                f"'{index}', you must provide all fields for the key. "
                f"Missing key: '{key}'.",
                None,
            )


def _maybe_throttle(context: Context) -> None:
    if context.faults.roll(context.faults.field_throttle_rate):
        raise throttled()


def _create(context: Context, fields: Mapping[str, Any], condition: Any) -> Record:
    _guard(fields, _CREATE_GUARD, "creating")
    _maybe_throttle(context)
    record = dict(fields)
    # Amplify's resolver uses defaultIfNullOrBlank for the id and
    # defaultIfNull for the timestamps, so null counts as absent.
    if not record.get("id"):
        record["id"] = str(uuid.uuid4())
    stamp = now()
    for name in ("createdAt", "updatedAt"):
        if record.get(name) is None:
            record[name] = stamp
    # DynamoDB evaluates a put's condition against the item being replaced,
    # and a create only succeeds when there is none.
    if not matches({}, condition) or not context.store.insert(record):
        raise conditional_check_failed()
    return record


def create_one(context: Context, input: dict[str, Any]) -> Record:
    """What `createScoreResult(input:)` without a condition resolves to."""
    return _create(context, input, None)


def create_many(
    context: Context, inputs: list[dict[str, Any]]
) -> list[Record | AppSyncError]:
    """What `batchCreateScoreResults(inputs:)` resolves to."""
    results: list[Record | AppSyncError] = []
    for fields in inputs:
        try:
            results.append(_create(context, fields, None))
        except AppSyncError as exc:
            # graphql-core raises an exception found in a list as the error of
            # that entry, so it gets the path [alias, index] and a null.
            results.append(exc)
    return results


def _resolve_create(
    _root: object,
    info: GraphQLResolveInfo[Context],
    input: dict[str, Any],
    condition: Any = None,
) -> Record:
    return _create(info.context, input, condition)


def _resolve_batch_create(
    _root: object, info: GraphQLResolveInfo[Context], inputs: list[dict[str, Any]]
) -> list[Record | AppSyncError]:
    return create_many(info.context, inputs)


def _resolve_update(
    _root: object,
    info: GraphQLResolveInfo[Context],
    input: dict[str, Any],
    condition: Any = None,
) -> Record:
    context = info.context
    _guard(input, _UPDATE_GUARD, "updating")
    _maybe_throttle(context)
    with context.store.locked() as store:
        record = store.get(input["id"])
        if record is None or not matches(record, condition):
            raise conditional_check_failed()
        for name, value in input.items():
            # Amplify removes an attribute set to null rather than storing it.
            if value is None:
                record.pop(name, None)
            else:
                record[name] = value
        if input.get("updatedAt") is None:
            record["updatedAt"] = now()
        store.replace(record)
    return record


def _resolve_delete(
    _root: object,
    info: GraphQLResolveInfo[Context],
    input: dict[str, Any],
    condition: Any = None,
) -> Record:
    context = info.context
    _maybe_throttle(context)
    with context.store.locked() as store:
        record = store.get(input["id"])
        if record is None or not matches(record, condition):
            raise conditional_check_failed()
        store.delete(record["id"])
    return record


# Queries


def _resolve_get(
    _root: object, info: GraphQLResolveInfo[Context], id: str
) -> Record | None:
    return info.context.store.get(id)


def _check_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 1:
        raise AppSyncError(
            f"1 validation error detected: Value '{limit}' at 'limit' failed to "
            "satisfy constraint: Member must have value greater than or equal to 1",
            _DYNAMODB_ERROR,
        )
    return limit


def _encode_token(query: str, position: Any) -> str:
    raw = json.dumps({"q": query, "k": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_token(
    token: str | None, query: str, is_position: Callable[[Any], bool]
) -> Any:
    """The position a nextToken of `query` holds; an error if it holds none."""
    if token is None:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        if decoded["q"] == query and is_position(decoded["k"]):
            return decoded["k"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        pass
    raise AppSyncError("Invalid pagination token given.", _DYNAMODB_ERROR)


def _is_index_position(position: Any) -> bool:
    return (
        isinstance(position, list)
        and len(position) == 2
        and all(isinstance(part, str) for part in position)
    )


def _page(
    rows: Sequence[tuple[Any, Record]], limit: int, query: str, filter: Any
) -> dict[str, Any]:
    # DynamoDB reads `limit` items and filters afterwards, so a page can be
    # short, even empty, while more remain. One extra row was read to tell
    # whether any remain, so nextToken is null exactly at the end.
    page = rows[:limit]
    next_token = _encode_token(query, page[-1][0]) if len(rows) > limit else None
    return {
        "items": [record for _, record in page if matches(record, filter)],
        "nextToken": next_token,
    }


def _resolve_list(
    _root: object,
    info: GraphQLResolveInfo[Context],
    filter: Any = None,
    limit: int | None = None,
    nextToken: str | None = None,
) -> dict[str, Any]:
    query = info.field_name
    limit = _check_limit(limit)
    after = _decode_token(nextToken, query, lambda position: type(position) is int)
    rows = info.context.store.scan(after, limit + 1)
    return _page(rows, limit, query, filter)


def index_query_name(index: Index) -> str:
    """The Query field Amplify generates for an index."""
    return "listScoreResultBy" + "And".join(
        _capitalize(name) for name in (index.partition, *index.sort)
    )


def index_condition_argument(index: Index) -> str | None:
    """The name of the sort key condition argument of an index query."""
    if not index.sort:
        return None
    first, *rest = index.sort
    return first + "".join(_capitalize(name) for name in rest)


def _capitalize(name: str) -> str:
    return name[0].upper() + name[1:]


def _key_value(index: Index, operand: Any) -> str:
    if isinstance(operand, str):
        return operand
    # Amplify's resolver joins the parts given, in sort key order.
    parts = [operand.get(name) for name in index.sort]
    return KEY_SEPARATOR.join(part for part in parts if part is not None)


def _key_conditions(index: Index, condition: Mapping[str, Any]) -> list[KeyCondition]:
    conditions: list[KeyCondition] = []
    for operator, operand in condition.items():
        if operand is None:
            continue
        if operator == "between":
            if len(operand) != 2 or None in operand:
                raise AppSyncError("between needs exactly two bounds", _DYNAMODB_ERROR)
            bounds = tuple(_key_value(index, bound) for bound in operand)
            conditions.append((operator, bounds))
        else:
            conditions.append((operator, (_key_value(index, operand),)))
    return conditions


def _index_resolver(index: Index) -> Callable[..., dict[str, Any]]:
    condition_argument = index_condition_argument(index)

    def resolve(
        _root: object,
        info: GraphQLResolveInfo[Context],
        sortDirection: str | None = None,
        filter: Any = None,
        limit: int | None = None,
        nextToken: str | None = None,
        **arguments: Any,
    ) -> dict[str, Any]:
        descending = sortDirection == "DESC"
        # The direction is part of the query a token belongs to: a position
        # means nothing when read the other way round.
        query = f"{info.field_name}:{'DESC' if descending else 'ASC'}"
        limit = _check_limit(limit)
        after = _decode_token(nextToken, query, _is_index_position)
        condition = arguments.get(condition_argument or "") or {}
        rows = info.context.store.query(
            index,
            arguments[index.partition],
            conditions=_key_conditions(index, condition),
            descending=descending,
            after=None if after is None else (after[0], after[1]),
            limit=limit + 1,
        )
        return _page(rows, limit, query, filter)

    return resolve


@cache
def executable_schema() -> GraphQLSchema:
    """The server's schema, parsed once, with scalars and resolvers attached."""
    sdl = resources.files(__package__).joinpath("schema.graphql").read_text("utf-8")
    schema = build_schema(sdl)
    _install_scalar(_scalar(schema, "AWSJSON"), parse_json, _serialize_json)
    _install_scalar(_scalar(schema, "AWSDateTime"), parse_datetime, str)

    resolvers: dict[tuple[GraphQLObjectType | None, str], Callable[..., Any]] = {
        (schema.query_type, "getScoreResult"): _resolve_get,
        (schema.query_type, "listScoreResults"): _resolve_list,
        (schema.mutation_type, "createScoreResult"): _resolve_create,
        (schema.mutation_type, "updateScoreResult"): _resolve_update,
        (schema.mutation_type, "deleteScoreResult"): _resolve_delete,
        (schema.mutation_type, "batchCreateScoreResults"): _resolve_batch_create,
    }
    for index in INDEXES:
        resolvers[schema.query_type, index_query_name(index)] = _index_resolver(index)
    for (parent, name), resolve in resolvers.items():
        assert parent is not None
        parent.fields[name].resolve = resolve
    return schema


def _scalar(schema: GraphQLSchema, name: str) -> GraphQLScalarType:
    scalar = schema.type_map[name]
    assert isinstance(scalar, GraphQLScalarType)
    return scalar
