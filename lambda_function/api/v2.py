"""The Open Inference Protocol (KServe V2) REST: inference requests in, responses out, no HTTP.

Requests follow the tabular convention of MLServer's pandas codec: one input per column
(`customer_ID` as BYTES, optional `S_2` as BYTES, the model's inputs as numbers, or BYTES for
categoricals), `shape` `[n]` or `[n, 1]`. Data comes as JSON or, with the binary tensor
extension, as raw little-endian bytes after the JSON header (`Inference-Header-Content-Length`;
BYTES elements each a 4-byte length, then the bytes). Spec:
https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_rest.md
and the binary extension:
https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_binary_data.md
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import operator
import re
import struct
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, cast

import msgspec
import numpy as np

from lambda_function.api.payload import KNOWN_FIELDS, date_of
from lambda_function.core.rules import (
    CODE_MAX_LENGTH,
    CUSTOMER_ID_RULE,
    ID_MAX_LENGTH,
    STATEMENT_DATE_PATTERN,
    is_blank,
)
from lambda_function.core.schema import CUSTOMER_ID, STATEMENT_DATE

HEADER_LENGTH = "inference-header-content-length"
NUMERIC_TYPES = {
    "BOOL": "<?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
_DTYPES = {datatype: np.dtype(code) for datatype, code in NUMERIC_TYPES.items()}
_U32 = struct.Struct("<I")
OUTPUTS = {"customer_ID": "BYTES", "probability": "FP64", "default": "BOOL", "reasons": "BYTES"}
_DATE = re.compile(STATEMENT_DATE_PATTERN)


class V2Error(Exception):
    """The protocol's error: a status and `{"error": message}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool
    top: int = 0  # reasons per customer, for `reasons`


@dataclass
class InferRequest:
    """A decoded request: its columns by input name, one row per statement."""

    id: str | None
    data: dict[str, Any]  # input name -> one value per row: numpy numbers, or a list
    rows: int
    outputs: Sequence[RequestedOutput]
    unknown_inputs: list[str] = field(default_factory=list)
    unknown_fields: dict[str, set[str]] = field(default_factory=dict)  # as ParsedBody's; named per request here

    def columns(self, names: Sequence[str]) -> dict[str, Any]:
        """ParsedBody's interface, so the one scoring path reads either."""
        data = self.data
        return {name: data[name] if name in data else [None] * self.rows for name in names}


def _fail(message: str) -> V2Error:
    return V2Error(400, message)


Datatype = Literal[
    "BYTES", "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"
]  # fmt: skip


class _Tensor(msgspec.Struct):
    name: str
    shape: list[Annotated[int, msgspec.Meta(ge=0)]]
    datatype: Datatype
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    data: list[Any] | None = None


class _Request(msgspec.Struct):
    inputs: Annotated[list[_Tensor], msgspec.Meta(min_length=1)]
    id: str | None = None
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    outputs: list[dict[str, Any]] | None = None


# The request's structure checked by msgspec's typed decoder, in C: the one pass over a body of
# hundreds of tensors; what is left to Python is per tensor, not per field of it.
_DECODER = msgspec.json.Decoder(_Request)

# The usual request, decoded and type-checked in one C pass: JSON data, one flat list of the
# datatype's JSON type per tensor. Anything else goes through _DECODER and the checks below,
# which say precisely what is wrong; both give the same columns (tested).
_JSON_ELEMENT: dict[str, Any] = {"BYTES": str, "BOOL": bool, **{t: int for t in NUMERIC_TYPES if "INT" in t}}


def _element(datatype: str) -> Any:
    return _JSON_ELEMENT.get(datatype, float) | None


def _plain_request(one_row: bool) -> Any:
    """The usual request's type; `one_row`: that of a single-statement request, whose shapes
    and lengths msgspec then checks too, which would otherwise take two passes over the inputs
    in Python: the one-customer request is where the protocol's per-input overhead weighs most."""
    rows = Annotated[int, msgspec.Meta(ge=0)]
    shape: Any = Annotated[list[Literal[1]], msgspec.Meta(min_length=1, max_length=2)] if one_row else list[rows]
    length = msgspec.Meta(min_length=1, max_length=1) if one_row else msgspec.Meta()
    tensors = [
        msgspec.defstruct(
            f"_Plain{datatype}",
            [("name", str), ("shape", shape), ("data", Annotated[list[_element(datatype)], length])],  # type: ignore[misc]
            tag_field="datatype",
            tag=datatype,
            gc=False,  # nothing in them refers back: the collector need not track hundreds per request
        )
        for datatype in ("BYTES", *NUMERIC_TYPES)
    ]
    return msgspec.defstruct(
        "_PlainRequest",
        [
            ("inputs", Annotated[list[functools.reduce(operator.or_, tensors)], msgspec.Meta(min_length=1)]),  # type: ignore[misc]
            ("id", str | None, None),
            ("parameters", dict[str, Any], msgspec.field(default_factory=dict)),
            ("outputs", list[dict[str, Any]] | None, None),
        ],
        gc=False,
    )


_PLAIN_DECODER = msgspec.json.Decoder(_plain_request(one_row=False))
_ONE_ROW_DECODER = msgspec.json.Decoder(_plain_request(one_row=True))
_SHAPE = operator.attrgetter("shape")


def _plain_columns(header: bytes) -> tuple[Any, dict[str, Any], int] | None:
    """The request, its columns and its row count, when it is the usual kind; else None."""
    one_row = True
    request = _decoded_or_none(_ONE_ROW_DECODER, header)
    if request is None:
        one_row, request = False, _decoded_or_none(_PLAIN_DECODER, header)
        if request is None:
            return None
    inputs = request.inputs
    columns = {tensor.name: tensor.data for tensor in inputs}
    if len(columns) < len(inputs):
        return None  # a name twice
    if one_row:  # shapes and lengths were checked by the decoder
        return request, columns, 1
    rows = len(inputs[0].data)
    if set(map(len, columns.values())) != {rows}:
        return None  # ragged
    shapes, flat = list(map(_SHAPE, inputs)), [rows]
    if shapes.count(flat) != len(shapes) and shapes.count(flat) + shapes.count([rows, 1]) != len(shapes):
        return None
    return request, columns, rows


def _decoded_or_none(decoder: msgspec.json.Decoder[Any], header: bytes) -> Any:
    try:
        return decoder.decode(header)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def split_body(body: bytes, headers: Mapping[str, str]) -> tuple[_Request, memoryview]:
    """The JSON header, decoded and checked, and the binary section after it (empty without the
    extension): a view of the body, so that tensors are read where they arrived, not copied."""
    declared = headers.get(HEADER_LENGTH)
    view = memoryview(body)
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()) or int(declared) > len(body):
            raise _fail(f"Inference-Header-Content-Length {declared!r} is not a length within the body")
        header, binary = view[: int(declared)], view[int(declared) :]
    else:
        header, binary = view, view[:0]
    try:  # msgspec refuses NaN and Infinity, which JSON does not have
        return _DECODER.decode(header), binary
    except msgspec.ValidationError as error:
        raise _fail(f"the request is malformed: {error}") from None
    except msgspec.DecodeError as error:
        raise _fail(f"the request is not JSON: {error}") from None


def parse_infer(
    body: bytes, headers: Mapping[str, str], model_inputs: Sequence[str], numeric: Container[str], max_batch: int
) -> InferRequest:
    plain = None if HEADER_LENGTH in headers else _plain_columns(body)
    request, columns, rows = plain if plain is not None else _decoded_columns(body, headers)
    if CUSTOMER_ID not in columns:
        raise _fail(f"input {CUSTOMER_ID!r} (BYTES) is required: one per row")
    columns[CUSTOMER_ID] = ids = _customer_ids(columns[CUSTOMER_ID])
    if len(ids) > max_batch and len(set(ids)) > max_batch:
        raise _fail(f"{len(set(ids))} customers is over MAX_BATCH={max_batch}")
    if STATEMENT_DATE in columns:
        columns[STATEMENT_DATE] = _dates(columns[STATEMENT_DATE])
    features = [name for name in model_inputs if name in columns]
    if not _as_json_sends_them(columns, features, numeric):
        for name in features:
            columns[name] = _feature(name, columns[name], name in numeric)
    else:
        for name in features:
            if name not in numeric:
                _codes(name, columns[name])
    unknown = [] if KNOWN_FIELDS.issuperset(columns) else sorted(columns.keys() - KNOWN_FIELDS)
    return InferRequest(request.id, columns, rows, _requested_outputs(request), unknown)


def _as_json_sends_them(columns: dict[str, Any], features: list[str], numeric: Container[str]) -> bool:
    """Whether the features are JSON's floats (finite: JSON has no Infinity) and nulls, and
    categoricals text or floats: what `_feature` would hand on unchanged, checked in two passes
    rather than one per input."""
    numbers = itertools.chain.from_iterable(columns[name] for name in features if name in numeric)
    codes = itertools.chain.from_iterable(columns[name] for name in features if name not in numeric)
    return set(map(type, numbers)) <= _JSON_FLOATS and set(map(type, codes)) <= _JSON_TEXT_OR_FLOATS


def _decoded_columns(body: bytes, headers: Mapping[str, str]) -> tuple[Any, dict[str, Any], int]:
    """Any request, binary data included, each tensor checked in turn: what is wrong is named."""
    request, binary = split_body(body, headers)
    columns: dict[str, Any] = {}
    rows = -1
    offset = 0
    for tensor in request.inputs:
        count, values, offset = _tensor(tensor, binary, offset)
        if rows not in (-1, count):
            raise _fail(f"input {tensor.name!r} has {count} rows, input {next(iter(columns))!r} {rows}")
        if tensor.name in columns:
            raise _fail(f"input {tensor.name!r} appears twice")
        rows = count
        columns[tensor.name] = values
    if offset != len(binary):
        raise _fail(f"the binary data is {len(binary)} bytes, the inputs' binary_data_size add up to {offset}")
    return request, columns, rows


def _tensor(tensor: _Tensor, binary: memoryview, offset: int) -> tuple[int, Any, int]:
    """One input's row count and values (numpy for binary numbers, else a list), and the binary offset after it."""
    shape = tensor.shape
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise _fail(f"input {tensor.name!r}: one value per row: shape [n] or [n, 1], got {shape!r}")
    rows = shape[0]
    size = tensor.parameters.get("binary_data_size") if tensor.parameters else None
    if size is None:
        return rows, _from_json(tensor.name, tensor.datatype, rows, tensor.data), offset
    if type(size) is not int or size < 0 or offset + size > len(binary):
        raise _fail(f"input {tensor.name!r}: binary_data_size {size!r} is past the end of the binary data")
    if tensor.data is not None:
        raise _fail(f"input {tensor.name!r}: binary_data_size and data both given")
    return rows, _from_binary(tensor.name, tensor.datatype, rows, binary[offset : offset + size]), offset + size


def _from_binary(name: str, datatype: str, rows: int, view: memoryview) -> Any:
    if datatype != "BYTES":
        dtype = _DTYPES[datatype]
        if len(view) != rows * dtype.itemsize:
            raise _fail(f"input {name!r}: {len(view)} bytes of binary data for {rows} {datatype} values")
        return np.frombuffer(view, dtype=dtype)
    data = view.tobytes()  # elements are sliced from it: bytes of their own
    for read in (_fixed_width, _variable_width):
        values = read(data, rows)
        if values is not None:
            return values
    raise _bytes_error(name, data, rows)


def _variable_width(data: bytes, rows: int) -> list[bytes] | None:
    """Length-prefixed elements of differing lengths, read without a check per element: a body
    they do not tile exactly is left to `_bytes_error` to describe."""
    values: list[bytes] = []
    append, unpack, at = values.append, _U32.unpack_from, 0
    try:
        for _ in range(rows):
            (length,) = unpack(data, at)
            append(data[at + 4 : at + 4 + length])
            at += 4 + length
    except struct.error:  # past the end
        return None
    return values if at == len(data) else None


def _bytes_error(name: str, data: bytes, rows: int) -> V2Error:
    """What is wrong with a BYTES tensor's binary data that does not hold `rows` elements."""
    count = at = 0
    for _ in range(rows):
        if at + 4 > len(data):
            return _fail(f"input {name!r}: the binary data ends inside element {count}")
        (length,) = _U32.unpack_from(data, at)
        if at + 4 + length > len(data):
            return _fail(f"input {name!r}: element {count} is longer than the binary data left")
        count, at = count + 1, at + 4 + length
    return _fail(f"input {name!r}: {len(data) - at} bytes of binary data after its {rows} elements")


def _fixed_width(data: bytes, rows: int) -> list[bytes] | None:
    """BYTES elements all of one length, as IDs and dates are: sliced at once, not one by one."""
    if rows == 0 or len(data) < 4 or len(data) % rows:
        return None
    width = len(data) // rows - 4
    table = np.frombuffer(data, dtype=np.uint8).reshape(rows, width + 4)
    if not (table[:, :4].copy().view("<u4") == width).all():
        return None
    if width and not table[:, -1].all():  # numpy's S type would drop an element's trailing NUL bytes
        return None
    elements: list[bytes] = (
        np.ascontiguousarray(table[:, 4:]).view(f"S{width}").ravel().tolist() if width else [b""] * rows
    )
    return elements


def _from_json(name: str, datatype: str, rows: int, data: list[Any] | None) -> list[Any]:
    if data is None:
        raise _fail(f"input {name!r}: no 'data' (nor binary_data_size)")
    if data and type(data[0]) is list:  # nested, row-major: [[v], [v], ...]
        if any(type(item) is not list or len(item) != 1 for item in data):
            raise _fail(f"input {name!r}: ragged data: one value per row")
        data = [item[0] for item in data]
    if len(data) != rows:
        raise _fail(f"input {name!r}: {len(data)} values for shape [{rows}]")
    allowed = _JSON_TYPES[
        "BYTES" if datatype == "BYTES" else "BOOL" if datatype == "BOOL" else "INT" if "INT" in datatype else "FP"
    ]
    if not allowed.issuperset(map(type, data)):
        wrong = next(v for v in data if type(v) not in allowed)
        raise _fail(f"input {name!r}: {wrong!r} is not {datatype}")
    return data  # None, where JSON has no NaN, is a missing value


_JSON_FLOATS: set[type] = {float, type(None)}
_JSON_TEXT_OR_FLOATS: set[type] = {str, float, type(None)}
_JSON_CODES: set[type] = {int, float, type(None)}
_TEXT_TYPES: set[type] = {str, type(None)}
_JSON_TYPES: dict[str, set[type]] = {
    "BYTES": _TEXT_TYPES,
    "BOOL": {bool, type(None)},
    "INT": {int, type(None)},
    "FP": {int, float, type(None)},
}


def _customer_ids(values: Any) -> list[str]:
    if isinstance(values, np.ndarray):
        raise _fail(f"input {CUSTOMER_ID!r} must be BYTES, {CUSTOMER_ID_RULE}")
    texts = _texts(CUSTOMER_ID, values)
    ids = cast(list[str], texts)  # checked here, all at once
    if None not in texts and all(map(str.strip, ids)) and max(map(len, ids), default=0) <= ID_MAX_LENGTH:
        return ids
    row = next(row for row, t in enumerate(texts) if t is None or len(t) > ID_MAX_LENGTH or is_blank(t))
    raise _fail(f"input {CUSTOMER_ID!r} row {row}: {values[row]!r} is not {CUSTOMER_ID_RULE}")


def _texts(name: str, values: list[Any]) -> list[str | None]:
    """BYTES elements as text: binary ones decoded from UTF-8 in one pass, JSON ones as they are."""
    if values and type(values[0]) is bytes:
        try:
            return list(map(bytes.decode, values))
        except (UnicodeDecodeError, TypeError):
            pass  # say which row
    elif set(map(type, values)) <= _TEXT_TYPES:
        return values
    return [_text(name, row, value) for row, value in enumerate(values)]


def _codes(name: str, codes: list[Any]) -> list[Any]:
    """A categorical's codes, text at most rules.CODE_MAX_LENGTH characters, as /v1 takes them."""
    for row, code in enumerate(codes):
        if type(code) is str and len(code) > CODE_MAX_LENGTH:
            raise _fail(f"input {name!r} row {row}: text longer than {CODE_MAX_LENGTH} characters")
    return codes


def _text(name: str, row: int, value: Any) -> str | None:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise _fail(f"input {name!r} row {row}: not UTF-8 text") from None
    return value if isinstance(value, str) or value is None else None


def _dates(values: Any) -> list[dt.date | None]:
    if isinstance(values, np.ndarray):
        raise _fail(f"input {STATEMENT_DATE!r} must be BYTES dates, YYYY-MM-DD")
    known: dict[Any, dt.date | None] = {}
    for value in dict.fromkeys(values):  # statement dates repeat: each distinct one is read once
        date = _statement_date(value)
        if isinstance(date, str):
            raise _fail(f"input {STATEMENT_DATE!r} row {values.index(value)}: {date}")
        known[value] = date
    return list(map(known.__getitem__, values))


@functools.lru_cache(maxsize=4096, typed=True)
def _statement_date(value: Any) -> dt.date | None | str:
    """A BYTES element as a statement date, None where missing, or what is wrong with it.
    Kept: the same few month-end dates come in request after request."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return "not UTF-8 text"
    if value is None or (isinstance(value, str) and is_blank(value)):
        return None
    if not isinstance(value, str) or not _DATE.match(value.strip()):
        return f"{value!r} is not a date YYYY-MM-DD"
    return date_of(value.strip())


def _feature(name: str, values: Any, numeric: bool) -> Any:
    """Numbers as float64 (NaN, which only binary data carries, is missing); categoricals as sent.
    Booleans are neither (core/rules.py)."""
    if (values.dtype == np.bool_) if isinstance(values, np.ndarray) else any(type(v) is bool for v in values):
        raise _fail(f"input {name!r}: a boolean is not {'a number' if numeric else 'a number or text'}: send FP64")
    if isinstance(values, np.ndarray):
        floats = values.astype(np.float64)
        if np.isinf(floats).any():
            raise _fail(f"input {name!r} row {int(np.flatnonzero(np.isinf(floats))[0])}: not a finite number")
        return floats  # a categorical's numeric codes too: the pipeline reads NaN as missing
    types = set(map(type, values))
    if str in types or bytes in types:  # JSON or binary BYTES
        if numeric:
            raise _fail(f"input {name!r} is numeric: send FP32 or FP64, not BYTES")
        return _codes(name, _texts(name, values))
    if types <= _JSON_FLOATS:  # finite (JSON has no Infinity): read by the pipeline as /v1/predict's are
        return values
    try:  # JSON numbers (None is NaN, a missing value), finite: JSON has no Infinity
        floats = np.array(values, dtype=np.float64)
    except OverflowError:
        raise _fail(f"input {name!r}: a number beyond FP64's range") from None
    if not numeric and types <= _JSON_CODES:
        return values  # a categorical's codes as /v1/predict hands them on, read the same way
    return floats


_DEFAULT_OUTPUTS = {  # by binary_data_output: what a request that names no outputs gets
    binary: tuple(RequestedOutput(name, binary) for name in ("customer_ID", "probability", "default"))
    for binary in (False, True)
}


def _requested_outputs(request: _Request) -> Sequence[RequestedOutput]:
    all_binary = bool(request.parameters.get("binary_data_output", False))
    asked = request.outputs
    if asked is None:
        return _DEFAULT_OUTPUTS[all_binary]
    if not isinstance(asked, list):
        raise _fail("'outputs' must be a list")
    found = []
    for output in asked:
        name = output.get("name") if isinstance(output, dict) else None
        if name not in OUTPUTS:
            raise _fail(f"output {name!r} is not one of {', '.join(OUTPUTS)}")
        parameters = output.get("parameters") or {}
        top = parameters.get("top", 5) if name == "reasons" else 0
        if type(top) is not int or not 0 <= top <= 20:
            raise _fail("output 'reasons': parameters.top must be an integer from 1 to 20")
        found.append(RequestedOutput(name, bool(parameters.get("binary_data", all_binary)), top))
    return found


def infer_response(
    request: InferRequest, predictions: list[dict[str, Any]], model_name: str, model_version: str
) -> tuple[bytes, dict[str, str]]:
    """The response body and its headers: JSON, or a JSON header then the binary outputs."""
    outputs, binary = [], []
    for output in request.outputs:
        tensor: dict[str, Any] = {"name": output.name, "datatype": OUTPUTS[output.name], "shape": [len(predictions)]}
        values = _output_values(output.name, predictions)
        if output.binary:
            data = _to_binary(OUTPUTS[output.name], values)
            tensor["parameters"] = {"binary_data_size": len(data)}
            binary.append(data)
        else:
            tensor["data"] = values
        outputs.append(tensor)
    warnings = [f"{p['customer_ID']}: {w}" for p in predictions for w in p["warnings"]]
    if request.unknown_inputs:
        warnings.insert(0, f"unknown inputs ignored: {', '.join(request.unknown_inputs)}")
    response: dict[str, Any] = {"model_name": model_name, "model_version": model_version, "outputs": outputs}
    if request.id is not None:
        response["id"] = request.id
    if warnings:
        response["parameters"] = {"warnings": warnings}
    header = msgspec.json.encode(response)  # probabilities are finite: checked when scored
    if not binary:
        return header, {"content-type": "application/json"}
    return header + b"".join(binary), {
        "content-type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(header)),
    }


def _output_values(name: str, predictions: list[dict[str, Any]]) -> list[Any]:
    if name == "reasons":  # BYTES: each customer's reasons as JSON text
        return [json.dumps(p.get("reasons", [])) for p in predictions]
    return [p[name] for p in predictions]


def _to_binary(datatype: str, values: list[Any]) -> bytes:
    if datatype != "BYTES":
        return np.asarray(values, dtype=NUMERIC_TYPES[datatype]).tobytes()
    elements = [value.encode("utf-8") for value in values]
    return b"".join(itertools.chain.from_iterable(zip(map(_U32.pack, map(len, elements)), elements, strict=True)))
