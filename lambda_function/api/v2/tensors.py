"""A request body to columns: the JSON header decoded and checked, tensors read from JSON data or
from the binary section after it (one input per column, `shape` `[n]` or `[n, 1]`)."""

from __future__ import annotations

import functools
import operator
import struct
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
import numpy as np

from lambda_function.api.limits import byte_count
from lambda_function.api.v2.protocol import DTYPES, HEADER_LENGTH, NUMERIC_TYPES, U32, Request, Tensor, V2Error, fail

# The request's structure checked by msgspec's typed decoder, in C: the one pass over a body of
# hundreds of tensors; what is left to Python is per tensor, not per field of it.
_DECODER = msgspec.json.Decoder(Request)

# The usual request, decoded and type-checked in one C pass: JSON data, one flat list of the
# datatype's JSON type per tensor. Anything else goes through _DECODER and the checks below,
# which say precisely what is wrong; both give the same columns (tested).
_JSON_ELEMENT: dict[str, Any] = {"BYTES": str, "BOOL": bool, **{t: int for t in NUMERIC_TYPES if "INT" in t}}


def _element(datatype: str) -> Any:
    return _JSON_ELEMENT.get(datatype, float) | None


def _plain_request() -> Any:
    """The usual request's type: JSON data, one flat list of the datatype's JSON type per tensor."""
    shape = list[Annotated[int, msgspec.Meta(ge=0)]]
    tensors = [
        msgspec.defstruct(
            f"_Plain{datatype}",
            [("name", str), ("shape", shape), ("data", list[_element(datatype)])],  # type: ignore[misc]
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


_PLAIN_DECODER = msgspec.json.Decoder(_plain_request())
_SHAPE = operator.attrgetter("shape")


def plain_columns(header: bytes) -> tuple[Any, dict[str, Any], int] | None:
    """The request, its columns and its row count, when it is the usual kind; else None."""
    request = _decoded_or_none(_PLAIN_DECODER, header)
    if request is None:
        return None
    inputs = request.inputs
    columns = {tensor.name: tensor.data for tensor in inputs}
    if len(columns) < len(inputs):
        return None  # a name twice
    rows = len(inputs[0].data)
    if set(map(len, columns.values())) != {rows}:
        return None  # ragged
    shapes, flat = list(map(_SHAPE, inputs)), [rows]
    if shapes.count(flat) != len(shapes) and shapes.count(flat) + shapes.count([rows, 1]) != len(shapes):
        return None
    for tensor in inputs:
        check_range(tensor.name, tensor.__struct_config__.tag, tensor.data)
    return request, columns, rows


def _limits(dtype: np.dtype[Any]) -> tuple[int | float, int | float]:
    if dtype.kind in "iu":
        return int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)  # ints: exact comparisons
    return -float(np.finfo(dtype).max), float(np.finfo(dtype).max)


# What each datatype can hold; FP64 holds every JSON number (JSON has no Infinity, no NaN).
_RANGES = {datatype: _limits(dtype) for datatype, dtype in DTYPES.items() if dtype.kind in "iuf" and datatype != "FP64"}


def check_range(name: str, datatype: str, data: list[Any]) -> None:
    """JSON numbers within their declared datatype: a UINT8 of -1, an INT8 of 300, an FP16 of 1e6
    are not values of that type, so they are refused rather than scored as the literal number.
    (Binary data cannot be out of its type's range.)"""
    limits = _RANGES.get(datatype)
    if limits is None or not data:
        return
    low, high = limits
    present = [value for value in data if value is not None] if None in data else data
    if present and (min(present) < low or max(present) > high):
        row, wrong = next((row, v) for row, v in enumerate(data) if v is not None and not low <= v <= high)
        raise fail(f"input {name!r} row {row}: {wrong!r} is outside {datatype}'s range ({low:g} to {high:g})")


def _decoded_or_none(decoder: msgspec.json.Decoder[Any], header: bytes) -> Any:
    try:
        return decoder.decode(header)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def split_body(body: bytes, headers: Mapping[str, str]) -> tuple[Request, memoryview]:
    """The JSON header, decoded and checked, and the binary section after it (empty without the
    extension): a view of the body, so that tensors are read where they arrived, not copied."""
    declared = headers.get(HEADER_LENGTH)
    view = memoryview(body)
    if declared is not None:
        length = byte_count(declared)
        if length is None or length > len(body):
            shown = repr(declared) if len(declared) <= 40 else f"({len(declared)} characters)"
            raise fail(f"Inference-Header-Content-Length {shown} is not a length within the body")
        header, binary = view[:length], view[length:]
    else:
        header, binary = view, view[:0]
    try:  # msgspec refuses NaN and Infinity, which JSON does not have
        return _DECODER.decode(header), binary
    except msgspec.ValidationError as error:
        raise fail(f"the request is malformed: {error}") from None
    except msgspec.DecodeError as error:
        raise fail(f"the request is not JSON: {error}") from None


def decoded_columns(body: bytes, headers: Mapping[str, str]) -> tuple[Any, dict[str, Any], int]:
    """Any request, binary data included, each tensor checked in turn: what is wrong is named."""
    request, binary = split_body(body, headers)
    columns: dict[str, Any] = {}
    rows = -1
    offset = 0
    for tensor in request.inputs:
        count, values, offset = _tensor(tensor, binary, offset)
        if rows not in (-1, count):
            raise fail(f"input {tensor.name!r} has {count} rows, input {next(iter(columns))!r} {rows}")
        if tensor.name in columns:
            raise fail(f"input {tensor.name!r} appears twice")
        rows = count
        columns[tensor.name] = values
    if offset != len(binary):
        raise fail(f"the binary data is {len(binary)} bytes, the inputs' binary_data_size add up to {offset}")
    return request, columns, rows


def _tensor(tensor: Tensor, binary: memoryview, offset: int) -> tuple[int, Any, int]:
    """One input's row count and values (numpy for binary numbers, else a list), and the binary offset after it."""
    shape = tensor.shape
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise fail(f"input {tensor.name!r}: one value per row: shape [n] or [n, 1], got {shape!r}")
    rows = shape[0]
    size = tensor.parameters.get("binary_data_size") if tensor.parameters else None
    if size is None:
        return rows, _from_json(tensor.name, tensor.datatype, rows, tensor.data), offset
    if type(size) is not int or size < 0 or offset + size > len(binary):
        raise fail(f"input {tensor.name!r}: binary_data_size {size!r} is past the end of the binary data")
    if tensor.data is not None:
        raise fail(f"input {tensor.name!r}: binary_data_size and data both given")
    return rows, _from_binary(tensor.name, tensor.datatype, rows, binary[offset : offset + size]), offset + size


def _from_binary(name: str, datatype: str, rows: int, view: memoryview) -> Any:
    if datatype != "BYTES":
        dtype = DTYPES[datatype]
        if len(view) != rows * dtype.itemsize:
            raise fail(f"input {name!r}: {len(view)} bytes of binary data for {rows} {datatype} values")
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
    append, unpack, at = values.append, U32.unpack_from, 0
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
            return fail(f"input {name!r}: the binary data ends inside element {count}")
        (length,) = U32.unpack_from(data, at)
        if at + 4 + length > len(data):
            return fail(f"input {name!r}: element {count} is longer than the binary data left")
        count, at = count + 1, at + 4 + length
    return fail(f"input {name!r}: {len(data) - at} bytes of binary data after its {rows} elements")


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
        raise fail(f"input {name!r}: no 'data' (nor binary_data_size)")
    if data and type(data[0]) is list:  # nested, row-major: [[v], [v], ...]
        if any(type(item) is not list or len(item) != 1 for item in data):
            raise fail(f"input {name!r}: ragged data: one value per row")
        data = [item[0] for item in data]
    if len(data) != rows:
        raise fail(f"input {name!r}: {len(data)} values for shape [{rows}]")
    allowed = _JSON_TYPES[
        "BYTES" if datatype == "BYTES" else "BOOL" if datatype == "BOOL" else "INT" if "INT" in datatype else "FP"
    ]
    if not allowed.issuperset(map(type, data)):
        wrong = next(v for v in data if type(v) not in allowed)
        raise fail(f"input {name!r}: {wrong!r} is not {datatype}")
    check_range(name, datatype, data)
    return data  # None, where JSON has no NaN, is a missing value


JSON_FLOATS: set[type] = {float, type(None)}
JSON_TEXT_OR_FLOATS: set[type] = {str, float, type(None)}
JSON_CODES: set[type] = {int, float, type(None)}
TEXT_TYPES: set[type] = {str, type(None)}
_JSON_TYPES: dict[str, set[type]] = {
    "BYTES": TEXT_TYPES,
    "BOOL": {bool, type(None)},
    "INT": {int, type(None)},
    "FP": {int, float, type(None)},
}
