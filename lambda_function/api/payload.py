"""What a scoring request may carry, and why it is refused when it does not.

The customer schema (every field of the AmEx layout, type-checked), the request body's
decoding (gzip, JSON) and validation, and the errors that become 4xx answers. No FastAPI
here: `api.py` serves these, and the tests call them directly.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
import zlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Annotated, Any, Literal, Required

import msgspec
import pydantic_core
from pydantic import ConfigDict, Field, GetCoreSchemaHandler, GetPydanticSchema, TypeAdapter, ValidationError
from pydantic_core import SchemaValidator, core_schema
from typing_extensions import TypedDict

from lambda_function.api.limits import byte_count
from lambda_function.core.rules import (
    CODE_MAX_LENGTH,
    CUSTOMER_ID_RULE,
    ID_MAX_LENGTH,
    MAX_EXPLAIN,
    NOT_BLANK_PATTERN,
    STATEMENT_DATE_RULE,
    STATEMENT_DATE_TEXT_PATTERN,
)
from lambda_function.core.schema import CATEGORICAL, CUSTOMER_ID, FEATURES, STATEMENT_DATE

Number = Annotated[float | None, Field(strict=True, allow_inf_nan=False)]
Code = Annotated[
    Annotated[str, Field(strict=True, max_length=CODE_MAX_LENGTH)]
    | Annotated[int, Field(strict=True)]
    | Annotated[float, Field(strict=True, allow_inf_nan=False)]
    | None,
    Field(union_mode="left_to_right"),
]


def _statement_date_schema(_source: Any, _handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
    """Text matching rules.STATEMENT_DATE_TEXT_PATTERN, as files are read; its date is what counts.

    Not pydantic's own date parsing, which reads numbers and digit strings such as "20180331"
    as Unix times (1970-08-22), a silently wrong latest statement, and which admits what the
    published pattern does not say.
    """
    text = core_schema.custom_error_schema(
        core_schema.str_schema(strict=True, pattern=STATEMENT_DATE_TEXT_PATTERN),
        custom_error_type="date_format",
        custom_error_message=f"Input should be {STATEMENT_DATE_RULE}",
    )
    return core_schema.nullable_schema(core_schema.no_info_after_validator_function(date_of, text))


def date_of(text: str) -> dt.date | None:
    """The statement date of text that matches rules.STATEMENT_DATE_TEXT_PATTERN; None if blank."""
    stripped = text.strip()
    return dt.date.fromisoformat(stripped[:10]) if stripped else None  # the pattern admits only real dates


StatementDate = Annotated[dt.date | None, GetPydanticSchema(_statement_date_schema)]
_ID_MESSAGE = f"Input should be {CUSTOMER_ID_RULE}"


def _customer_id_schema(_source: Any, _handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
    """A blank ID is refused, as files refuse it: it names no customer."""
    text = core_schema.str_schema(strict=True, min_length=1, max_length=ID_MAX_LENGTH, pattern=NOT_BLANK_PATTERN)
    return core_schema.custom_error_schema(text, custom_error_type="customer_id", custom_error_message=_ID_MESSAGE)


CustomerId = Annotated[str, GetPydanticSchema(_customer_id_schema)]

# The model's inputs are type-checked (core/rules.py); the layout's other fields, which nothing reads,
# are taken as they come, and unknown fields are kept and reported back as warnings. A TypedDict
# rather than a model: validation then costs what the client sent, not 190 defaults per customer.
KNOWN_FIELDS = frozenset({CUSTOMER_ID, STATEMENT_DATE, *FEATURES})


def _statement_type(name: str, features: Iterable[str], extra: Literal["allow", "forbid"]) -> Any:
    """A customer's statement as a TypedDict: its ID, S_2 and the given features, each type-checked."""
    statement = TypedDict(  # type: ignore[misc]
        name,
        {
            CUSTOMER_ID: Required[CustomerId],
            STATEMENT_DATE: StatementDate,  # a time of day is ignored, as in files
            **{feature: Code if feature in CATEGORICAL else Number for feature in features},
        },
        total=False,
    )
    statement.__pydantic_config__ = ConfigDict(extra=extra)  # type: ignore[attr-defined]
    return statement


@dataclass(frozen=True)
class CustomerSchema:
    """The full schema of a customer for one model: one statement, and a list of them."""

    one: TypeAdapter[Any]
    many: SchemaValidator


@functools.lru_cache(maxsize=8)
def customer_schema(inputs: frozenset[str]) -> CustomerSchema:
    """The model's inputs type-checked, with S_2 and customer_ID; any other field taken as it comes."""
    one = TypeAdapter(_statement_type("Customer", [f for f in FEATURES if f in inputs], extra="allow"))
    return CustomerSchema(one, SchemaValidator(core_schema.list_schema(one.core_schema)))


_LARGEST = sys.float_info.max  # bounds that refuse the infinities msgspec would parse from 1e400
_Finite = Annotated[float, msgspec.Meta(ge=-_LARGEST, le=_LARGEST)]
_FAST_TYPES = {
    "number": _Finite | None,
    "code": Annotated[str, msgspec.Meta(max_length=CODE_MAX_LENGTH)] | int | _Finite | None,
}


class FastPath:
    """Decodes and type-checks, in one pass (msgspec), bodies whose customers carry only `features`.

    Several times faster than pydantic-core's parse and validation, on one customer as on
    a thousand. Never more lenient than the full schema: what it does not accept
    (another field, a date-time in `S_2`, NaN, a malformed body) gets None, and the full
    schema then decides, with its messages. Its answers equal the full schema's (tested).
    """

    def __init__(self, name: str, features: Iterable[str]) -> None:
        wanted = set(features)
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
            (
                CUSTOMER_ID,
                Annotated[str, msgspec.Meta(min_length=1, max_length=ID_MAX_LENGTH, pattern=NOT_BLANK_PATTERN)],
            ),
            (STATEMENT_DATE, dt.date | None, None),
        ]
        for feature in FEATURES:
            if feature in wanted:
                fields.append((feature, _FAST_TYPES["code" if feature in CATEGORICAL else "number"], None))
        statement = msgspec.defstruct(name, fields, kw_only=True, forbid_unknown_fields=True)
        batch = msgspec.defstruct(
            f"{name}Batch",
            [("customers", Annotated[list[statement], msgspec.Meta(min_length=1)])],  # type: ignore[valid-type]
            forbid_unknown_fields=True,
        )
        self.one = msgspec.json.Decoder(statement)
        self.batch = msgspec.json.Decoder(batch)

    def decode(self, body: bytes, *, single: bool) -> list[Any] | None:
        """The customers, as structs (a field not sent is None); None if this path does not accept the body.

        Structs, not dicts: converting a large batch of full statements to dicts takes about as
        long as decoding it, and only the model's inputs are read.
        """
        for decoder in [self.one] if single else [self.batch, self.one]:  # not a batch: one customer, perhaps
            try:
                decoded = decoder.decode(body)
            except msgspec.MsgspecError:
                continue
            return [decoded] if decoder is self.one else decoded.customers  # type: ignore[attr-defined]
        return None


FULL_STATEMENTS = FastPath("Statement", FEATURES)


def fast_paths(inputs: Iterable[str]) -> tuple[FastPath, ...]:
    """Model inputs only, the smaller schema, first: it stops at a customer's first other field."""
    return (FastPath("ModelInputs", inputs), FULL_STATEMENTS)


class RequestError(Exception):
    """A refused request: its HTTP status, a stable error code, a message, and per-field detail for 422."""

    def __init__(self, status: int, error: str, message: str, detail: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.detail = status, error, message, detail


def explain_count(raw: str | None) -> int:
    """The `explain` query parameter: how many reasons to give per customer."""
    if raw is None:
        return 0
    # ASCII digits only, a few of them: str.isdigit admits "²" and "③", which int() refuses, and
    # int() reads Arabic-Indic and fullwidth digits, and refuses more than 4,300 of them.
    if raw.isascii() and raw.isdigit() and len(raw) <= 4 and int(raw) <= MAX_EXPLAIN:
        return int(raw)
    message = f"must be an integer from 0 to {MAX_EXPLAIN}"
    detail = [{"field": "query.explain", "loc": ["query", "explain"], "msg": message, "type": "int_range"}]
    raise RequestError(422, "validation_error", f"query.explain: {message}", detail)


def field_name(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location)


_FIELDS = {*KNOWN_FIELDS, "customers"}


def _invalid(error: ValidationError, prefix: tuple[Any, ...] = ()) -> RequestError:
    """422 naming each field once; union branch tags (`constrained-str`) are left out of the name."""
    detail: dict[str, dict[str, Any]] = {}
    for item in error.errors(include_url=False, include_input=False):
        location = [*prefix]
        for part in item["loc"]:
            if not (isinstance(part, int) or part in _FIELDS):
                break
            location.append(part)
        field = field_name(tuple(location))
        if field in detail:  # several union branches failed: S_2's first (date) message says it best;
            if location and location[-1] in CATEGORICAL:  # a categorical's: say what it accepts
                detail[field]["msg"] = "Input should be a number, a string or null"
            continue
        detail[field] = {"field": field, "loc": location, "msg": item["msg"], "type": item["type"]}
    first = next(iter(detail.values()))
    return RequestError(422, "validation_error", f"{first['field']}: {first['msg']}", list(detail.values()))


def inflate(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body as sent before compression: `Content-Encoding: gzip` bodies are inflated, to at most `limit` bytes.

    A 1000-customer batch of full statements is 5 MB of JSON, near Lambda's 6 MB event limit;
    gzip brings it to about a third, so clients may compress.
    """
    codings = [part.strip().lower() for part in (content_encoding or "").split(",")]
    codings = [coding for coding in codings if coding not in ("", "identity")]
    if not codings:
        return body
    if codings not in (["gzip"], ["x-gzip"]):
        raise RequestError(
            415, "unsupported_content_encoding", f"Content-Encoding {content_encoding!r} is not supported: send gzip"
        )
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        text = inflater.decompress(body, limit + 1)
    except zlib.error as error:
        raise RequestError(400, "malformed_body", f"Content-Encoding is gzip but the body is not: {error}") from None
    if len(text) > limit:
        raise RequestError(413, "body_too_large", f"the body inflates to more than MAX_BODY_BYTES={limit}")
    if not inflater.eof or inflater.unused_data:
        raise RequestError(400, "malformed_body", "the gzip body is truncated or has data after its end")
    return text


async def read_body(
    headers: Mapping[str, str], chunks: AsyncIterator[bytes], limit: int, *, binary: bool = False
) -> bytes:
    """A request's JSON body as sent before compression, refused (415, 413) as early as possible.
    `binary`: any media type is taken (the V2 protocol's binary tensors follow a JSON header).

    Read chunk by chunk rather than with Starlette's `request.body()`, which copies even a body
    that came in one piece, as Lambda's always does, and reads all of a streamed body before it
    can be refused.
    """
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if not binary and content_type != "application/json" and not content_type.endswith("+json"):
        raise RequestError(415, "unsupported_media_type", f"send Content-Type: application/json, not {content_type!r}")
    declared = byte_count(headers.get("content-length", ""))
    if declared is not None and declared > limit:
        raise RequestError(413, "body_too_large", f"the body is over MAX_BODY_BYTES={limit}")
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise RequestError(413, "body_too_large", f"the body is over MAX_BODY_BYTES={limit}")
        if chunk:
            parts.append(chunk)
    body = b"".join(parts)  # one chunk: that very object, not a copy
    return inflate(body, headers.get("content-encoding"), limit)


@dataclass
class ParsedBody:
    records: list[Any]  # validated, in request order: the full schema's dicts, or a fast path's structs
    unknown_fields: dict[str, set[str]]  # customer_ID -> fields outside the AmEx layout, ignored

    def columns(self, names: Sequence[str]) -> dict[str, list[Any]]:
        """Each named field's value in every record, in request order; None where it was not sent."""
        records = self.records
        if not records or isinstance(records[0], dict):
            return {name: [record.get(name) for record in records] for name in names}
        # A fast path's structs, which hold every field they admit (None where not sent): one
        # pass that reads a tuple per struct, then a transposition, both at C speed, where a
        # pass per field would walk every struct once per input.
        admitted = type(records[0]).__struct_fields__
        read = [name for name in names if name in admitted]
        per_record = map(attrgetter(CUSTOMER_ID, *read), records)  # the ID too: a tuple even for one name
        _, *per_field = zip(*per_record, strict=True)
        found = dict(zip(read, map(list, per_field), strict=True))
        return {name: found.get(name) or [None] * len(records) for name in names}


def _unknown_fields(customers: list[dict[str, Any]]) -> dict[str, set[str]]:
    unknown: dict[str, set[str]] = {}
    for customer in customers:
        if not KNOWN_FIELDS.issuperset(customer):
            unknown.setdefault(customer[CUSTOMER_ID], set()).update(set(customer) - KNOWN_FIELDS)
    return unknown


def _check_batch_size(count: int, max_batch: int) -> None:
    if count > max_batch:
        raise RequestError(413, "batch_too_large", f"{count} customers is over MAX_BATCH={max_batch}")


def parse_customers(
    body: bytes, inputs: Iterable[str], *, single: bool, max_batch: int, fast: Sequence[FastPath] = ()
) -> ParsedBody:
    """The validated customers of a request body for a model of these `inputs`, or a RequestError
    saying precisely what is wrong.

    The `fast` paths are tried first. A body none of them accepts is parsed once by
    pydantic-core, then validated as Python objects by the full schema, which keeps unknown
    fields and says precisely what is wrong.
    """
    body = body.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark, which RFC 8259 lets parsers ignore
    for path in fast:
        customers = path.decode(body, single=single)
        if customers is not None:
            _check_batch_size(len(customers), max_batch)
            return ParsedBody(customers, {})  # a fast path admits no unknown field
    if not body.strip():
        raise RequestError(400, "malformed_json", 'the body is empty: send a customer or {"customers": [...]} as JSON')
    try:
        payload = pydantic_core.from_json(body)
    except ValueError as error:
        raise RequestError(400, "malformed_json", f"the body is not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise RequestError(
            422,
            "validation_error",
            "the body must be a JSON object"
            + (': send several customers as {"customers": [...]}' if isinstance(payload, list) and not single else ""),
            [{"field": "", "loc": [], "msg": "must be a JSON object", "type": "dict_type"}],
        )
    schema = customer_schema(frozenset(inputs))
    if single or "customers" not in payload:
        try:
            customers = [schema.one.validate_python(payload)]
        except ValidationError as error:
            raise _invalid(error) from None
        return ParsedBody(customers, _unknown_fields(customers))
    beside = sorted(name for name in payload if name != "customers")
    if beside:  # a customer's fields, perhaps, sent next to the batch rather than in it
        message = "not allowed beside customers: each customer's fields go inside its object in customers"
        detail = [{"field": name, "loc": [name], "msg": message, "type": "extra_forbidden"} for name in beside]
        raise RequestError(422, "validation_error", f"{beside[0]}: {message}", detail)
    items = payload["customers"]
    if not isinstance(items, list) or not items:
        raise RequestError(
            422,
            "validation_error",
            "customers: must be a non-empty list of customers",
            [{"field": "customers", "loc": ["customers"], "msg": "must be a non-empty list", "type": "list_type"}],
        )
    _check_batch_size(len(items), max_batch)
    try:
        customers = schema.many.validate_python(items)
    except ValidationError as error:
        raise _invalid(error, ("customers",)) from None
    return ParsedBody(customers, _unknown_fields(customers))
