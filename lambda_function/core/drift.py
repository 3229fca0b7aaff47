"""Population stability index against the training reference in reference.json, and what every
surface says about a model that has none (`GET /v1/model`, every summary, a metric an alarm watches)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lambda_function.telemetry import MetricUnit, metrics

DRIFT_PSI = 0.25
NO_REFERENCE = "no reference"
NO_REFERENCE_MESSAGE = (
    "this model has no training reference (reference.json), so drift is not measured; add one with "
    "`amex-scoring reference --model DIR --data STATEMENTS` (or import-legacy --reference-data)"
)
# Emitted (value 1) wherever drift would have been measured: an unmonitored model in production
# is itself an alarm (template.yaml: DriftUnmonitoredAlarm).
UNMONITORED_METRIC = "DriftReferenceMissing"
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


def build_reference(
    observed: Mapping[str, np.ndarray], categories: Mapping[str, int], missing: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """reference.json's content from a population's scores (`observed["score"]`) and encoded
    inputs (numbers as imputed; categoricals as one-hot positions, -1 unseen, with
    `categories[name]` learnt categories): what `train` and `amex-scoring reference` write.
    `missing`: each input's share of missing values before imputation, where it is known."""
    inputs = {
        name: category_bins(values, categories[name]) if name in categories else numeric_bins(values)
        for name, values in observed.items()
        if name != "score"
    }
    reference = {"customers": int(observed["score"].size), "score": numeric_bins(observed["score"]), "inputs": inputs}
    if missing is not None:
        reference["missing"] = {name: round(float(share), 6) for name, share in missing.items()}
    return reference


def reference_status(reference: Mapping[str, Any] | None) -> dict[str, Any]:
    """What `GET /v1/model` says of the model's drift reference."""
    if reference is None:
        return {"status": NO_REFERENCE, "message": NO_REFERENCE_MESSAGE}
    return {"status": "present", "customers": reference.get("customers"), "inputs": len(reference["inputs"])}


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


def summary_drift(reference: Mapping[str, Any] | None, counts: Mapping[str, Any]) -> dict[str, Any] | None:
    """A summary's `drift`: measured against the reference, or `no reference` said plainly (None
    when nothing was scored, as there is nothing to compare)."""
    if reference is None:
        return {"status": NO_REFERENCE, "message": NO_REFERENCE_MESSAGE}
    if "score" not in counts or int(np.sum(counts["score"])) == 0:
        return None
    return {"status": "measured", **drift_report_from_counts(reference, counts)}


def drift_report_from_counts(reference: Mapping[str, Any], counts: Mapping[str, Any]) -> dict[str, Any]:
    report: dict[str, Any] = {}
    entries = {"score": reference["score"], **reference["inputs"]}
    for name, found in counts.items():
        value = psi_from_counts(entries[name], np.asarray(found, dtype=np.int64))
        if value is not None:
            report[name] = {"psi": round(value, 6), "drift": value > DRIFT_PSI}
    return {"threshold": DRIFT_PSI, "max_psi": max((v["psi"] for v in report.values()), default=0.0), "psi": report}


def record_drift_metrics(drift: Mapping[str, Any] | None) -> None:
    """The metrics the drift alarms watch: `MaxPSI` and `ScorePSI` when drift was measured,
    `DriftReferenceMissing` when the model has no reference to measure it against."""
    if drift is None:
        return
    if drift["status"] == NO_REFERENCE:
        metrics.add_metric(name=UNMONITORED_METRIC, unit=MetricUnit.Count, value=1)
        return
    metrics.add_metric(name="MaxPSI", unit=MetricUnit.NoUnit, value=drift["max_psi"])
    if "score" in drift["psi"]:
        metrics.add_metric(name="ScorePSI", unit=MetricUnit.NoUnit, value=drift["psi"]["score"]["psi"])
