"""The server's SDL agrees with the real AppSync schema wherever they overlap."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from graphql import (
    DocumentNode,
    EnumTypeDefinitionNode,
    InputObjectTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    TypeDefinitionNode,
    parse,
    print_ast,
)

REFERENCE = Path(__file__).parent.parent / "data" / "plexus-api.graphql"
EXTRA_MUTATIONS = {"batchCreateScoreResults"}


def definitions(document: DocumentNode) -> dict[str, TypeDefinitionNode]:
    return {
        node.name.value: node
        for node in document.definitions
        if isinstance(node, TypeDefinitionNode)
    }


def members(node: TypeDefinitionNode) -> dict[str, str]:
    """Field (or enum value) name to its printed type, `name(args): Type`."""
    if isinstance(node, EnumTypeDefinitionNode):
        return {value.name.value: "" for value in node.values}
    assert isinstance(node, (ObjectTypeDefinitionNode, InputObjectTypeDefinitionNode))
    result = {}
    for field in node.fields:
        arguments = ", ".join(
            f"{arg.name.value}: {print_ast(arg.type)}"
            for arg in getattr(field, "arguments", None) or ()
        )
        result[field.name.value] = f"({arguments}): {print_ast(field.type)}"
    return result


def ours() -> dict[str, TypeDefinitionNode]:
    sdl = resources.files("plexus_async.server").joinpath("schema.graphql")
    return definitions(parse(sdl.read_text("utf-8")))


def reference() -> dict[str, TypeDefinitionNode]:
    return definitions(parse(REFERENCE.read_text("utf-8")))


def test_shared_types_have_identical_fields_arguments_and_types() -> None:
    theirs = reference()
    for name, node in ours().items():
        if name not in theirs:
            continue
        mine, real = members(node), members(theirs[name])
        if name == "Mutation":
            mine = {k: v for k, v in mine.items() if k not in EXTRA_MUTATIONS}

        assert mine == real, name


def test_every_query_and_mutation_of_the_reference_is_served() -> None:
    mine, theirs = ours(), reference()

    assert set(members(mine["Query"])) == set(members(theirs["Query"]))
    assert set(members(mine["Mutation"])) == {
        *members(theirs["Mutation"]),
        *EXTRA_MUTATIONS,
    }


def test_only_the_appsync_scalars_are_new_types() -> None:
    assert set(ours()) - set(reference()) == {"AWSJSON", "AWSDateTime"}


def test_batch_create_takes_a_list_of_create_inputs() -> None:
    mutation = members(ours()["Mutation"])

    assert mutation["batchCreateScoreResults"] == (
        "(inputs: [CreateScoreResultInput!]!): [ScoreResult]"
    )
