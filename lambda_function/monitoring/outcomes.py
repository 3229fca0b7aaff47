"""How a model ranks and calibrates customers once their outcomes are known: what `train`
reports on its held-out customers and what `amex-scoring outcomes` reports on a scored file and
its labels (the monitor job of issue #31 will report the same). NumPy only: the image has no SciPy
and no scikit-learn (tests/monitoring checks each against scikit-learn and the published metric).
"""

from __future__ import annotations

from typing import Any

import numpy as np

NEGATIVE_WEIGHT = 20.0  # the competition's negatives were sampled at 5%: each stands for 20
TOP_SHARE = 0.04
CALIBRATION_BINS = 10
COMPARED = ("auc", "gini", "amex_metric")  # compared with training's, and flagged when they fall


def compared_with_training(training: dict[str, Any]) -> dict[str, float]:
    """The training metrics outcomes are compared with."""
    return {name: float(training[name]) for name in COMPARED if isinstance(training.get(name), (int, float))}


def fallen(metrics: dict[str, Any], training: dict[str, float], max_drop: float) -> list[str]:
    """The metrics that fell more than `max_drop` below training's."""
    return [name for name, value in training.items() if metrics[name] < value - max_drop]


def outcome_metrics(target: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    """AUC, Gini, KS, the competition metric, the Brier score and calibration by decile."""
    target, score = np.asarray(target, dtype=np.float64), np.asarray(score, dtype=np.float64)
    if target.size == 0 or target.min() == target.max():
        raise ValueError("outcome metrics need both outcomes among the customers (defaults and non-defaults)")
    auc = roc_auc(target, score)
    return {
        "customers": int(target.size),
        "default_rate": float(target.mean()),
        "auc": auc,
        "gini": 2 * auc - 1,
        "ks": ks_statistic(target, score),
        **amex_metric(target, score),
        "brier": float(np.mean((score - target) ** 2)),
        "calibration": calibration(target, score),
    }


def roc_auc(target: np.ndarray, score: np.ndarray) -> float:
    """The Mann-Whitney statistic: the chance a defaulter scores above a non-defaulter (ties half)."""
    positives = target == 1
    ranks = _average_ranks(score)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    _, first, inverse, counts = np.unique(values[order], return_index=True, return_inverse=True, return_counts=True)
    ranks = np.empty(values.size)
    ranks[order] = (first + (counts + 1) / 2)[inverse]
    return ranks


def ks_statistic(target: np.ndarray, score: np.ndarray) -> float:
    """The largest gap between the defaulters' and the others' score distributions, over every
    threshold (tied scores move together)."""
    order = np.argsort(-score, kind="mergesort")
    ordered, hits = score[order], target[order]
    last_of_tie = np.r_[ordered[1:] != ordered[:-1], True]
    true_rate = np.cumsum(hits)[last_of_tie] / hits.sum()
    false_rate = np.cumsum(1 - hits)[last_of_tie] / (1 - hits).sum()
    return float(np.max(np.abs(true_rate - false_rate)))


def amex_metric(target: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """The competition metric: mean of the normalised weighted Gini and the share of defaulters
    among the top 4% (by weight) of scores, negatives weighted 20."""
    target = np.asarray(target, dtype=np.float64)
    order = np.argsort(-np.asarray(score), kind="stable")
    ranked = target[order]
    weight = np.where(ranked == 0, NEGATIVE_WEIGHT, 1.0)
    cutoff = TOP_SHARE * weight.sum()
    top_four = float(ranked[np.cumsum(weight) <= cutoff].sum() / ranked.sum())
    best = np.sort(target)[::-1]
    normalised = _weighted_gini(ranked, weight) / _weighted_gini(best, np.where(best == 0, NEGATIVE_WEIGHT, 1.0))
    return {
        "amex_metric": 0.5 * (normalised + top_four),
        "normalized_weighted_gini": normalised,
        "top4_capture": top_four,
    }


def _weighted_gini(ranked: np.ndarray, weight: np.ndarray) -> float:
    random = np.cumsum(weight / weight.sum())
    lorentz = np.cumsum(ranked * weight) / np.sum(ranked * weight)
    return float(np.sum((lorentz - random) * weight))


def calibration(target: np.ndarray, score: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict[str, Any]]:
    """Customers in score deciles: in each, the mean score and the share that defaulted."""
    edges = np.percentile(score, np.linspace(0, 100, bins + 1))
    which = np.searchsorted(edges[1:-1], score)  # as scikit-learn's calibration_curve(strategy="quantile")
    found = []
    for at in range(bins):
        inside = which == at
        if inside.any():
            found.append(
                {
                    "bin": at,
                    "customers": int(inside.sum()),
                    "mean_score": float(score[inside].mean()),
                    "default_rate": float(target[inside].mean()),
                }
            )
    return found
