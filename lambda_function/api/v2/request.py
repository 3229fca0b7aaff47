"""A decoded request to the columns the scoring path reads, by the input rules (core/rules.py):
customer IDs, statement dates, the model's inputs; and the outputs asked for."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
from collections.abc import Container, Mapping, Sequence
from typing import Any, cast

import numpy as np

from lambda_function.api.payload import KNOWN_FIELDS, date_of
from lambda_function.api.v2.protocol import HEADER_LENGTH, OUTPUTS, InferRequest, Request, RequestedOutput, fail
from lambda_function.api.v2.tensors import (
    JSON_CODES,
    JSON_FLOATS,
    JSON_TEXT_OR_FLOATS,
    TEXT_TYPES,
    decoded_columns,
    plain_columns,
)
from lambda_function.core.rules import (
    CODE_MAX_LENGTH,
    CUSTOMER_ID_RULE,
    ID_MAX_LENGTH,
    STATEMENT_DATE_PATTERN,
    is_blank,
)
from lambda_function.core.schema import CUSTOMER_ID, STATEMENT_DATE

_DATE = re.compile(STATEMENT_DATE_PATTERN)


def parse_infer(
    body: bytes, headers: Mapping[str, str], model_inputs: Sequence[str], numeric: Container[str], max_batch: int
) -> InferRequest:
    plain = None if HEADER_LENGTH in headers else plain_columns(body)
    request, columns, rows = plain if plain is not None else decoded_columns(body, headers)
    if CUSTOMER_ID not in columns:
        raise fail(f"input {CUSTOMER_ID!r} (BYTES) is required: one per row")
    columns[CUSTOMER_ID] = ids = _customer_ids(columns[CUSTOMER_ID])
    if len(ids) > max_batch and len(set(ids)) > max_batch:
        raise fail(f"{len(set(ids))} customers is over MAX_BATCH={max_batch}")
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
    return set(map(type, numbers)) <= JSON_FLOATS and set(map(type, codes)) <= JSON_TEXT_OR_FLOATS


def _customer_ids(values: Any) -> list[str]:
    if isinstance(values, np.ndarray):
        raise fail(f"input {CUSTOMER_ID!r} must be BYTES, {CUSTOMER_ID_RULE}")
    texts = _texts(CUSTOMER_ID, values)
    ids = cast(list[str], texts)  # checked here, all at once
    if None not in texts and all(map(str.strip, ids)) and max(map(len, ids), default=0) <= ID_MAX_LENGTH:
        return ids
    row = next(row for row, t in enumerate(texts) if t is None or len(t) > ID_MAX_LENGTH or is_blank(t))
    raise fail(f"input {CUSTOMER_ID!r} row {row}: {values[row]!r} is not {CUSTOMER_ID_RULE}")


def _texts(name: str, values: list[Any]) -> list[str | None]:
    """BYTES elements as text: binary ones decoded from UTF-8 in one pass, JSON ones as they are."""
    if values and type(values[0]) is bytes:
        try:
            return list(map(bytes.decode, values))
        except (UnicodeDecodeError, TypeError):
            pass  # say which row
    elif set(map(type, values)) <= TEXT_TYPES:
        return values
    return [_text(name, row, value) for row, value in enumerate(values)]


def _codes(name: str, codes: list[Any]) -> list[Any]:
    """A categorical's codes, text at most rules.CODE_MAX_LENGTH characters, as /v1 takes them."""
    # Each distinct value once: a column of 1000 codes holds a handful of categories.
    if any(type(code) is str and len(code) > CODE_MAX_LENGTH for code in set(codes)):
        row = next(row for row, code in enumerate(codes) if type(code) is str and len(code) > CODE_MAX_LENGTH)
        raise fail(f"input {name!r} row {row}: text longer than {CODE_MAX_LENGTH} characters")
    return codes


def _text(name: str, row: int, value: Any) -> str | None:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise fail(f"input {name!r} row {row}: not UTF-8 text") from None
    return value if isinstance(value, str) or value is None else None


def _dates(values: Any) -> list[dt.date | None]:
    if isinstance(values, np.ndarray):
        raise fail(f"input {STATEMENT_DATE!r} must be BYTES dates, YYYY-MM-DD")
    known: dict[Any, dt.date | None] = {}
    for value in dict.fromkeys(values):  # statement dates repeat: each distinct one is read once
        date = _statement_date(value)
        if isinstance(date, str):
            raise fail(f"input {STATEMENT_DATE!r} row {values.index(value)}: {date}")
        known[value] = date
    return list(map(known.__getitem__, values))


REMEMBERED_DATE_LENGTH = 64  # a date with a time, an offset and blanks around it is shorter


def _statement_date(value: Any) -> dt.date | None | str:
    """A BYTES element as a statement date, None where missing, or what is wrong with it.
    Short ones are remembered (the same few month-end dates come in request after request);
    what could never be a date is not, so no client text stays in memory after its request."""
    if isinstance(value, bytes | str) and len(value) <= REMEMBERED_DATE_LENGTH:
        return _remembered_date(value)
    return _read_date(value)


@functools.lru_cache(maxsize=4096, typed=True)
def _remembered_date(value: Any) -> dt.date | None | str:
    return _read_date(value)


def _read_date(value: Any) -> dt.date | None | str:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return "not UTF-8 text"
    if value is None or (isinstance(value, str) and is_blank(value)):
        return None
    if not isinstance(value, str) or not _DATE.match(value.strip()):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        return f"{shown} is not a date YYYY-MM-DD"
    return date_of(value.strip())


def _feature(name: str, values: Any, numeric: bool) -> Any:
    """Numbers as float64 (NaN, which only binary data carries, is missing); categoricals as sent.
    Booleans are neither (core/rules.py)."""
    if (values.dtype == np.bool_) if isinstance(values, np.ndarray) else any(type(v) is bool for v in values):
        raise fail(f"input {name!r}: a boolean is not {'a number' if numeric else 'a number or text'}: send FP64")
    if isinstance(values, np.ndarray):
        floats = values.astype(np.float64)
        if np.isinf(floats).any():
            raise fail(f"input {name!r} row {int(np.flatnonzero(np.isinf(floats))[0])}: not a finite number")
        return floats  # a categorical's numeric codes too: the pipeline reads NaN as missing
    types = set(map(type, values))
    if str in types or bytes in types:  # JSON or binary BYTES
        if numeric:
            raise fail(f"input {name!r} is numeric: send FP32 or FP64, not BYTES")
        return _codes(name, _texts(name, values))
    if types <= JSON_FLOATS:  # finite (JSON has no Infinity): read by the pipeline as /v1/predict's are
        return values
    try:  # JSON numbers (None is NaN, a missing value), finite: JSON has no Infinity
        floats = np.array(values, dtype=np.float64)
    except OverflowError:
        raise fail(f"input {name!r}: a number beyond FP64's range") from None
    if not numeric and types <= JSON_CODES:
        return values  # a categorical's codes as /v1/predict hands them on, read the same way
    return floats


_DEFAULT_OUTPUTS = {  # by binary_data_output: what a request that names no outputs gets
    binary: tuple(RequestedOutput(name, binary) for name in ("customer_ID", "probability", "default"))
    for binary in (False, True)
}


MAX_REASONS = 20


def _requested_outputs(request: Request) -> Sequence[RequestedOutput]:
    """The outputs asked for, each at most once. Reasons are asked for as an output (its
    `parameters.top`) or, as clients without output parameters (tritonclient) can, by the
    request parameter `reasons`: N, which adds the output to whatever else is returned."""
    all_binary = _flag(request.parameters, "binary_data_output", "parameters")
    reasons = _reasons_top(request.parameters, "reasons", "parameters.reasons", 0)
    asked = request.outputs
    if asked is None:
        found = list(_DEFAULT_OUTPUTS[all_binary])
    elif not isinstance(asked, list):
        raise fail("'outputs' must be a list")
    else:
        found = [_requested_output(index, output, all_binary, reasons) for index, output in enumerate(asked)]
        names = [output.name for output in found]
        if len(set(names)) < len(names):
            twice = next(name for name in names if names.count(name) > 1)
            raise fail(f"output {twice!r} is asked for more than once: ask for each output once")
    if reasons and all(output.name != "reasons" for output in found):
        found.append(RequestedOutput("reasons", all_binary, reasons))
    return found


def _requested_output(index: int, output: Any, all_binary: bool, reasons: int) -> RequestedOutput:
    where = f"outputs[{index}]"
    if not isinstance(output, dict):
        raise fail(f"{where} must be an object with a 'name'")
    name = output.get("name")
    if type(name) is not str or name not in OUTPUTS:
        raise fail(f"{where}.name must be one of {', '.join(OUTPUTS)}, got {_shown(name)}")
    parameters = output.get("parameters", {})
    if not isinstance(parameters, dict):
        raise fail(f"{where}.parameters (output {name!r}) must be an object, got {_shown(parameters)}")
    top = _reasons_top(parameters, "top", f"output {name!r}: parameters.top", reasons or 5)  # checked on any
    top = top if name == "reasons" else 0
    return RequestedOutput(name, _flag(parameters, "binary_data", f"{where}.parameters", all_binary), top)


def _reasons_top(parameters: dict[str, Any], key: str, where: str, default: int) -> int:
    if key not in parameters:
        return default
    value = parameters[key]
    if type(value) is not int or not 1 <= value <= MAX_REASONS:
        raise fail(f"{where} must be an integer from 1 to {MAX_REASONS}, got {_shown(value)}")
    return value


def _flag(parameters: dict[str, Any], key: str, where: str, default: bool = False) -> bool:
    """A protocol flag: a JSON boolean, nothing else ("false" is text, not false)."""
    value = parameters.get(key, default)
    if type(value) is not bool:
        raise fail(f"{where}.{key} must be true or false (a JSON boolean), got {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    """A client's value in a message: its JSON type, and itself when short."""
    text = repr(value)
    return text if len(text) <= 40 else f"a {type(value).__name__} of {len(text)} characters"
