"""Writing golden customers into a model directory (read by lambda_function/golden.py).

Build-time only: pandas frames in, `golden.json`'s content out.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from lambda_function.deploy.golden import TOLERANCE

GOLDEN_CUSTOMERS = 60


def statement_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row as the /v1/predict body would carry it: plain JSON values, missing ones left out."""
    records = []
    for row in frame.to_dict(orient="records"):
        record = {}
        for name, value in row.items():
            if isinstance(value, np.generic):
                value = value.item()
            if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
                continue
            if isinstance(value, dt.date):  # a Timestamp too: S_2 read as a date
                value = value.isoformat()[:10]
            record[name] = value
        records.append(record)
    return records


def golden(frame: pd.DataFrame, probabilities: Any, source: str) -> dict[str, Any]:
    """One statement per customer (the frame's rows) and its expected probability."""
    return {
        "tolerance": TOLERANCE,
        "source": source,
        "customers": [
            {"customer_ID": record["customer_ID"], "statements": [record], "probability": float(probability)}
            for record, probability in zip(statement_records(frame), probabilities, strict=True)
        ],
    }


def with_unseen_and_missing(frame: pd.DataFrame, categorical: list[str], seed: int = 11) -> pd.DataFrame:
    """Some golden customers carry what real ones do: missing values and categories never learnt."""
    frame = frame.copy()
    rng = np.random.default_rng(seed)
    for name in frame.columns:
        if name not in ("customer_ID", "S_2"):
            frame.loc[rng.random(len(frame)) < 0.1, name] = None
    for name in categorical[:3]:
        if name in frame:
            frame[name] = frame[name].astype(object)
            frame.loc[frame.index[:2], name] = "ZZ"
    return frame


def with_coverage(frame: pd.DataFrame, inputs: dict[str, Any]) -> pd.DataFrame:
    """The golden customers, plus one per category no customer has and per numeric input never
    missing or never present (each a copy of the first customer with that one value changed), so
    that verify-model exercises every one-hot column and both sides of every imputation
    (lambda_function/deploy/golden.py refuses a golden file that does not)."""
    base, added = frame.iloc[0], []
    for name, categories in inputs["categorical"].items():
        present = set(_spellings(frame[name])) if name in frame else set()
        for category in categories:
            if category not in present:
                added.append(_variant(base, name, _value_of(category, frame[name] if name in frame else None)))
    for name in inputs["numeric"]:
        column = frame[name] if name in frame else pd.Series([np.nan] * len(frame))
        if not column.isna().any():
            added.append(_variant(base, name, None))
        if column.isna().all():
            added.append(_variant(base, name, 0.5))
    rows = [row.rename(None) for row in added]
    for number, row in enumerate(rows):
        row["customer_ID"] = f"golden-coverage-{number:03d}"
    return pd.concat([frame, pd.DataFrame(rows)], ignore_index=True) if rows else frame


def _spellings(column: pd.Series) -> list[str]:
    """The categories a column's values are (the recipe's canonical text: 2 and 2.0 are "2.0")."""
    if pd.api.types.is_numeric_dtype(column):
        return [str(float(v)) for v in column.dropna()]
    return [str(v) for v in column.dropna()] + (["None"] if column.isna().any() else [])


def _value_of(category: str, column: pd.Series | None) -> Any:
    if category == "None":  # what the original recipe made of a missing value
        return None
    if column is not None and pd.api.types.is_numeric_dtype(column):
        return float(category)
    return category


def _variant(base: pd.Series, name: str, value: Any) -> pd.Series:
    row = base.copy().astype(object)
    row[name] = value
    return row
