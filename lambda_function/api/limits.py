"""The transport's limits, in one place: what a length header may say, and how large an answer
may be (Lambda returns at most 6 MB from a synchronous invocation; API Gateway's proxy answers 502
above it). The body's own limit is a setting (MAX_BODY_BYTES, settings.py)."""

from __future__ import annotations


def byte_count(raw: str) -> int | None:
    """A length header's value (Content-Length, Inference-Header-Content-Length): ASCII digits,
    at most 18 of them; None for anything else. `str.isdigit` admits "²", and `int()` refuses
    more than 4,300 digits: neither may reach it."""
    if raw.isascii() and raw.isdigit() and len(raw) <= 18:
        return int(raw)
    return None


MAX_RESPONSE_BYTES = 6 * 1024 * 1024
ANSWER_BYTES = 160  # a prediction's JSON besides its ID and reasons: probability, default, warnings
REASON_BYTES = 200  # one reason's JSON, its value a number or a category of at most CODE_MAX_LENGTH


def response_bound(ids: list[str], reasons: int) -> int:
    """An upper bound of the answer's size for these customers with this many reasons each."""
    return 2 * sum(map(len, ids)) + len(ids) * (ANSWER_BYTES + reasons * REASON_BYTES)
