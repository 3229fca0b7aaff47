"""Reading statement files (Parquet, CSV, CSV.gz): each customer's latest statement.

Streams the input batch by batch and keeps only each customer's latest statement, so
memory grows with the number of customers, not with the file. `read_customers` is the
entry point; scoring.score_statements reads and scores, predictions.py writes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lambda_function.core.features import Categorical, Column
from lambda_function.core.latest import NO_DATE, latest_rows
from lambda_function.core.rules import (
    CODE_MAX_LENGTH,
    CSV_MISSING,
    CUSTOMER_ID_RULE,
    ID_MAX_LENGTH,
    STATEMENT_DATE_PATTERN,
    STATEMENT_DATE_RULE,
)
from lambda_function.core.schema import CUSTOMER_ID, STATEMENT_DATE
from lambda_function.files.row_ranges import RowGroupRange, owned_batches, row_group_batches

BATCH_ROWS = 131_072
CSV_CHUNK_BYTES = 8 << 20
_DATE = "__date"
T = TypeVar("T")


class InputError(ValueError):
    """The statements file itself is wrong; retrying will not help."""


def input_format(name: str) -> str | None:
    """`parquet`, `csv` or `csv.gz` from a file name or key; None for anything else."""
    lowered = name.lower()
    for suffix in ("parquet", "csv.gz", "csv"):
        if lowered.endswith("." + suffix):
            return suffix
    return None


@dataclass
class Customers:
    """The latest statement of every customer, in order of first appearance."""

    ids: pa.Array
    columns: dict[str, Column]
    rows_read: int

    def __len__(self) -> int:
        return len(self.ids)


# -- reading ----------------------------------------------------------------------------


Opener = Callable[[], Any]  # returns a fresh pyarrow file: random access for Parquet


def _batches(
    open_file: Opener, fmt: str, needed: list[str], numeric: set[str], part: RowGroupRange | None = None
) -> Iterator[pa.RecordBatch]:
    if fmt == "parquet":
        source = open_file()  # a failure to open is the storage's, and raises
        footer = _checked_call(lambda: pq.ParquetFile(source), "not a readable Parquet file")
        _require(footer.schema_arrow.names, needed)
        # Read text columns as dictionaries: far fewer strings to build, and codes for free.
        schema = footer.schema_arrow
        text = [name for name in needed if name not in numeric and _is_text_like(schema.field(name).type)]
        # Remote objects: coalesce column-chunk reads into fewer, larger requests. Local files:
        # read each chunk as it is needed, which keeps a 10 GB file's peak memory far lower.
        remote = not isinstance(source, pa.OSFile | pa.MemoryMappedFile)
        # Page checksums, where the writer stored them (parquet-mr and Spark do by default):
        # a damaged page is then an error, not numbers that decode into a wrong score.
        parquet = pq.ParquetFile(
            source, metadata=footer.metadata, read_dictionary=text, pre_buffer=remote, page_checksum_verification=True
        )
        if part is None:
            groups = range(parquet.num_row_groups)
            batches = _checked(lambda: row_group_batches(parquet, needed, groups, BATCH_ROWS))
        else:
            batches = _checked(lambda: owned_batches(parquet, needed, part, BATCH_ROWS))
        yield from map(_valid, batches)
        return
    if part is not None:
        raise ValueError("only a Parquet file is read by row groups")
    yield from _csv_batches(open_file, fmt, needed, numeric)


def _csv_batches(open_file: Opener, fmt: str, needed: list[str], numeric: set[str]) -> Iterator[pa.RecordBatch]:
    header = _csv_header(open_file, fmt)
    _require(header, needed)
    # Fixed types: inference per block could disagree between blocks of one file.
    types = {name: pa.float64() if name in numeric else pa.string() for name in needed}
    options = pacsv.ConvertOptions(
        include_columns=needed, column_types=types, null_values=CSV_MISSING, strings_can_be_null=True
    )
    stream = _checked_call(lambda: _csv_stream(open_file, fmt))
    rows_before = 0
    try:
        for number, chunk in enumerate(_prefetched(_line_chunks(stream))):  # inflate the next while this one parses
            table = _csv_table(chunk, header, options, first=number == 0, rows_before=rows_before)
            rows_before += table.num_rows
            yield from table.combine_chunks().to_batches()  # one batch: each costs a fixed time to reduce
    finally:
        stream.close()


def _csv_table(
    chunk: bytes, header: list[str], options: pacsv.ConvertOptions, *, first: bool, rows_before: int
) -> pa.Table:
    reading = pacsv.ReadOptions(column_names=header, skip_rows=1 if first else 0)
    try:
        return pacsv.read_csv(pa.py_buffer(chunk), reading, None, options)
    except _DECODING_ERRORS as error:
        failure = error
    # pyarrow's parallel parser does not say which row is wrong; its serial one does, counting
    # from the chunk's first line (the header, in the first chunk): read again to say where.
    reading.use_threads = False
    try:
        pacsv.read_csv(pa.py_buffer(chunk), reading, None, options)
    except _DECODING_ERRORS as error:
        failure = error
    first_line = 1 if first else rows_before + 2  # in the file, with the header as line 1
    raise InputError(f"cannot read the file: {_csv_error(str(failure), header, first_line)}")


def _csv_error(message: str, header: list[str], first_line: int) -> str:
    """pyarrow's CSV message with the column's name and the line in the file, not their numbers."""
    message = message.removeprefix("CSV parse error: ")
    message = re.sub(r"Row #(\d+): ", lambda m: f"line {first_line + int(m[1]) - 1}: ", message)
    message = re.sub(
        r"In CSV column #(\d+): ",
        lambda m: f"column {header[int(m[1])]}: " if int(m[1]) < len(header) else m[0],
        message,
    )
    message = re.sub(r"^(column [^:]+): (line \d+): ", r"\1 \2: ", message)  # as the S_2 errors say it
    parts = re.match(r"(line \d+: Expected \d+ columns, got \d+): (.*)$", message, re.DOTALL)
    if parts:  # the row itself can be thousands of characters
        row = parts[2] if len(parts[2]) <= 80 else parts[2][:80] + "..."
        message = f"{parts[1]}: {row!r}"
    return message


def _line_chunks(stream: Any) -> Iterator[bytes]:
    """The stream in pieces of about CSV_CHUNK_BYTES that end at a line's end, parsed one at a time.

    Not pyarrow's streaming CSV reader: its reading thread runs up to 32 blocks ahead of the
    parser, so a long file held 32 blocks in memory, and memory grew with rows, not customers.
    Cutting at line ends assumes no line break inside a quoted value, as that reader does by default.
    """
    rest = b""
    while data := _checked_call(lambda: stream.read(CSV_CHUNK_BYTES)):
        data = rest + data if rest else data
        cut = data.rfind(b"\n") + 1
        if cut:
            yield data[:cut]
        rest = data[cut:]
    if rest.strip():
        yield rest


def _csv_stream(open_file: Opener, fmt: str) -> Any:
    stream = open_file()
    return pa.CompressedInputStream(stream, "gzip") if fmt == "csv.gz" else stream


def _csv_header(open_file: Opener, fmt: str) -> list[str]:
    stream = _csv_stream(open_file, fmt)
    try:
        first = _checked_call(lambda: stream.read(1 << 16))
    finally:
        stream.close()
    first = first.removeprefix(b"\xef\xbb\xbf")  # the byte order mark of spreadsheet "CSV UTF-8" exports
    if first.startswith(b"\x1f\x8b"):
        raise InputError("the file is gzip-compressed: name it .csv.gz")
    if first.startswith(b"PAR1"):
        raise InputError("the file is Parquet, not CSV: name it .parquet")
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):  # the byte order marks of UTF-16, "Unicode text" exports
        raise InputError("the file is UTF-16 text: save it as UTF-8 CSV")
    line = first.split(b"\n", 1)[0].strip().decode("utf-8", errors="replace")
    if not line:
        raise InputError("the file is empty: no header row")
    names = [name.strip().strip('"') for name in line.split(",")]
    for separator, called in ((";", "semicolons"), ("\t", "tabs")):  # spreadsheet exports, tab-separated text
        if len(names) == 1 and separator in line:
            raise InputError(f"the header has no comma: columns must be separated by commas, not {called}")
    return names


# What pyarrow raises for bytes it cannot decode. S3 trouble is not among them: the file
# objects read through boto3, whose exceptions pyarrow passes through as they are.
_DECODING_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError, EOFError, OSError)


def _checked_call(call: Callable[[], Any], what: str = "cannot read the file") -> Any:
    try:
        return call()
    except _DECODING_ERRORS as error:
        raise InputError(f"{what}: {error}") from None


def _checked(make: Callable[[], Any]) -> Iterator[pa.RecordBatch]:
    iterator = iter(_checked_call(make))
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except _DECODING_ERRORS as error:
            raise InputError(f"cannot read the file: {error}") from None
        yield batch


def _valid(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch, if its text is UTF-8 and its dictionary codes are within their dictionaries.
    The Parquet reader checks neither, and a damaged file without page checksums can decode
    into IDs of invalid text, or codes that would fail later with an index error."""
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        _checked_call(functools.partial(column.validate, full=True), f"the file is damaged in column {name}")
    return batch


def _prefetched(items: Iterator[T]) -> Iterator[T]:
    """Make the next item while the caller works on this one: pyarrow decodes (and zlib
    inflates) without the GIL, so one core is not left idle while the other works."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        pending = pool.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, items, None)
            yield item


def _require(present: list[str], needed: list[str]) -> None:
    missing = [name for name in needed if name not in present]
    if missing:
        raise InputError(f"missing required columns: {', '.join(missing)}")
    twice = [name for name in needed if present.count(name) > 1]
    if twice:  # which one is meant cannot be known
        raise InputError(f"columns appear more than once: {', '.join(twice)}")


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _is_text_like(kind: pa.DataType) -> bool:
    """Text, or what some writers store it as: string views, or bytes without the UTF-8 annotation."""
    return _is_text(kind) or any(
        test(kind)
        for test in (pa.types.is_string_view, pa.types.is_binary, pa.types.is_large_binary, pa.types.is_binary_view)
    )


def _bytes_as_text(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Columns of text-like bytes, read as dictionaries, decoded to text; invalid UTF-8 is an InputError."""
    for index, column in enumerate(batch.columns):
        if pa.types.is_dictionary(column.type) and not _is_text(column.type.value_type):
            if _is_text_like(column.type.value_type):
                name = batch.schema.names[index]
                try:
                    text = pc.cast(column, pa.dictionary(column.type.index_type, pa.string()))
                except pa.ArrowInvalid as error:
                    raise InputError(f"column {name}: not UTF-8 text: {error}") from None
                batch = batch.set_column(index, name, text)
    return batch


def _is_number(kind: pa.DataType) -> bool:
    return any(
        test(kind)
        for test in (
            pa.types.is_integer,
            pa.types.is_floating,
            pa.types.is_decimal,
            pa.types.is_null,  # booleans are not numbers (core/rules.py)
        )
    )


def _check_types(batch: pa.RecordBatch, numeric: set[str]) -> None:
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        if name == CUSTOMER_ID:
            expected, ok = "text", _is_text(kind)
        elif name == STATEMENT_DATE:
            expected, ok = "a date", _is_text(kind) or pa.types.is_temporal(kind) or pa.types.is_null(kind)
        elif name in numeric:
            expected, ok = "a number", _is_number(kind)
        else:  # a categorical: its codes may be numbers or text
            expected, ok = "a number or text", _is_number(kind) or _is_text(kind)
        if not ok:
            raise InputError(f"column {name} has type {column.type}, expected {expected}")


def _statement_dates(column: pa.ChunkedArray | pa.Array, first_row: int, fmt: str) -> np.ndarray:
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
    if _is_text(values.type):
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


def _customer_codes(column: pa.ChunkedArray) -> np.ndarray:
    """Integer codes of the customer IDs, numbered in order of first appearance."""
    if pa.types.is_dictionary(column.type) and column.num_chunks > 1:
        column = column.unify_dictionaries()
    array = column.combine_chunks()
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array)
    codes: np.ndarray = array.indices.to_numpy()
    return codes


def _latest(table: pa.Table) -> pa.Table:
    """Keep each customer's latest statement (latest.py's rule), in order of first appearance."""
    return table.take(latest_rows(_customer_codes(table[CUSTOMER_ID]), table[_DATE].to_numpy()))


def _plain_ids(table: pa.Table) -> pa.Table:
    """Customer IDs as plain text: each batch reads them with its own dictionary, and merging
    batches would unify those dictionaries at every step, a large share of a file's time,
    where decoding to plain text is cheap."""
    ids = table[CUSTOMER_ID]
    if not pa.types.is_dictionary(ids.type):
        return table
    return table.set_column(table.schema.get_field_index(CUSTOMER_ID), CUSTOMER_ID, ids.cast(ids.type.value_type))


def where_in_file(row: int, fmt: str) -> str:
    """A statement row as a reader finds it: a CSV's line (the header is line 1), a Parquet row from 0."""
    return f"row {row}" if fmt == "parquet" else f"line {row + 2}"


def _check_ids(ids: pa.Array, first_row: int, fmt: str) -> None:
    """The one rule for a customer_ID, as the HTTP API applies it (schema.CUSTOMER_ID_RULE)."""
    if pa.types.is_dictionary(ids.type):  # check each distinct ID once
        bad_values = _bad_ids(ids.dictionary)
        if ids.indices.null_count == 0 and not bad_values.any():
            return
        codes = ids.indices.fill_null(-1).to_numpy()
        bad = (codes < 0) | (bad_values[np.maximum(codes, 0)] if bad_values.size else True)
    else:
        bad = _bad_ids(ids)
    if bad.any():
        raise InputError(
            f"column {CUSTOMER_ID}: {int(bad.sum())} rows have an ID that is not {CUSTOMER_ID_RULE} "
            f"(first at {where_in_file(first_row + int(np.flatnonzero(bad)[0]), fmt)})"
        )


def _check_code_lengths(batch: pa.RecordBatch, categorical: list[str], first_row: int, fmt: str) -> None:
    """A categorical's text is at most rules.CODE_MAX_LENGTH characters, as over HTTP."""
    for name in categorical:
        column = batch.column(name)
        values = column.dictionary if pa.types.is_dictionary(column.type) else column
        if not _is_text(values.type):
            continue
        long = pc.greater(pc.utf8_length(values), CODE_MAX_LENGTH).fill_null(False).to_numpy(zero_copy_only=False)
        if pa.types.is_dictionary(column.type) and long.any():  # only the values rows refer to count
            long = long[column.indices.fill_null(0).to_numpy()] & column.indices.is_valid().to_numpy(
                zero_copy_only=False
            )
        if long.any():
            where = where_in_file(first_row + int(np.flatnonzero(long)[0]), fmt)
            raise InputError(f"column {name} {where}: text longer than {CODE_MAX_LENGTH} characters")


def _bad_ids(ids: pa.Array) -> np.ndarray:
    """Null, blank or too long."""
    lengths = pc.utf8_length(ids).fill_null(0).to_numpy(zero_copy_only=False)
    # utf8_is_space: whitespace only, as Python's str.strip sees it (tested over every Unicode
    # character), without making the trimmed copy of every ID that utf8_trim_whitespace makes.
    blank = (lengths == 0) | pc.utf8_is_space(ids).fill_null(True).to_numpy(zero_copy_only=False)
    return np.asarray(blank | (lengths > ID_MAX_LENGTH))


class OutOfTime(Exception):
    def __init__(self, rows_read: int) -> None:
        super().__init__(f"stopped after reading {rows_read} rows")
        self.rows_read = rows_read


def read_customers(
    open_file: Opener,
    fmt: str,
    numeric: list[str],
    categorical: list[str],
    should_stop: Callable[[], bool] | None = None,
    part: RowGroupRange | None = None,
) -> Customers:
    """Read a statements file and return each customer's latest statement.

    `should_stop` is asked between batches; when it says so, `OutOfTime` is raised.
    `part`: only the customers a dataset shard owns in that range of row groups (row_ranges.py).
    """
    inputs = [*numeric, *categorical]
    needed = [CUSTOMER_ID, STATEMENT_DATE, *inputs]
    state: pa.Table | None = None
    pending: list[pa.Table] = []
    pending_rows = 0
    rows_read = 0
    numeric_names = set(numeric)
    for batch in _prefetched(_batches(open_file, fmt, needed, numeric_names, part)):
        if should_stop is not None and should_stop():
            raise OutOfTime(rows_read)
        batch = _bytes_as_text(batch)
        _check_types(batch, numeric_names)
        row = rows_read + (part.owned_start if part is not None else 0)  # the file's row, for messages
        _check_ids(batch.column(CUSTOMER_ID), row, fmt)
        _check_code_lengths(batch, categorical, row, fmt)
        columns = {name: batch.column(name) for name in needed}
        columns[_DATE] = pa.array(_statement_dates(batch.column(STATEMENT_DATE), row, fmt))
        del columns[STATEMENT_DATE]
        table = _plain_ids(_latest(pa.table(columns)))
        rows_read += batch.num_rows
        pending.append(table)
        pending_rows += table.num_rows
        if pending_rows >= max(BATCH_ROWS * 4, state.num_rows if state is not None else 0):
            state = _latest(pa.concat_tables([t for t in (state, *pending) if t is not None]))
            pending, pending_rows = [], 0
    tables = [t for t in (state, *pending) if t is not None]
    if part is not None and rows_read == 0:  # a range that only continues an earlier customer
        return _no_customers(numeric, categorical)
    if rows_read == 0 or not tables:
        raise InputError("the file has no statement rows")
    latest = _latest(pa.concat_tables(tables))
    ids = latest[CUSTOMER_ID].combine_chunks()
    return Customers(
        ids=ids.dictionary_decode() if pa.types.is_dictionary(ids.type) else ids,
        columns={name: _to_column(latest[name], name) for name in inputs},
        rows_read=rows_read,
    )


def _no_customers(numeric: list[str], categorical: list[str]) -> Customers:
    columns: dict[str, Column] = {name: np.empty(0) for name in numeric}
    columns.update({name: Categorical(np.empty(0, dtype=np.int32), []) for name in categorical})
    return Customers(ids=pa.array([], pa.string()), columns=columns, rows_read=0)


def _to_column(column: pa.ChunkedArray, name: str) -> Column:
    array = column.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if _is_text(array.type):
        encoded = pc.dictionary_encode(array)
        codes = encoded.indices.fill_null(-1).to_numpy().astype(np.int32)
        return Categorical(codes, encoded.dictionary.to_pylist())
    if pa.types.is_null(array.type):
        return np.full(len(array), np.nan)
    try:
        values: np.ndarray = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
        return values
    except pa.ArrowInvalid as error:
        raise InputError(f"column {name}: {error}") from None


def local_opener(path: str | Path) -> Opener:
    # Plain reads, not a memory map: mapped pages of a 10 GB file would count as our memory.
    return lambda: pa.OSFile(str(path), "rb")
