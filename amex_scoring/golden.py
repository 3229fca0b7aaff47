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
