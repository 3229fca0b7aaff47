"""Which statement of a customer is scored: the latest `S_2`, for files and requests alike.

A customer's statements are compared by date; among equal dates (or none) the later row
wins, as pandas' `drop_duplicates(keep="last")` did in the training recipe; a missing date
sorts before every date. Customers come out in the order they first appear.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np

NO_DATE = np.iinfo(np.int64).min  # a missing S_2 sorts before every date


def latest_rows(codes: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """The row of each customer's latest statement, customers in order of their codes.

    `codes` number the customers (0, 1, ... in order of first appearance), `dates` are int64
    in any unit, NO_DATE where missing. A stable sort on (customer, date) leaves the later
    row last among equal dates.
    """
    codes = codes.astype(np.int64, copy=False)
    known = dates != NO_DATE
    first = dates[known].min() if known.any() else 0
    span = int(dates[known].max() - first) + 2 if known.any() else 1
    if span.bit_length() + int(codes.max(initial=0)).bit_length() < 63:
        # One int64 key; timsort is linear on files already in (customer, date) order.
        order = np.argsort((codes << span.bit_length()) | np.where(known, dates - first + 1, 0), kind="stable")
    else:
        order = np.lexsort((dates, codes))
    ordered = codes[order]
    rows: np.ndarray = order[np.flatnonzero(np.append(ordered[1:] != ordered[:-1], True))]
    return rows


def latest_statements(ids: Sequence[str], dates: Sequence[Any]) -> list[int]:
    """`latest_rows` for a request's IDs and validated `S_2` values (dates, date-times or None)."""
    numbers: dict[str, int] = {}
    codes = np.fromiter((numbers.setdefault(customer, len(numbers)) for customer in ids), np.int64, len(ids))
    days = np.fromiter(map(_day, dates), np.int64, len(dates))
    return [int(row) for row in latest_rows(codes, days)]


def _day(date: dt.date | None) -> int:
    if date is None:
        return int(NO_DATE)
    return (date.date() if isinstance(date, dt.datetime) else date).toordinal()
