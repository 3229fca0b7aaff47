"""Reading a range of a Parquet file's row groups for one shard of a dataset job.

A customer whose statements cross the range's edge belongs to the shard where its first
row is, as a record that crosses an input split belongs to the split where it starts in
Hadoop: a shard skips the rows at its start that continue the previous range's last
customer, and reads past its end until its own last customer's rows stop. Every row is
then read by exactly one shard, provided each customer's rows are together in the file;
`runs` lets the caller check that they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lambda_function.core.schema import CUSTOMER_ID

READ_AHEAD_ROWS = 4_096  # a customer has at most a few dozen statements


@dataclass
class RowGroupRange:
    first: int  # the range's first row group
    stop: int  # one past its last
    # What reading found, in file rows:
    owned_start: int = 0  # the first row this shard owns
    owned_rows: int = 0
    head_rows: int = 0  # rows at the start that continue the previous range's last customer
    read_ahead_rows: int = 0  # rows past the end that continue this range's last customer
    runs: int = 0  # runs of one customer_ID among the owned rows: the customers, if grouped

    def owned(self) -> tuple[int, int]:
        return self.owned_start, self.owned_start + self.owned_rows


WHOLE_ROW_GROUP_ROWS = 524_288  # larger row groups are read in batches, to bound memory


def row_group_batches(
    parquet: pq.ParquetFile, columns: list[str], groups: Iterable[int], batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """The rows of these row groups, a whole group at a time where groups are of a usual size:
    pyarrow decodes a whole group's columns in parallel, where its batch iterator decodes them
    a batch at a time (docs/benchmarks.md says what that buys)."""
    for group in groups:
        if parquet.metadata.row_group(group).num_rows <= WHOLE_ROW_GROUP_ROWS:
            yield from parquet.read_row_group(group, columns=columns).combine_chunks().to_batches()
        else:
            yield from parquet.iter_batches(batch_size=batch_rows, columns=columns, row_groups=[group])


def owned_batches(
    parquet: pq.ParquetFile, columns: list[str], part: RowGroupRange, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """The owned rows of `part`, batch by batch; fills in `part` as it goes."""
    starts = np.cumsum([0] + [parquet.metadata.row_group(g).num_rows for g in range(parquet.num_row_groups)])
    part.owned_start = int(starts[part.first])
    boundary = _last_id_before(parquet, part.first)
    last: str | None = None
    groups = range(part.first, part.stop)
    for batch in row_group_batches(parquet, columns, groups, batch_rows):
        if boundary is not None:  # still in the previous range's last customer
            skip = _run_length(_ids(batch), boundary)
            part.head_rows += skip
            part.owned_start += skip
            if skip == batch.num_rows:
                continue
            batch, boundary = batch.slice(skip), None
        last = _count_runs(part, _ids(batch), last)
        part.owned_rows += batch.num_rows
        yield batch
    if last is None:  # the whole range continues an earlier customer: nothing of its own
        return
    # Past the end, in small batches: pages are decoded as batches are asked for, so only the
    # start of the next row group is decoded, not all of it.
    ahead = parquet.iter_batches(
        batch_size=READ_AHEAD_ROWS, row_groups=range(part.stop, parquet.num_row_groups), columns=columns
    )
    for batch in ahead:
        take = _run_length(_ids(batch), last)
        if take:
            part.read_ahead_rows += take
            part.owned_rows += take
            yield batch.slice(0, take)
        if take < batch.num_rows:
            return


def _ids(batch: pa.RecordBatch | pa.Table) -> pa.Array:
    column = batch.column(CUSTOMER_ID)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column.dictionary_decode() if pa.types.is_dictionary(column.type) else column


def _last_id_before(parquet: pq.ParquetFile, group: int) -> str | None:
    """The customer of the last row before row group `group`: in the last non-empty group
    before it (writers leave empty row groups; one just before a boundary has no last row)."""
    for earlier in range(group - 1, -1, -1):
        if parquet.metadata.row_group(earlier).num_rows:
            ids = _ids(parquet.read_row_group(earlier, columns=[CUSTOMER_ID]))
            return ids[len(ids) - 1].as_py() if len(ids) else None
    return None


def _run_length(ids: pa.Array, value: str | None) -> int:
    """How many rows at the start of `ids` are `value`."""
    if value is None or not len(ids):
        return 0
    differs = pc.fill_null(pc.not_equal(ids, pa.scalar(value, ids.type)), True).to_numpy(zero_copy_only=False)
    return int(np.argmax(differs)) if differs.any() else len(ids)


def _count_runs(part: RowGroupRange, ids: pa.Array, previous: str | None) -> str | None:
    """Add the runs that start in `ids`; return its last ID."""
    if not len(ids):
        return previous
    changes = pc.fill_null(pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1)), True)
    part.runs += int(pc.sum(changes).as_py() or 0) + (ids[0].as_py() != previous or previous is None)
    last: str | None = ids[len(ids) - 1].as_py()
    return last
