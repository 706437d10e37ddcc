"""Building blocks for talking to the local server in tests."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

FIELDS = (
    "id value explanation confidence metadata trace correct cost attachments "
    "type status itemId accountId scoringJobId evaluationId scorecardId "
    "scoreVersionId scoreId code updatedAt createdAt feedbackItemId"
)
CREATE = f"""
mutation Create(
  $input: CreateScoreResultInput!
  $condition: ModelScoreResultConditionInput
) {{
  createScoreResult(input: $input, condition: $condition) {{ {FIELDS} }}
}}
"""
UPDATE = f"""
mutation Update(
  $input: UpdateScoreResultInput!
  $condition: ModelScoreResultConditionInput
) {{
  updateScoreResult(input: $input, condition: $condition) {{ {FIELDS} }}
}}
"""
DELETE = f"""
mutation Delete(
  $input: DeleteScoreResultInput!
  $condition: ModelScoreResultConditionInput
) {{
  deleteScoreResult(input: $input, condition: $condition) {{ {FIELDS} }}
}}
"""
GET = f"query Get($id: ID!) {{ getScoreResult(id: $id) {{ {FIELDS} }} }}"
BATCH = """
mutation Batch($inputs: [CreateScoreResultInput!]!) {
  batchCreateScoreResults(inputs: $inputs) { id createdAt updatedAt }
}
"""

_counter = itertools.count()


def score_input(**fields: Any) -> dict[str, Any]:
    """A valid CreateScoreResultInput with a fresh id; `fields` override."""
    n = next(_counter)
    base: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "value": "Yes",
        "itemId": f"item-{n}",
        "accountId": "account-1",
        "scorecardId": "scorecard-1",
        "scoreId": "score-1",
        "type": "prediction",
        "status": "COMPLETED",
        "code": "200",
    }
    base.update(fields)
    return base


def aliased_creates(count: int) -> str:
    """A document with `count` aliased createScoreResult fields r0..rN."""
    params = ", ".join(f"$i{n}: CreateScoreResultInput!" for n in range(count))
    fields = " ".join(
        f"r{n}: createScoreResult(input: $i{n}) {{ id createdAt updatedAt }}"
        for n in range(count)
    )
    return f"mutation Batch({params}) {{ {fields} }}"


@dataclass
class GraphQL:
    """A small synchronous GraphQL client over httpx, bound to one server."""

    http: httpx.Client
    url: str

    def post(
        self, query: str, variables: dict[str, Any] | None = None
    ) -> httpx.Response:
        return self.http.post(self.url, json={"query": query, "variables": variables})

    def __call__(
        self, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Send and return the JSON body, which must come with HTTP 200."""
        response = self.post(query, variables)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def create(self, **fields: Any) -> dict[str, Any]:
        """Create a score result, asserting success; return the stored record."""
        body = self(CREATE, {"input": score_input(**fields)})
        assert "errors" not in body, body
        record: dict[str, Any] = body["data"]["createScoreResult"]
        return record
