"""
Evaluation of Amplify filter and condition inputs against a stored record.

One evaluator serves `ModelScoreResultFilterInput` (list queries) and
`ModelScoreResultConditionInput` (mutations), following DynamoDB's rules: a
comparison between different types is false, a missing attribute fails every
comparison except `ne` and `notContains`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

_MISSING: Any = object()


def matches(record: Mapping[str, Any], expression: Mapping[str, Any] | None) -> bool:
    """Whether `record` satisfies a filter or condition (None matches all)."""
    if not expression:
        return True
    for key, operand in expression.items():
        if operand is None:
            continue
        if key == "and":
            ok = all(matches(record, part) for part in operand)
        elif key == "or":
            ok = not operand or any(matches(record, part) for part in operand)
        elif key == "not":
            ok = not matches(record, operand)
        else:
            ok = _attribute_matches(record.get(key, _MISSING), operand)
        if not ok:
            return False
    return True


def _attribute_matches(value: Any, operators: Mapping[str, Any]) -> bool:
    return all(
        _OPERATORS[name](value, operand)
        for name, operand in operators.items()
        # A null operand is how GraphQL spells "not given".
        if operand is not None
    )


def _kind(value: Any) -> str:
    if value is _MISSING:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    return "map"


def _comparable(value: Any, operand: Any) -> bool:
    kind = _kind(value)
    return kind in ("string", "number", "bool") and kind == _kind(operand)


def _eq(value: Any, operand: Any) -> bool:
    return _comparable(value, operand) and bool(value == operand)


def _orderable(value: Any, operand: Any) -> bool:
    return _comparable(value, operand) and _kind(value) != "bool"


def _ordered(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(value: Any, operand: Any) -> bool:
        return _orderable(value, operand) and test(value, operand)

    return compare


def _between(value: Any, bounds: list[Any]) -> bool:
    if len(bounds) != 2:
        return False
    low, high = bounds
    return (
        _orderable(value, low)
        and _orderable(value, high)
        and bool(low <= value <= high)
    )


def _contains(value: Any, operand: Any) -> bool:
    if isinstance(value, str):
        return isinstance(operand, str) and operand in value
    if isinstance(value, (list, tuple)):
        return operand in value
    return False


def _begins_with(value: Any, operand: Any) -> bool:
    return isinstance(value, str) and value.startswith(operand)


def _size(value: Any, operators: Mapping[str, Any]) -> bool:
    if not isinstance(value, (str, list, tuple, dict)):
        return False
    return _attribute_matches(len(value), operators)


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _eq,
    "ne": lambda value, operand: not _eq(value, operand),
    "le": _ordered(lambda v, o: bool(v <= o)),
    "lt": _ordered(lambda v, o: bool(v < o)),
    "ge": _ordered(lambda v, o: bool(v >= o)),
    "gt": _ordered(lambda v, o: bool(v > o)),
    "between": _between,
    "contains": _contains,
    "notContains": lambda value, operand: not _contains(value, operand),
    "beginsWith": _begins_with,
    "attributeExists": lambda value, operand: (value is not _MISSING) == operand,
    # ModelAttributeTypes names the kinds above ("_null" for null); set and
    # binary types never match. AWSJSON is stored as its JSON text, so
    # metadata reads as a string where DynamoDB would see a map: close enough.
    "attributeType": lambda value, operand: _kind(value) == operand.lstrip("_"),
    "size": _size,
}
