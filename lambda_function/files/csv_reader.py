"""CSV and gzipped CSV statements, in pieces of CSV_CHUNK_BYTES at line ends, as record batches
of the needed columns (in CSV only an empty cell is missing: core/rules.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from lambda_function.core.rules import CSV_MISSING
from lambda_function.files.reading import (
    DECODING_ERRORS,
    InputError,
    Opener,
    checked_call,
    prefetched,
    require,
)

CSV_CHUNK_BYTES = 8 << 20


def csv_batches(open_file: Opener, fmt: str, needed: list[str], numeric: set[str]) -> Iterator[pa.RecordBatch]:
    header = csv_header(open_file, fmt)
    require(header, needed)
    # Fixed types: inference per block could disagree between blocks of one file.
    types = {name: pa.float64() if name in numeric else pa.string() for name in needed}
    options = pacsv.ConvertOptions(
        include_columns=needed, column_types=types, null_values=CSV_MISSING, strings_can_be_null=True
    )
    stream = checked_call(lambda: csv_stream(open_file, fmt))
    rows_before = 0
    try:
        for number, chunk in enumerate(prefetched(line_chunks(stream))):  # inflate the next while this one parses
            table = csv_table(chunk, header, options, first=number == 0, rows_before=rows_before)
            rows_before += table.num_rows
            yield from table.combine_chunks().to_batches()  # one batch: each costs a fixed time to reduce
    finally:
        stream.close()


def csv_table(
    chunk: bytes, header: list[str], options: pacsv.ConvertOptions, *, first: bool, rows_before: int
) -> pa.Table:
    reading = pacsv.ReadOptions(column_names=header, skip_rows=1 if first else 0)
    try:
        return pacsv.read_csv(pa.py_buffer(chunk), reading, None, options)
    except DECODING_ERRORS as error:
        failure = error
    # pyarrow's parallel parser does not say which row is wrong; its serial one does, counting
    # from the chunk's first line (the header, in the first chunk): read again to say where.
    reading.use_threads = False
    try:
        pacsv.read_csv(pa.py_buffer(chunk), reading, None, options)
    except DECODING_ERRORS as error:
        failure = error
    first_line = 1 if first else rows_before + 2  # in the file, with the header as line 1
    raise InputError(f"cannot read the file: {csv_error(str(failure), header, first_line)}")


def csv_error(message: str, header: list[str], first_line: int) -> str:
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


def line_chunks(stream: Any) -> Iterator[bytes]:
    """The stream in pieces of about CSV_CHUNK_BYTES that end at a line's end, parsed one at a time.

    Not pyarrow's streaming CSV reader: its reading thread runs up to 32 blocks ahead of the
    parser, so a long file held 32 blocks in memory, and memory grew with rows, not customers.
    Cutting at line ends assumes no line break inside a quoted value, as that reader does by default.
    """
    rest = b""
    while data := checked_call(lambda: stream.read(CSV_CHUNK_BYTES)):
        data = rest + data if rest else data
        cut = data.rfind(b"\n") + 1
        if cut:
            yield data[:cut]
        rest = data[cut:]
    if rest.strip():
        yield rest


def csv_stream(open_file: Opener, fmt: str) -> Any:
    stream = open_file()
    return pa.CompressedInputStream(stream, "gzip") if fmt == "csv.gz" else stream


def csv_header(open_file: Opener, fmt: str) -> list[str]:
    stream = csv_stream(open_file, fmt)
    try:
        first = checked_call(lambda: stream.read(1 << 16))
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
