"""What one scoring call decided, as the capture keeps it until its records are built.

Kept apart from capture.py so that the HTTP function, which answers before any record is
built, does not import pyarrow to keep them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambda_function.core.features import Column
from lambda_function.core.scoring import Scores


@dataclass(frozen=True)
class Decisions:
    """One scoring call's customers and scores, by reference (nothing is copied)."""

    source: str  # capture.SOURCES
    request_id: str  # the HTTP request's id, or the input object's URI
    captured_at: dt.datetime
    ids: Sequence[str] | Any  # a list, or a file's pyarrow array
    dates: Sequence[Any] | Any  # a request's validated S_2 values, or a file's date32 array
    columns: Mapping[str, Column]  # the inputs as received, one row per customer
    scores: Scores
    warnings: Sequence[Sequence[str]]
