"""Capture records: one per scored customer, from every scoring path, in one schema.

A record says when and where a decision was made (time, source, request id or input object),
by which model, for whom (`customer_ID`, the statement date), with what (the inputs as
received and as the model used them, imputed and unseen inputs named) and what came of it
(probability, decision, threshold, warnings). The deployed functions send them to Firehose
(HTTP) or write them beside their outputs (files); locally `CAPTURE_URI` gets the same
records in the same layout. The monitor job reads them back (monitor.py).

Inputs are maps from input name to value, so one table (template.yaml: CapturesTable) holds
the records of any model. `CAPTURE_INPUTS` leaves out the received values (`used`) or every
input (`none`) where privacy asks for it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from lambda_function.core.features import Categorical, Column, is_missing
from lambda_function.core.latest import NO_DATE
from lambda_function.core.schema import CUSTOMER_ID
from lambda_function.core.scoring import Model, Scores
from lambda_function.monitoring.decisions import Decisions

if TYPE_CHECKING:
    from lambda_function.files.file_scoring import ScoredFile

BINS_KEY = "amex_scoring.input_bins"  # a file capture's footer: its inputs' counts in the reference bins
SOURCES = ("v1", "v2", "legacy", "batch", "dataset")
NUMBERS, TEXTS = pa.map_(pa.string(), pa.float64()), pa.map_(pa.string(), pa.string())
NAMES = pa.list_(pa.string())

SCHEMA = pa.schema(
    [
        ("captured_at", pa.timestamp("ms", tz="UTC")),
        ("source", pa.string()),  # one of SOURCES
        ("request_id", pa.string()),  # the HTTP request's id, or the input object's URI
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        (CUSTOMER_ID, pa.string()),
        ("statement_date", pa.date32()),  # the latest S_2, the statement scored
        ("probability", pa.float64()),
        ("default", pa.bool_()),
        ("threshold", pa.float64()),
        ("warnings", NAMES),
        ("imputed", NAMES),  # inputs that were missing and got training's value
        ("unseen", NAMES),  # categoricals outside training's categories: encoded as all zeros
        ("received_numeric", NUMBERS),  # as sent; null where missing
        ("received_category", TEXTS),
        ("used_numeric", NUMBERS),  # as the model used them: imputed
        ("used_category", TEXTS),  # the learnt category; null where unseen
    ]
)


def capture_table(model: Model, decisions: Decisions, inputs: str = "all") -> pa.Table:
    """The capture records of one scoring call, in SCHEMA."""
    n = len(decisions.ids)
    encoded = decisions.scores.encoded
    numeric_names, _ = encoded.numeric_values
    category_names, positions = encoded.category_positions
    received = np.array([_numbers(decisions.columns.get(name), n) for name in numeric_names]).reshape(-1, n)
    missing_category = np.array([_missing(decisions.columns.get(name), n) for name in category_names]).reshape(-1, n)
    learnt = [model.pipeline.vocabularies[name] for name in category_names]
    imputed_category = missing_category & np.array([not is_missing(v.missing) for v in learnt], bool)[:, None]
    columns: dict[str, Any] = {
        "captured_at": pa.array(np.full(n, _milliseconds(decisions.captured_at), "datetime64[ms]")).cast(
            SCHEMA.field("captured_at").type
        ),
        "source": _repeat(decisions.source, n),
        "request_id": _repeat(decisions.request_id, n),
        "model_name": _repeat(model.name, n),
        "model_version": _repeat(model.version, n),
        CUSTOMER_ID: pa.array(decisions.ids, pa.string()),
        "statement_date": decisions.dates if isinstance(decisions.dates, pa.Array) else request_dates(decisions.dates),
        "probability": pa.array(decisions.scores.probability),
        "default": pa.array(decisions.scores.default),
        "threshold": pa.array(np.full(n, model.threshold)),
        "warnings": pa.array(decisions.warnings, NAMES),
        "imputed": _names_where(
            [*numeric_names, *category_names], np.concatenate([np.isnan(received), imputed_category])
        ),
        "unseen": _names_where(category_names, positions < 0),
        **_input_maps(model, decisions, received, inputs),
    }
    return pa.table(columns, schema=SCHEMA)


def _input_maps(model: Model, decisions: Decisions, received: np.ndarray, inputs: str) -> dict[str, pa.Array]:
    """The four input maps; those CAPTURE_INPUTS leaves out are null."""
    n = len(decisions.ids)
    numeric_names, used_numbers = decisions.scores.encoded.numeric_values
    category_names, positions = decisions.scores.encoded.category_positions
    maps = {
        "received_numeric": pa.nulls(n, NUMBERS),
        "received_category": pa.nulls(n, TEXTS),
        "used_numeric": pa.nulls(n, NUMBERS),
        "used_category": pa.nulls(n, TEXTS),
    }
    if inputs != "none":
        learnt = [model.pipeline.vocabularies[name].categories for name in category_names]
        maps["used_numeric"] = _map(numeric_names, [pa.array(row) for row in used_numbers], n, NUMBERS)
        used = [_categories(c, p) for c, p in zip(learnt, positions, strict=True)]
        maps["used_category"] = _map(category_names, used, n, TEXTS)
    if inputs == "all":
        numbers = [pa.array(row, from_pandas=True) for row in received]
        maps["received_numeric"] = _map(numeric_names, numbers, n, NUMBERS)
        texts = [_texts(decisions.columns.get(name), n) for name in category_names]
        maps["received_category"] = _map(category_names, texts, n, TEXTS)
    return maps


def _milliseconds(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _repeat(value: str, n: int) -> pa.Array:
    return pa.DictionaryArray.from_arrays(np.zeros(n, dtype=np.int32), [value]).cast(pa.string())


def _map(names: Sequence[str], values: Sequence[pa.Array], n: int, kind: pa.DataType) -> pa.Array:
    """Row r's map holds names[i] -> values[i][r], in the order of `names`."""
    k = len(names)
    keys = pa.DictionaryArray.from_arrays(np.tile(np.arange(k, dtype=np.int32), n), list(names)).cast(pa.string())
    stacked = pa.concat_arrays([v.cast(kind.item_type) for v in values]) if k else pa.array([], kind.item_type)
    order = (np.arange(n)[:, None] + np.arange(k)[None, :] * n).ravel()  # row by row, each row in name order
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * k)
    return pa.MapArray.from_arrays(offsets, keys, stacked.take(pa.array(order, pa.int64())), type=kind)


def _names_where(names: Sequence[str], mask: np.ndarray) -> pa.Array:
    """Per row (the mask's columns), the names of the rows of `mask` set for it."""
    n = mask.shape[1] if mask.ndim == 2 else 0
    rows, which = np.nonzero(mask.T) if mask.size else (np.empty(0, np.intp), np.empty(0, np.intp))
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int32)
    values = pa.DictionaryArray.from_arrays(which.astype(np.int32), list(names) or [""]).cast(pa.string())
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=NAMES)


def _numbers(column: Column | None, n: int) -> np.ndarray:
    """A numeric input as received, NaN where missing."""
    if column is None:
        return np.full(n, np.nan)
    if isinstance(column, Categorical):  # a numeric input read as text is refused before scoring
        raise TypeError("a numeric input cannot be text")
    return np.array(column, dtype=np.float64)


def _missing(column: Column | None, n: int) -> np.ndarray:
    """Which values of a categorical are missing: `is_missing`, the rule encoding applies (a blank
    text is missing too), decided once per distinct value of a file's column."""
    if column is None:
        return np.ones(n, dtype=bool)
    if isinstance(column, Categorical):
        distinct = np.array([*map(is_missing, column.values), True], dtype=bool)  # the last: code -1
        return distinct[np.where(column.codes < 0, len(column.values), column.codes)]
    if isinstance(column, np.ndarray) and column.dtype.kind == "f":
        return np.isnan(column)
    return np.fromiter(map(is_missing, column), bool, n)


def _texts(column: Column | None, n: int) -> pa.Array:
    """A categorical as received, as text (numbers in their usual spelling); null where missing."""
    if column is None:
        return pa.nulls(n, pa.string())
    if isinstance(column, Categorical):
        values = pa.array([None if is_missing(v) else str(v) for v in column.values] + [None], pa.string())
        return values.take(pa.array(np.where(column.codes < 0, len(column.values), column.codes)))
    if isinstance(column, np.ndarray):
        return pa.array(column, from_pandas=True).cast(pa.string())
    return pa.array([None if is_missing(v) else v if isinstance(v, str) else str(v) for v in column], pa.string())


def _categories(categories: Sequence[str], positions: np.ndarray) -> pa.Array:
    learnt = pa.array([*categories, None], pa.string())
    return learnt.take(pa.array(np.where(positions < 0, len(categories), positions)))


def statement_dates(days: np.ndarray, known: np.ndarray) -> pa.Array:
    """date32 from days since 1970-01-01, null where the statement had no date."""
    return pa.array(days.astype(np.int32), pa.int32(), mask=~known).cast(pa.date32())


def request_dates(values: Sequence[Any]) -> pa.Array:
    """date32 from a request's validated S_2 values (dates, date-times or None)."""
    return pa.array([v.date() if isinstance(v, dt.datetime) else v for v in values], pa.date32())


class FileCapture:
    """A file's records (the batch function's, a dataset shard's), gathered chunk by chunk as it
    is scored and written once its outputs are.

    The inputs are captured by reference: `request_id` is the input object (with its version),
    which the functions never modify, so the maps stay null and capture costs a few columns per
    customer rather than a copy of the file. Imputed and unseen inputs are named, and the file's
    footer carries the counts of its inputs in the model's reference bins (BINS_KEY), so the
    monitor measures drift on file traffic too.
    """

    def __init__(self, model: Model, source: str, request_id: str, destination: str) -> None:
        self.model, self.source, self.request_id, self.destination = model, source, request_id, destination
        self.captured_at = dt.datetime.now(dt.UTC)
        self.tables: list[pa.Table] = []

    def add(self, ids: pa.Array, seconds: np.ndarray, columns: Mapping[str, Column], scores: Scores) -> None:
        known = seconds != NO_DATE
        days = np.where(known, seconds // 86_400, 0)
        warnings = scores.encoded.warnings
        decisions = Decisions(
            self.source, self.request_id, self.captured_at, ids, statement_dates(days, known), columns, scores, warnings
        )
        table = capture_table(self.model, decisions, "none")
        rejected = scores.encoded.rejected()
        self.tables.append(table.filter(pa.array(~rejected)) if rejected is not None else table)

    def write(self, scored: ScoredFile) -> str:
        """Deliver the records, with `scored`'s input counts in the reference bins in the footer;
        returns "written", or "failed" (logged with the metric, records in the log) when the
        destination refused them: the scores stand either way."""
        from lambda_function.monitoring.delivery import deliver_or_log

        table = pa.concat_tables(self.tables)
        reference = self.model.artifacts.reference if self.model.artifacts else None
        if reference is not None:
            bins = {"model_version": self.model.version, "counts": scored.reference_counts(reference)}
            table = table.replace_schema_metadata({BINS_KEY: json.dumps(bins)})
        return deliver_or_log(self.destination, table, self.source)


def object_uri(bucket: str, key: str, version_id: str | None = None) -> str:
    """A file record's `request_id`: the input object, with its version where the bucket keeps them."""
    return f"s3://{bucket}/{key}" + (f"?versionId={version_id}" if version_id else "")
