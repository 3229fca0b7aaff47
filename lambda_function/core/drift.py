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


def bin_counts(reference: Mapping[str, Any], values: np.ndarray) -> np.ndarray:
    """How many values fall in each of the reference's bins (numbers: finite ones only).

    Counts add up across the parts of a dataset, so a merged PSI equals the one-pass PSI."""
    size = len(reference["expected"])
    if reference["kind"] == "numeric":
        values = values[np.isfinite(values)]
        bins = np.searchsorted(np.asarray(reference["edges"]), values, "right")
    else:
        bins = np.where(values < 0, size - 1, values)
    return np.bincount(bins, minlength=size)


def psi_from_counts(reference: Mapping[str, Any], counts: np.ndarray) -> float | None:
    total = int(counts.sum())
    if total == 0:
        return None
    expected = np.maximum(np.asarray(reference["expected"], dtype=np.float64), _FLOOR)
    actual = np.maximum(counts / total, _FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi(reference: Mapping[str, Any], values: np.ndarray) -> float | None:
    return psi_from_counts(reference, bin_counts(reference, values))


def drift_counts(reference: Mapping[str, Any], observed: Mapping[str, np.ndarray]) -> dict[str, list[int]]:
    """Per entry of the reference present in `observed`, its bin counts: what `drift_report` needs."""
    entries = {"score": reference["score"], **reference["inputs"]}
    return {name: bin_counts(bins, observed[name]).tolist() for name, bins in entries.items() if name in observed}


def drift_report(reference: Mapping[str, Any], observed: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """PSI of the score and of each input present in both, with a drift flag per entry."""
    return drift_report_from_counts(reference, drift_counts(reference, observed))


def drift_report_from_counts(reference: Mapping[str, Any], counts: Mapping[str, Any]) -> dict[str, Any]:
    report: dict[str, Any] = {}
    entries = {"score": reference["score"], **reference["inputs"]}
    for name, found in counts.items():
        value = psi_from_counts(entries[name], np.asarray(found, dtype=np.int64))
        if value is not None:
            report[name] = {"psi": round(value, 6), "drift": value > DRIFT_PSI}
    return {"threshold": DRIFT_PSI, "max_psi": max((v["psi"] for v in report.values()), default=0.0), "psi": report}
