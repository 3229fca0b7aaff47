"""Scoring a statements file: each customer's latest statement, through the same Model.

Kept apart from scoring.py so the HTTP function, which scores JSON, never imports pyarrow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from lambda_function.core.drift import drift_counts
from lambda_function.core.features import Categorical, Column
from lambda_function.core.schema import CUSTOMER_ID
from lambda_function.core.scoring import Model
from lambda_function.files.row_ranges import RowGroupRange
from lambda_function.files.statements import Customers, Opener, read_customers
from lambda_function.monitoring.capture import FileCapture

SCORE_CHUNK = 131_072  # customers per matrix: bounds the float32 matrix of a large file


@dataclass
class ScoredFile:
    predictions: pa.Table  # customer_ID, prediction, default
    rows_read: int
    customers: int
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> customers
    unseen: dict[str, int] = field(default_factory=dict)  # input -> customers with an unseen category
    drift_inputs: dict[str, np.ndarray] = field(default_factory=dict)  # what PSI is computed on
    _counts: dict[str, list[int]] | None = field(default=None, repr=False)

    def reference_counts(self, reference: Mapping[str, Any]) -> dict[str, list[int]]:
        """`drift_inputs` counted in the reference's bins, once: the summary and the capture both use them."""
        if self._counts is None:
            self._counts = drift_counts(reference, self.drift_inputs)
        return self._counts


def score_customers(model: Model, customers: Customers, capture: FileCapture | None = None) -> ScoredFile:
    """Score in chunks so the float32 matrix stays small; drop rows that cannot be scored."""
    n = len(customers)
    probability = np.empty(n)
    default = np.empty(n, dtype=bool)
    rejected = np.zeros(n, dtype=bool)
    skipped: dict[str, int] = {}
    unseen: dict[str, int] = {}
    drift: dict[str, list[np.ndarray]] = {}
    for start in range(0, n, SCORE_CHUNK):
        stop = min(n, start + SCORE_CHUNK)
        chunk = {name: _slice(column, start, stop) for name, column in customers.columns.items()}
        scores = model.predict(chunk, stop - start)
        if capture is not None:
            capture.add(customers.ids[start:stop], customers.dates[start:stop], chunk, scores)
        probability[start:stop] = scores.probability
        default[start:stop] = scores.default
        rejected[start:stop] = scores.encoded.rejected()
        for name, mask in scores.encoded.nonfinite.items():
            reason = f"non-finite value in {name}"
            skipped[reason] = skipped.get(reason, 0) + int(mask.sum())
        for name, (rows, _) in scores.encoded.unseen.items():
            unseen[name] = unseen.get(name, 0) + int(rows.size)
        for name, values in (*scores.encoded.numeric.items(), *scores.encoded.positions.items()):
            drift.setdefault(name, []).append(values)
    keep = ~rejected
    predictions = pa.table(
        {
            CUSTOMER_ID: customers.ids.filter(pa.array(keep)) if rejected.any() else customers.ids,
            "prediction": pa.array(probability[keep]),
            "default": pa.array(default[keep]),
        }
    )
    drift_inputs = {name: np.concatenate(parts)[keep] for name, parts in drift.items()}
    drift_inputs["score"] = probability[keep]
    return ScoredFile(predictions, customers.rows_read, int(keep.sum()), skipped, unseen, drift_inputs)


def _slice(column: Column, start: int, stop: int) -> Column:
    if isinstance(column, Categorical):
        return Categorical(column.codes[start:stop], column.values)
    return column[start:stop]


def score_statements(
    model: Model,
    open_file: Opener,
    fmt: str,
    should_stop: Callable[[], bool] | None = None,
    part: RowGroupRange | None = None,
    capture: FileCapture | None = None,
) -> ScoredFile:
    """Read and score a file, or the customers a dataset shard owns in `part` of it."""
    pipeline = model.pipeline
    numeric, categorical = list(pipeline.imputation), list(pipeline.vocabularies)
    return score_customers(model, read_customers(open_file, fmt, numeric, categorical, should_stop, part), capture)
