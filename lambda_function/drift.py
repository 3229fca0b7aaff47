"""Population stability index against the training reference in reference.json."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

DRIFT_PSI = 0.25
_FLOOR = 1e-4  # keeps an empty bin from making PSI infinite


def numeric_bins(values: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Decile edges of the training values and the share of training rows in each bin."""
    values = values[np.isfinite(values)]
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])) if values.size else np.array([])
    return {
        "kind": "numeric",
        "edges": edges.tolist(),
        "expected": _shares(np.searchsorted(edges, values, "right"), edges.size + 1),
    }


def category_bins(positions: np.ndarray, categories: int) -> dict[str, Any]:
    """Share of each learnt category; the last bin holds unseen categories."""
    return {"kind": "categorical", "expected": _shares(np.where(positions < 0, categories, positions), categories + 1)}


def _shares(bins: np.ndarray, count: int) -> list[float]:
    counts = np.bincount(bins, minlength=count).astype(np.float64)
    shares: list[float] = (counts / max(counts.sum(), 1.0)).round(6).tolist()
    return shares


def psi(reference: Mapping[str, Any], values: np.ndarray) -> float | None:
    expected = np.asarray(reference["expected"], dtype=np.float64)
    if reference["kind"] == "numeric":
        values = values[np.isfinite(values)]
        bins = np.searchsorted(np.asarray(reference["edges"]), values, "right")
    else:
        bins = np.where(values < 0, expected.size - 1, values)
    if values.size == 0:
        return None
    actual = np.bincount(bins, minlength=expected.size) / values.size
    expected, actual = np.maximum(expected, _FLOOR), np.maximum(actual, _FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift_report(reference: Mapping[str, Any], observed: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """PSI of the score and of each input present in both, with a drift flag per entry."""
    report: dict[str, Any] = {}
    for name, bins in {"score": reference["score"], **reference["inputs"]}.items():
        if name in observed:
            value = psi(bins, observed[name])
            if value is not None:
                report[name] = {"psi": round(value, 6), "drift": value > DRIFT_PSI}
    return {"threshold": DRIFT_PSI, "max_psi": max((v["psi"] for v in report.values()), default=0.0), "psi": report}
