"""Score statistics of a summary: exact quantiles for one file, mergeable histograms for a dataset.

A dataset's shards each count their scores in SCORE_BINS equal bins of [0, 1]; the counts
add up, and the merged quantiles are read from them to half a bin (QUANTILE_PRECISION).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
SCORE_BINS = 10_000
QUANTILE_PRECISION = 0.5 / SCORE_BINS  # a merged quantile is its bin's centre


def _name(q: float) -> str:
    return f"p{round(q * 100):02d}"


def quantiles(scores: np.ndarray) -> dict[str, float]:
    """Exact quantiles (numpy's default, linear between ranks)."""
    if not scores.size:
        return {}
    values = np.quantile(scores, QUANTILES)
    return {_name(q): round(float(v), 6) for q, v in zip(QUANTILES, values, strict=True)}


def score_histogram(scores: np.ndarray) -> list[list[int]]:
    """Sparse counts, `[bin, count]` for each bin that holds a score."""
    bins = np.minimum((scores * SCORE_BINS).astype(np.int64), SCORE_BINS - 1)
    found, counts = np.unique(bins, return_counts=True)
    return [[int(b), int(c)] for b, c in zip(found, counts, strict=True)]


def merge_histograms(histograms: Iterable[list[list[int]]]) -> np.ndarray:
    total = np.zeros(SCORE_BINS, dtype=np.int64)
    for histogram in histograms:
        if histogram:
            pairs = np.asarray(histogram, dtype=np.int64)
            np.add.at(total, pairs[:, 0], pairs[:, 1])
    return total


def quantiles_from_histogram(counts: np.ndarray) -> dict[str, float]:
    """Each quantile as the centre of the bin that holds the score at rank floor(q * (n - 1))."""
    n = int(counts.sum())
    if n == 0:
        return {}
    cumulative = np.cumsum(counts)
    out = {}
    for q in QUANTILES:
        rank = int(np.floor(q * (n - 1)))
        found = int(np.searchsorted(cumulative, rank, side="right"))
        out[_name(q)] = round((found + 0.5) / SCORE_BINS, 6)
    return out
