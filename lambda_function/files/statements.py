"""Reading statement files (Parquet, CSV, CSV.gz): each customer's latest statement.

Streams the input batch by batch and keeps only each customer's latest statement, so
memory grows with the number of customers, not with the file. `read_customers` is the
entry point; scoring.score_statements reads and scores, predictions.py writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lambda_function.core.features import Categorical, Column
from lambda_function.core.latest import latest_rows
from lambda_function.core.schema import CUSTOMER_ID, STATEMENT_DATE
from lambda_function.files.checks import (
    bytes_as_text,
    check_code_lengths,
    check_ids,
    check_types,
    statement_dates,
    valid,
)
from lambda_function.files.csv_reader import csv_batches
from lambda_function.files.reading import (
    InputError,
    Opener,
    checked,
    checked_call,
    input_format,
    is_text,
    is_text_like,
    local_opener,
    prefetched,
    require,
    where_in_file,
)
from lambda_function.files.row_ranges import RowGroupRange, owned_batches, row_group_batches

__all__ = [  # what the other packages read here, wherever it is written
    "Customers",
    "InputError",
    "Opener",
    "OutOfTime",
    "input_format",
    "local_opener",
    "read_customers",
    "where_in_file",
]

BATCH_ROWS = 131_072
_DATE = "__date"


@dataclass
class Customers:
    """The latest statement of every customer, in order of first appearance."""

    ids: pa.Array
    columns: dict[str, Column]
    rows_read: int
    dates: np.ndarray  # the scored statement's S_2 as int64 seconds, latest.NO_DATE where missing

    def __len__(self) -> int:
        return len(self.ids)


def _batches(
    open_file: Opener, fmt: str, needed: list[str], numeric: set[str], part: RowGroupRange | None = None
) -> Iterator[pa.RecordBatch]:
    if fmt == "parquet":
        source = open_file()  # a failure to open is the storage's, and raises
        footer = checked_call(lambda: pq.ParquetFile(source), "not a readable Parquet file")
        require(footer.schema_arrow.names, needed)
        # Read text columns as dictionaries: far fewer strings to build, and codes for free.
        schema = footer.schema_arrow
        text = [name for name in needed if name not in numeric and is_text_like(schema.field(name).type)]
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
            batches = checked(lambda: row_group_batches(parquet, needed, groups, BATCH_ROWS))
        else:
            batches = checked(lambda: owned_batches(parquet, needed, part, BATCH_ROWS))
        yield from map(valid, batches)
        return
    if part is not None:
        raise ValueError("only a Parquet file is read by row groups")
    yield from csv_batches(open_file, fmt, needed, numeric)


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
    for batch in prefetched(_batches(open_file, fmt, needed, numeric_names, part)):
        if should_stop is not None and should_stop():
            raise OutOfTime(rows_read)
        batch = bytes_as_text(batch)
        check_types(batch, numeric_names)
        row = rows_read + (part.owned_start if part is not None else 0)  # the file's row, for messages
        check_ids(batch.column(CUSTOMER_ID), row, fmt)
        check_code_lengths(batch, categorical, row, fmt)
        columns = {name: batch.column(name) for name in needed}
        columns[_DATE] = pa.array(statement_dates(batch.column(STATEMENT_DATE), row, fmt))
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
        dates=latest[_DATE].to_numpy(),
    )


def _no_customers(numeric: list[str], categorical: list[str]) -> Customers:
    columns: dict[str, Column] = {name: np.empty(0) for name in numeric}
    columns.update({name: Categorical(np.empty(0, dtype=np.int32), []) for name in categorical})
    return Customers(ids=pa.array([], pa.string()), columns=columns, rows_read=0, dates=np.empty(0, np.int64))


def _to_column(column: pa.ChunkedArray, name: str) -> Column:
    array = column.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if is_text(array.type):
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
