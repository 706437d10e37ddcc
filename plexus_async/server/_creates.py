"""
A direct path for documents made only of creates, bypassing graphql-core's
executor.

Batching clients send one document over and over: N aliased
`createScoreResult(input: $cN)` fields, or one `batchCreateScoreResults`,
selecting a few scalar fields. graphql-core's general machinery costs more
than storing the records, so for such a document `plan_creates` prepares, once,
what executing it amounts to, and `CreatePlan.execute` does just that: the
same coercion, the same resolvers in the same order, the same errors at the
same paths. Whenever a request would not go through it cleanly (a variable
that does not coerce, another operation name) it declines before running
anything, and graphql-core executes the request as it would any other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    TypeNode,
    Undefined,
    VariableNode,
    is_list_type,
    is_non_null_type,
    is_required_input_field,
    located_error,
)
from graphql.pyutils import inspect, is_iterable

from ._schema import Context, create_many, create_one

_INPUT = "CreateScoreResultInput"
_RESULT = "ScoreResult"
_CREATE = "createScoreResult"
_BATCH = "batchCreateScoreResults"

Coerce = Callable[[Any], Any]
"""Coerces one input value like graphql-core; `Undefined` when it is invalid."""


@dataclass(frozen=True)
class _Output:
    """One selected field of a created record."""

    key: str
    name: str
    node: FieldNode
    scalar: GraphQLScalarType | None
    """The field's scalar type; None for `__typename`."""
    non_null: bool


@dataclass(frozen=True)
class _Root:
    """One top-level create field and the variable that carries its input."""

    key: str
    node: FieldNode
    variable: str
    batch: bool
    outputs: tuple[_Output, ...]


@dataclass(frozen=True)
class CreatePlan:
    """What executing a creates-only document amounts to."""

    operation_name: str | None
    variables: tuple[tuple[str, Coerce], ...]
    roots: tuple[_Root, ...]

    def execute(
        self,
        context: Context,
        variable_values: dict[str, Any] | None,
        operation_name: str | None,
    ) -> tuple[dict[str, Any], list[GraphQLError]] | None:
        """
        Run the creates and return `(data, errors)`; None to leave the request
        to graphql-core, in which case nothing has run.
        """
        if operation_name is not None and operation_name != self.operation_name:
            return None
        given = variable_values or {}
        coerced: dict[str, Any] = {}
        for name, coerce in self.variables:
            value = coerce(given.get(name, Undefined))
            if value is Undefined:
                return None
            coerced[name] = value

        data: dict[str, Any] = {}
        errors: list[GraphQLError] = []
        for root in self.roots:
            path: list[str | int] = [root.key]
            try:
                if root.batch:
                    result: Any = create_many(context, coerced[root.variable])
                else:
                    result = create_one(context, coerced[root.variable])
            except Exception as exc:
                errors.append(located_error(exc, [root.node], path))
                data[root.key] = None
                continue
            if root.batch:
                data[root.key] = [
                    _complete(root, item, [root.key, index], errors)
                    for index, item in enumerate(result)
                ]
            else:
                data[root.key] = _complete(root, result, path, errors)
        return data, errors


def _complete(
    root: _Root, record: Any, path: list[str | int], errors: list[GraphQLError]
) -> dict[str, Any] | None:
    """A record's selected fields, as graphql-core completes a nullable object."""
    if isinstance(record, Exception):
        errors.append(located_error(record, [root.node], path))
        return None
    if record is None:
        return None
    completed: dict[str, Any] = {}
    for output in root.outputs:
        if output.scalar is None:
            completed[output.key] = _RESULT
            continue
        value = record.get(output.name)
        try:
            completed[output.key] = _complete_leaf(output, value)
        except Exception as exc:
            errors.append(located_error(exc, [output.node], [*path, output.key]))
            if output.non_null:
                # The null propagates to the record, which is nullable.
                return None
            completed[output.key] = None
    return completed


def _complete_leaf(output: _Output, value: Any) -> Any:
    # graphql-core's complete_value and complete_leaf_value, for a scalar.
    if value is None or value is Undefined:
        if output.non_null:
            raise TypeError(
                f"Cannot return null for non-nullable field {_RESULT}.{output.name}."
            )
        return None
    scalar = output.scalar
    assert scalar is not None
    coerced = scalar.coerce_output_value(value)
    if coerced is Undefined or coerced is None:
        raise TypeError(
            f"Expected `{inspect(scalar)}.coerce_output_value({inspect(value)})` "
            f"to return non-nullable value, returned: {inspect(coerced)}"
        )
    return coerced


def plan_creates(schema: GraphQLSchema, document: DocumentNode) -> CreatePlan | None:
    """The plan of a valid document made only of creates; None for any other."""
    if len(document.definitions) != 1:
        return None
    operation = document.definitions[0]
    if (
        not isinstance(operation, OperationDefinitionNode)
        or operation.operation != OperationType.MUTATION
        or operation.directives
    ):
        return None

    input_type = schema.type_map.get(_INPUT)
    result_type = schema.type_map.get(_RESULT)
    if not isinstance(input_type, GraphQLInputObjectType) or not isinstance(
        result_type, GraphQLObjectType
    ):
        return None
    coerce_one = _coercer(GraphQLNonNull(input_type))
    coerce_many = _coercer(GraphQLNonNull(GraphQLList(GraphQLNonNull(input_type))))
    if coerce_one is None or coerce_many is None:
        return None

    variables: dict[str, bool] = {}
    for definition in operation.variable_definitions or ():
        batch = _variable_kind(definition.type)
        if batch is None or definition.default_value or definition.directives:
            return None
        variables[definition.variable.name.value] = batch

    roots: list[_Root] = []
    for selection in operation.selection_set.selections:
        root = _plan_root(selection, variables, input_type, result_type)
        if root is None:
            return None
        roots.append(root)
    if len({root.key for root in roots}) != len(roots):
        return None
    return CreatePlan(
        operation.name.value if operation.name else None,
        tuple(
            (name, coerce_many if batch else coerce_one)
            for name, batch in variables.items()
        ),
        tuple(roots),
    )


def _variable_kind(type_node: TypeNode) -> bool | None:
    """
    For a variable declared `CreateScoreResultInput!`, False; declared
    `[CreateScoreResultInput!]!`, True; for any other type, None.
    """
    if not isinstance(type_node, NonNullTypeNode):
        return None
    inner = type_node.type
    if isinstance(inner, NamedTypeNode):
        return False if inner.name.value == _INPUT else None
    if (
        isinstance(inner, ListTypeNode)
        and isinstance(inner.type, NonNullTypeNode)
        and isinstance(inner.type.type, NamedTypeNode)
        and inner.type.type.name.value == _INPUT
    ):
        return True
    return None


def _plan_root(
    selection: Any,
    variables: dict[str, bool],
    input_type: GraphQLInputObjectType,
    result_type: GraphQLObjectType,
) -> _Root | None:
    if (
        not isinstance(selection, FieldNode)
        or selection.directives
        or selection.name.value not in (_CREATE, _BATCH)
        or selection.selection_set is None
        or len(selection.arguments or ()) != 1
    ):
        return None
    batch = selection.name.value == _BATCH
    (argument,) = selection.arguments or ()
    if (
        argument.name.value != ("inputs" if batch else "input")
        or not isinstance(argument.value, VariableNode)
        or variables.get(argument.value.name.value) is not batch
    ):
        return None

    # Fields a created record always holds: the id, and every field its
    # input requires. Only these may be non-null in the selection, so a
    # missing value is never a null for a non-null field.
    always = {"id"} | {
        name
        for name, field in input_type.fields.items()
        if is_non_null_type(field.type)
    }
    outputs: list[_Output] = []
    for sub in selection.selection_set.selections:
        output = _plan_output(sub, result_type, always)
        if output is None:
            return None
        outputs.append(output)
    if len({output.key for output in outputs}) != len(outputs):
        return None
    key = selection.alias.value if selection.alias else selection.name.value
    return _Root(key, selection, argument.value.name.value, batch, tuple(outputs))


def _plan_output(
    selection: Any, result_type: GraphQLObjectType, always: set[str]
) -> _Output | None:
    if (
        not isinstance(selection, FieldNode)
        or selection.directives
        or selection.arguments
        or selection.selection_set is not None
    ):
        return None
    name = selection.name.value
    key = selection.alias.value if selection.alias else name
    if name == "__typename":
        return _Output(key, name, selection, None, True)
    field = result_type.fields.get(name)
    if field is None:
        return None
    non_null = is_non_null_type(field.type)
    scalar = field.type.of_type if non_null else field.type
    if not isinstance(scalar, GraphQLScalarType) or (non_null and name not in always):
        return None
    return _Output(key, name, selection, scalar, non_null)


def _coercer(type_: GraphQLInputType) -> Coerce | None:
    """
    graphql-core's `coerce_input_value` for one type, with the type's shape
    worked out once; None for a shape it does not cover.
    """
    if is_non_null_type(type_):
        inner = _coercer(type_.of_type)
        if inner is None:
            return None

        def coerce_non_null(value: Any) -> Any:
            if value is None or value is Undefined:
                return Undefined
            return inner(value)

        return coerce_non_null

    if is_list_type(type_):
        item = _coercer(type_.of_type)
        if item is None:
            return None

        def coerce_list(value: Any) -> Any:
            if value is None or value is Undefined:
                return None
            if not is_iterable(value):
                # Lists accept a non-list value as a list of one.
                single = item(value)
                return Undefined if single is Undefined else [single]
            items = []
            for entry in value:
                coerced = item(entry)
                if coerced is Undefined:
                    return Undefined
                items.append(coerced)
            return items

        return coerce_list

    if isinstance(type_, GraphQLInputObjectType):
        return _object_coercer(type_)
    if isinstance(type_, GraphQLScalarType):
        return _scalar_coercer(type_)
    return None


def _object_coercer(type_: GraphQLInputObjectType) -> Coerce | None:
    if type_.is_one_of:
        return None
    fields: list[tuple[str, str, bool, bool, Coerce]] = []
    for name, field in type_.fields.items():
        coerce = _coercer(field.type)
        # A default would need coercing as graphql-core does; none is used.
        if (
            coerce is None
            or field.default is not None
            or field.default_value is not Undefined
        ):
            return None
        scalar = field.type.of_type if is_non_null_type(field.type) else field.type
        fields.append(
            (
                name,
                field.out_name or name,
                is_required_input_field(field),
                _passes_strings(scalar),
                coerce,
            )
        )
    known = frozenset(type_.fields)
    out_type = type_.out_type

    def coerce_object(value: Any) -> Any:
        if value is None or value is Undefined:
            return None
        if not isinstance(value, dict):
            return Undefined
        if not known.issuperset(value):
            for name, field_value in value.items():
                if field_value is not Undefined and name not in known:
                    return Undefined
        coerced: dict[str, Any] = {}
        for name, out_name, required, passes_strings, coerce in fields:
            field_value = value.get(name, Undefined)
            if field_value is Undefined:
                if required:
                    return Undefined
                continue
            if passes_strings and type(field_value) is str:
                coerced[out_name] = field_value
                continue
            field_coerced = coerce(field_value)
            if field_coerced is Undefined:
                return Undefined
            coerced[out_name] = field_coerced
        return out_type(coerced)

    return coerce_object


def _passes_strings(type_: Any) -> bool:
    """Whether `type_` is String or ID, which return a string unchanged."""
    return isinstance(type_, GraphQLScalarType) and type_.coerce_input_value in (
        GraphQLString.coerce_input_value,
        GraphQLID.coerce_input_value,
    )


def _scalar_coercer(scalar: GraphQLScalarType) -> Coerce:
    coerce_input = scalar.coerce_input_value
    # Asking String or ID about a string costs a call and changes nothing.
    passes_strings = _passes_strings(scalar)

    def coerce_scalar(value: Any) -> Any:
        if value is None or value is Undefined:
            return None
        if passes_strings and type(value) is str:
            return value
        try:
            return coerce_input(value)
        except Exception:
            return Undefined

    return coerce_scalar
