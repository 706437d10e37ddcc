"""GraphQL documents for the real Plexus API, and how its answers are read.

Documents are written on one line with single spaces, so their JSON-encoded
length equals their own length plus the quotes; the batcher relies on that to
size request bodies without encoding them twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ._errors import GraphQLError

FIELD_NAMES: tuple[str, ...] = (
    "id",
    "value",
    "explanation",
    "confidence",
    "metadata",
    "trace",
    "correct",
    "cost",
    "attachments",
    "type",
    "status",
    "itemId",
    "accountId",
    "scorecardId",
    "scoringJobId",
    "evaluationId",
    "scoreVersionId",
    "scoreId",
    "code",
    "feedbackItemId",
    "createdAt",
    "updatedAt",
)
ALL_FIELDS = " ".join(FIELD_NAMES)
SERVER_FIELDS = "id createdAt updatedAt"
"""What a batched create selects: only what the server adds (responses are capped)."""

UPDATE_COMPANIONS: tuple[str, ...] = (
    "status",
    "type",
    "scoreId",
    "scorecardId",
    "itemId",
    "createdAt",
)
"""Fields an update must carry because of the real API's composite-key indexes."""

GET_QUERY = (
    f"query GetScoreResult($id: ID!) {{ getScoreResult(id: $id) {{ {ALL_FIELDS} }} }}"
)
CREATE_MUTATION = (
    "mutation CreateScoreResult($input: CreateScoreResultInput!) "
    f"{{ createScoreResult(input: $input) {{ {ALL_FIELDS} }} }}"
)
UPDATE_MUTATION = (
    "mutation UpdateScoreResult($input: UpdateScoreResultInput!) "
    f"{{ updateScoreResult(input: $input) {{ {ALL_FIELDS} }} }}"
)

# Index queries of the real API, by the field that is their partition key.
INDEX_QUERIES: dict[str, tuple[str, str]] = {
    "evaluationId": ("listScoreResultByEvaluationId", "String!"),
    "scoringJobId": ("listScoreResultByScoringJobId", "String!"),
    "scorecardId": ("listScoreResultByScorecardIdAndUpdatedAt", "String!"),
    "accountId": ("listScoreResultByAccountIdAndUpdatedAt", "String!"),
    "itemId": ("listScoreResultByItemId", "String!"),
    "scoreId": ("listScoreResultByScoreId", "String!"),
    "scoreVersionId": ("listScoreResultByScoreVersionId", "String!"),
}


def list_query(index_field: str | None) -> tuple[str, str]:
    """Return the list document and its top-level field for a partition key."""
    page = f"items {{ {ALL_FIELDS} }} nextToken"
    if index_field is None:
        return (
            "query ListScoreResults($filter: ModelScoreResultFilterInput, "
            "$limit: Int, $nextToken: String) { listScoreResults(filter: $filter, "
            f"limit: $limit, nextToken: $nextToken) {{ {page} }} }}",
            "listScoreResults",
        )
    name, type_ = INDEX_QUERIES[index_field]
    return (
        f"query List($key: {type_}, $filter: ModelScoreResultFilterInput, "
        f"$limit: Int, $nextToken: String) {{ {name}({index_field}: $key, "
        "filter: $filter, limit: $limit, nextToken: $nextToken) "
        f"{{ {page} }} }}",
        name,
    )


@lru_cache(maxsize=2048)
def batch_document(creates: int, updates: int, style: str) -> str:
    """Build one mutation document for `creates` creates then `updates` updates.

    Aliases are `c0..` and `u0..`, their variables `$c0..` and `$u0..`; in the
    `batch` style the creates travel as one `batchCreateScoreResults` field
    aliased `c`, with the list in `$c`.
    """
    params: list[str] = []
    fields: list[str] = []
    if creates and style == "batch":
        params.append("$c: [CreateScoreResultInput!]!")
        fields.append(f"c: batchCreateScoreResults(inputs: $c) {{ {SERVER_FIELDS} }}")
    else:
        for i in range(creates):
            params.append(f"$c{i}: CreateScoreResultInput!")
            fields.append(
                f"c{i}: createScoreResult(input: $c{i}) {{ {SERVER_FIELDS} }}"
            )
    for i in range(updates):
        params.append(f"$u{i}: UpdateScoreResultInput!")
        fields.append(f"u{i}: updateScoreResult(input: $u{i}) {{ {ALL_FIELDS} }}")
    return f"mutation Batch({', '.join(params)}) {{ {' '.join(fields)} }}"


@lru_cache(maxsize=64)
def get_many_document(count: int) -> str:
    """One query fetching `count` records by id, aliased `g0..`."""
    params = ", ".join(f"$g{i}: ID!" for i in range(count))
    fields = " ".join(
        f"g{i}: getScoreResult(id: $g{i}) {{ {ALL_FIELDS} }}" for i in range(count)
    )
    return f"query GetMany({params}) {{ {fields} }}"


def errors_by_alias(body: Mapping[str, Any]) -> dict[str, list[GraphQLError]]:
    """Group a response's error entries by the alias at the head of their path.

    Entries without a path are grouped under the empty string, and entry `i`
    of a `batchCreateScoreResults` field under `c{i}`, as in the aliased style.
    """
    grouped: dict[str, list[GraphQLError]] = {}
    for entry in body.get("errors") or ():
        path = entry.get("path") or []
        head = str(path[0]) if path else ""
        if head == "c" and len(path) > 1:
            # batchCreateScoreResults reports entry i as ["c", i].
            head = f"c{path[1]}"
        grouped.setdefault(head, []).append(GraphQLError.from_entry(entry))
    return grouped
