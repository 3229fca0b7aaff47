"""The labels file, read the one way `train`, `amex-scoring outcomes` and the monitor job read it:
a CSV of `customer_ID,target` (Kaggle's train_labels.csv layout), a target of 0 or 1 in every row,
from a local path or an s3:// URI. pyarrow only, so the image reads it as the CLI does."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from lambda_function.core.schema import CUSTOMER_ID
from lambda_function.files import storage


def read_labels(uri: str) -> tuple[list[str], np.ndarray]:
    """The customers and their targets (int64), in file order; ValueError naming what is wrong."""
    data = storage.read_bytes(uri)
    if data is None:
        raise FileNotFoundError(f"labels file not found: {uri}")
    if data[:4] == b"PAR1":
        raise ValueError(f"{uri}: the labels are a Parquet file; expected a CSV with customer_ID,target")
    try:
        table = pacsv.read_csv(pa.BufferReader(data), convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    except pa.ArrowInvalid as error:
        raise ValueError(f"{uri}: not a readable CSV: {error}") from None
    names = table.column_names
    if "target" not in names or CUSTOMER_ID not in names:
        raise ValueError(f"{uri}: expected columns customer_ID,target, found {', '.join(names[:5]) or 'none'}")
    targets = table["target"].to_numpy(zero_copy_only=False)
    if not np.isin(targets, (0, 1)).all():
        raise ValueError(f"{uri}: target must be 0 or 1 in every row")
    return table[CUSTOMER_ID].cast(pa.string()).to_pylist(), targets.astype(np.int64)
