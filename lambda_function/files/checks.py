"""The input rules (core/rules.py) as a statements file's columns are checked: types, customer
IDs, statement dates, categorical text; each refusal names the column and the row."""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lambda_function.core.latest import NO_DATE
from lambda_function.core.rules import (
    CODE_MAX_LENGTH,
    CUSTOMER_ID_RULE,
    ID_MAX_LENGTH,
    STATEMENT_DATE_PATTERN,
    STATEMENT_DATE_RULE,
)
from lambda_function.core.schema import CUSTOMER_ID, STATEMENT_DATE
from lambda_function.files.reading import InputError, checked_call, is_text, is_text_like, where_in_file


def valid(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch, if its text is UTF-8 and its dictionary codes are within their dictionaries.
    The Parquet reader checks neither, and a damaged file without page checksums can decode
    into IDs of invalid text, or codes that would fail later with an index error."""
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        checked_call(functools.partial(column.validate, full=True), f"the file is damaged in column {name}")
    return batch


def bytes_as_text(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Columns of text-like bytes, read as dictionaries, decoded to text; invalid UTF-8 is an InputError."""
    for index, column in enumerate(batch.columns):
        if pa.types.is_dictionary(column.type) and not is_text(column.type.value_type):
            if is_text_like(column.type.value_type):
                name = batch.schema.names[index]
                try:
                    text = pc.cast(column, pa.dictionary(column.type.index_type, pa.string()))
                except pa.ArrowInvalid as error:
                    raise InputError(f"column {name}: not UTF-8 text: {error}") from None
                batch = batch.set_column(index, name, text)
    return batch


def is_number(kind: pa.DataType) -> bool:
    return any(
        test(kind)
        for test in (
            pa.types.is_integer,
            pa.types.is_floating,
            pa.types.is_decimal,
            pa.types.is_null,  # booleans are not numbers (core/rules.py)
        )
    )


def check_types(batch: pa.RecordBatch, numeric: set[str]) -> None:
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        if name == CUSTOMER_ID:
            expected, ok = "text", is_text(kind)
        elif name == STATEMENT_DATE:
            expected, ok = "a date", is_text(kind) or pa.types.is_temporal(kind) or pa.types.is_null(kind)
        elif name in numeric:
            expected, ok = "a number", is_number(kind)
        else:  # a categorical: its codes may be numbers or text
            expected, ok = "a number or text", is_number(kind) or is_text(kind)
        if not ok:
            raise InputError(f"column {name} has type {column.type}, expected {expected}")


def statement_dates(column: pa.ChunkedArray | pa.Array, first_row: int, fmt: str) -> np.ndarray:
    """`S_2` as sortable int64 seconds. Text dates are parsed once per distinct value."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_null(column.type):
        return np.full(len(column), NO_DATE)
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    values = column.dictionary
    complete = column.indices.null_count == 0  # the usual file: every row has a date
    codes = column.indices.to_numpy() if complete else column.indices.fill_null(-1).to_numpy()
    if is_text(values.type):
        stripped = pc.utf8_trim_whitespace(values)  # a blank date is a missing one
        valid = pc.match_substring_regex(stripped, STATEMENT_DATE_PATTERN).to_numpy(zero_copy_only=False)
        bad = ~valid & (pc.utf8_length(stripped).to_numpy(zero_copy_only=False) > 0)
        if bad.any() and bad[codes[codes >= 0]].any():
            row = int(np.flatnonzero((codes >= 0) & bad[np.maximum(codes, 0)])[0])
            value = stripped[codes[row]].as_py()
            where = where_in_file(first_row + row, fmt)
            raise InputError(f"column {STATEMENT_DATE} {where}: {value!r} is not {STATEMENT_DATE_RULE}")
        values = pc.strptime(pc.utf8_slice_codeunits(stripped, 0, 10), format="%Y-%m-%d", unit="s", error_is_null=True)
    seconds = pc.cast(pc.cast(values, pa.timestamp("s")), pa.int64()).fill_null(NO_DATE).to_numpy()
    if complete and seconds.size:
        dates: np.ndarray = seconds[codes]
        return dates
    return np.where(codes >= 0, seconds[np.maximum(codes, 0)] if seconds.size else NO_DATE, NO_DATE)


def check_ids(ids: pa.Array, first_row: int, fmt: str) -> None:
    """The one rule for a customer_ID, as the HTTP API applies it (schema.CUSTOMER_ID_RULE)."""
    if pa.types.is_dictionary(ids.type):  # check each distinct ID once
        bad_values = bad_ids(ids.dictionary)
        if ids.indices.null_count == 0 and not bad_values.any():
            return
        codes = ids.indices.fill_null(-1).to_numpy()
        bad = (codes < 0) | (bad_values[np.maximum(codes, 0)] if bad_values.size else True)
    else:
        bad = bad_ids(ids)
    if bad.any():
        raise InputError(
            f"column {CUSTOMER_ID}: {int(bad.sum())} rows have an ID that is not {CUSTOMER_ID_RULE} "
            f"(first at {where_in_file(first_row + int(np.flatnonzero(bad)[0]), fmt)})"
        )


def check_code_lengths(batch: pa.RecordBatch, categorical: list[str], first_row: int, fmt: str) -> None:
    """A categorical's text is at most rules.CODE_MAX_LENGTH characters, as over HTTP."""
    for name in categorical:
        column = batch.column(name)
        values = column.dictionary if pa.types.is_dictionary(column.type) else column
        if not is_text(values.type):
            continue
        long = pc.greater(pc.utf8_length(values), CODE_MAX_LENGTH).fill_null(False).to_numpy(zero_copy_only=False)
        if pa.types.is_dictionary(column.type) and long.any():  # only the values rows refer to count
            long = long[column.indices.fill_null(0).to_numpy()] & column.indices.is_valid().to_numpy(
                zero_copy_only=False
            )
        if long.any():
            where = where_in_file(first_row + int(np.flatnonzero(long)[0]), fmt)
            raise InputError(f"column {name} {where}: text longer than {CODE_MAX_LENGTH} characters")


def bad_ids(ids: pa.Array) -> np.ndarray:
    """Null, blank or too long."""
    lengths = pc.utf8_length(ids).fill_null(0).to_numpy(zero_copy_only=False)
    # utf8_is_space: whitespace only, as Python's str.strip sees it (tested over every Unicode
    # character), without making the trimmed copy of every ID that utf8_trim_whitespace makes.
    blank = (lengths == 0) | pc.utf8_is_space(ids).fill_null(True).to_numpy(zero_copy_only=False)
    return np.asarray(blank | (lengths > ID_MAX_LENGTH))
