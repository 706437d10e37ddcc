"""The `ScoreResult` model and its wire form (AWSJSON strings, String values)."""

from __future__ import annotations

import builtins
import json
import math
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from . import _graphql
from ._config import DEFAULT_CODE, DEFAULT_STATUS, DEFAULT_TYPE
from ._errors import ValidationError

if TYPE_CHECKING:
    from ._client import AsyncPlexusClient

JSON_FIELDS = ("metadata", "trace", "cost")
DATETIME_FIELDS = ("createdAt", "updatedAt")
# Snake-case spellings accepted as keywords, mapped to the model's camelCase.
SNAKE_TO_CAMEL = {
    re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): name
    for name in _graphql.FIELD_NAMES
    if name.lower() != name
}
_ModelT = TypeVar("_ModelT", bound=BaseModel)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def _key(default: Any = ...) -> Any:
    """A string that is part of a table index key: DynamoDB refuses it empty."""
    return Field(default, min_length=1)


def new_id() -> str:
    """A random (version 4) UUID as text, cheaper than `str(uuid.uuid4())`."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def normalize_keys(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Map snake_case keywords to camelCase; giving both spellings is an error."""
    if fields.keys().isdisjoint(SNAKE_TO_CAMEL):
        return dict(fields)
    out: dict[str, Any] = {}
    for key, value in fields.items():
        name = SNAKE_TO_CAMEL.get(key, key)
        if name in out:
            raise ValidationError(
                f"{name}: given twice (as {name!r} and its snake_case form); "
                "pass one of them",
                field=name,
            )
        out[name] = value
    return out


def encode_value(value: float | str) -> str:
    """The schema's String form of a value: floats as shortest round-trip text."""
    return value if isinstance(value, str) else repr(value)


def decode_value(text: str) -> float | str:
    """Read a stored value back: a float when the text is a finite number."""
    if _NUMBER.fullmatch(text):
        number = float(text)
        if math.isfinite(number):
            return number
    return text


def format_datetime(moment: datetime) -> str:
    """AWSDateTime text: UTC, milliseconds, `Z`."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_datetime(text: str) -> datetime:
    """Parse AWSDateTime text (ISO 8601 with a zone)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _json_default(obj: Any) -> Any:
    # The original SDK stringifies these; we do the same, in a documented way.
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, (Decimal, uuid.UUID)):
        return str(obj)
    raise TypeError(f"type {type(obj).__name__} is not JSON-serialisable")


# One encoder for every AWSJSON value: `json.dumps` with options builds a new
# one per call.
_ENCODER = json.JSONEncoder(
    default=_json_default, allow_nan=False, separators=(",", ":")
)


def encode_json(field: str, value: Any) -> str:
    """Encode an AWSJSON field, naming the field when the value cannot be."""
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        reason = str(exc)
        if "Circular reference" in reason:
            reason = "it contains a circular reference"
        elif "Out of range float" in reason:
            reason = "it contains NaN or infinity"
        raise ValueError(f"must be JSON-serialisable: {reason}") from None


def _canonical_value(value: Any) -> float | str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"must be a float, int or str, not {type(value).__name__}")
    if isinstance(value, str):
        return decode_value(value)
    if isinstance(value, int):
        try:
            value = float(value)
        except OverflowError:
            raise ValueError("is an int too large to send as a number") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number, not NaN or infinity")
    return float(value)


def _canonical_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            raise ValueError("must be an ISO 8601 date-time with a zone") from None
    raise ValueError(
        f"must be a datetime or an ISO 8601 string, not {type(value).__name__}"
    )


class _Fields(BaseModel):
    """Validation shared by a full result and a partial update."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=False)

    @pydantic.field_validator("value", mode="before", check_fields=False)
    @classmethod
    def _check_value(cls, value: Any) -> Any:
        return _canonical_value(value)

    @pydantic.field_validator(*DATETIME_FIELDS, mode="before", check_fields=False)
    @classmethod
    def _check_datetime(cls, value: Any) -> Any:
        return _canonical_datetime(value)

    @pydantic.field_validator(*JSON_FIELDS, mode="before", check_fields=False)
    @classmethod
    def _check_json(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        if value is None:
            return None
        text = encode_json(str(info.field_name), value)
        # `wire_of` passes a dict to keep the text in: encoded once, and a
        # snapshot that later changes to the caller's dict cannot reach.
        if isinstance(info.context, dict):
            info.context[info.field_name] = text
        return value


class ScoreResult(_Fields):
    """One score result, with the original SDK's camelCase attributes."""

    id: str = Field(default_factory=lambda: new_id(), min_length=1)
    """Client-generated UUID unless given; it makes retries idempotent."""
    value: float | str
    """The score: a float when its text is a number, else the string."""
    explanation: str | None = None
    """Why the score came out this way."""
    confidence: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    """How sure the scorer is, between 0 and 1."""
    metadata: Any = None
    """Any JSON value (AWSJSON); replaced as a whole by an update."""
    trace: Any = None
    """Any JSON value (AWSJSON): how the score was reached."""
    correct: bool | None = None
    """Set by an evaluation: whether the score matched the human label."""
    cost: Any = None
    """Any JSON value (AWSJSON): tokens, money, time spent."""
    attachments: builtins.list[str] | None = None
    """Storage keys of files attached to the result."""
    type: str | None = Field(DEFAULT_TYPE, min_length=1)
    """Kind of result; part of the `byTypeStatusUpdated` index."""
    status: str | None = Field(DEFAULT_STATUS, min_length=1)
    """Lifecycle status; part of the `byTypeStatusUpdated` index."""
    itemId: str = _key()
    """The scored item."""
    accountId: str = _key()
    """The account that owns the result."""
    scorecardId: str = _key()
    """The scorecard the score belongs to."""
    scoringJobId: str | None = _key(None)
    """The scoring job that produced the result, if any."""
    evaluationId: str | None = _key(None)
    """The evaluation the result belongs to, if any."""
    scoreVersionId: str | None = _key(None)
    """The score version used."""
    scoreId: str | None = _key(None)
    """The score; required when creating (the real API's index guard)."""
    code: str | None = DEFAULT_CODE
    """Result code, `"200"` for success as in the original SDK."""
    feedbackItemId: str | None = None
    """Feedback item the result answers, if any."""
    createdAt: datetime | None = None
    """Set by the server unless given."""
    updatedAt: datetime | None = None
    """Set by the server on every write unless given."""

    _client: AsyncPlexusClient | None = PrivateAttr(None)

    _FIELD_NAMES: ClassVar[tuple[str, ...]] = _graphql.FIELD_NAMES

    def __eq__(self, other: object) -> bool:
        # Equal results have equal fields; the client they are bound to is
        # not part of the value.
        if not isinstance(other, ScoreResult):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    # -- construction ---------------------------------------------------

    @classmethod
    def build(cls, fields: Mapping[str, Any]) -> ScoreResult:
        """Validate keyword fields (either spelling) into a new result to create."""
        return _validated(cls, normalize_keys(fields))

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], client: AsyncPlexusClient | None = None
    ) -> ScoreResult:
        """Build a result from an API record (AWSJSON strings, String value).

        Records come from the server as they are stored, so they are decoded
        without the submit-time checks.
        """
        values: dict[str, Any] = {}
        for name in cls._FIELD_NAMES:
            if name not in data:
                continue
            raw = data[name]
            if raw is not None:
                if name == "value":
                    raw = decode_value(str(raw))
                elif name in JSON_FIELDS and isinstance(raw, str):
                    raw = json.loads(raw)
                elif name in DATETIME_FIELDS and isinstance(raw, str):
                    raw = parse_datetime(raw)
            values[name] = raw
        result = cls.model_construct(**values)
        result._client = client
        return result

    @classmethod
    def wire_of(cls, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Validate keyword fields and return the `CreateScoreResultInput`
        they make, without keeping a model (the queue's hot path)."""
        texts: dict[str, str] = {}
        model = _validated(cls, normalize_keys(fields), context=texts)
        return encode_fields(model, model.model_fields_set | _DEFAULTED, texts)

    @staticmethod
    def fields() -> str:
        """The GraphQL selection of every field, as the original SDK offers."""
        return _graphql.ALL_FIELDS

    def to_input(self) -> dict[str, Any]:
        """The `CreateScoreResultInput` of this result, in wire form."""
        return encode_fields(self, self.model_fields_set | _DEFAULTED)

    # -- API operations -------------------------------------------------

    @classmethod
    async def create(cls, client: AsyncPlexusClient, **fields: Any) -> ScoreResult:
        """Create one result now, in its own request, and return it as stored."""
        return await client._create_one(cls.build(fields))

    @classmethod
    async def batch_create(
        cls,
        client: AsyncPlexusClient,
        items: Iterable[Mapping[str, Any] | ScoreResult],
    ) -> builtins.list[ScoreResult]:
        """Create many results in one request (split only if the API refuses it).

        Raises `PartialBatchError` listing both sides when some fail.
        """
        results = [
            item if isinstance(item, ScoreResult) else cls.build(item) for item in items
        ]
        return await client._batch_create(results)

    @classmethod
    async def get_by_id(cls, id: str, client: AsyncPlexusClient) -> ScoreResult:
        """Fetch one result; raises `ScoreResultNotFound` when there is none."""
        return await client._get(id)

    @classmethod
    async def list(
        cls,
        client: AsyncPlexusClient,
        *,
        limit: int | None = None,
        filter: Mapping[str, Any] | None = None,
        **keys: str,
    ) -> AsyncIterator[ScoreResult]:
        """Iterate over stored results, page by page until `nextToken` is null.

        Give one of `evaluationId`, `scoringJobId`, `scorecardId`, `accountId`,
        `itemId`, `scoreId` or `scoreVersionId` (snake_case too) to query its
        index; further keys become an `eq` filter. `limit` is the page size.
        """
        async for result in client._list(normalize_keys(keys), limit, filter):
            yield result

    async def update(self, **fields: Any) -> ScoreResult:
        """Update this result through the batching queue and return it as stored.

        `metadata` replaces the stored value as a whole; see
        `merge_metadata()` for a read-modify-write.
        """
        client = self._require_client()
        pending = await client.score_results.submit_update(
            self.id, **self.companions(), **fields
        )
        return await pending

    async def merge_metadata(self, **entries: Any) -> ScoreResult:
        """Read-modify-write: fetch the stored metadata, merge `entries`, update.

        Not atomic: a writer between the read and the write is overwritten.
        """
        client = self._require_client()
        current = await client._get(self.id)
        merged = dict(current.metadata or {})
        merged.update(entries)
        return await current.update(metadata=merged)

    def companions(self) -> dict[str, Any]:
        """The fields an update must repeat for the real API's indexes."""
        return {
            name: getattr(self, name)
            for name in _graphql.UPDATE_COMPANIONS
            if getattr(self, name) is not None
        }

    def _require_client(self) -> AsyncPlexusClient:
        if self._client is None:
            raise RuntimeError(
                "this ScoreResult is not bound to a client; build it with "
                "ScoreResult.from_dict(data, client) or fetch it through one"
            )
        return self._client


class ScoreResultUpdate(_Fields):
    """The fields of an update: all optional; only those given are sent."""

    value: float | str | None = None
    explanation: str | None = None
    confidence: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    metadata: Any = None
    trace: Any = None
    correct: bool | None = None
    cost: Any = None
    attachments: builtins.list[str] | None = None
    type: str | None = _key(None)
    status: str | None = _key(None)
    itemId: str | None = _key(None)
    accountId: str | None = _key(None)
    scorecardId: str | None = _key(None)
    scoringJobId: str | None = _key(None)
    evaluationId: str | None = _key(None)
    scoreVersionId: str | None = _key(None)
    scoreId: str | None = _key(None)
    code: str | None = None
    feedbackItemId: str | None = None
    createdAt: datetime | None = None
    updatedAt: datetime | None = None

    @classmethod
    def build(cls, fields: Mapping[str, Any]) -> ScoreResultUpdate:
        """Validate keyword fields (either spelling) of an update."""
        fields = normalize_keys(fields)
        if "id" in fields:
            raise ValidationError("id: pass the id positionally, not as a field")
        for name in _REQUIRED:
            if name in fields and fields[name] is None:
                raise ValidationError(
                    f"{name}: a score result always has one; it cannot be cleared",
                    field=name,
                )
        return _validated(cls, fields)

    def to_input(self) -> dict[str, Any]:
        """The given fields in wire form (without the id)."""
        return encode_fields(self, self.model_fields_set)


_REQUIRED = ("value", "itemId", "accountId", "scorecardId")
_DEFAULTED = frozenset({"id", "type", "status", "code"})


def encode_fields(
    model: BaseModel, names: Iterable[str], texts: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Wire form of the named fields of a validated model.

    `texts` holds AWSJSON fields already encoded during validation.
    """
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(model, name)
        if value is not None:
            if name == "value":
                value = encode_value(value)
            elif name in JSON_FIELDS:
                value = (texts or {}).get(name) or encode_json(name, value)
            elif name in DATETIME_FIELDS:
                value = format_datetime(value)
        out[name] = value
    return out


def _validated(
    cls: type[_ModelT], fields: dict[str, Any], context: Any = None
) -> _ModelT:
    try:
        return cls.model_validate(fields, context=context)
    except pydantic.ValidationError as exc:
        raise wrap_validation_error(exc) from exc


def wrap_validation_error(exc: pydantic.ValidationError) -> ValidationError:
    """Our `ValidationError`, naming each field and the reason."""
    problems: list[str] = []
    first_field: str | None = None
    for error in exc.errors(include_url=False):
        # A union reports `value.float`; the field is the first part.
        field = str(error["loc"][0]) if error["loc"] else "result"
        first_field = first_field or field
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "missing":
            message = "required field is missing"
        problems.append(f"{field}: {message}")
    return ValidationError(
        "invalid score result: " + "; ".join(problems), field=first_field
    )
