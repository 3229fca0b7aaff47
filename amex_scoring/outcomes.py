"""`amex-scoring outcomes`: how a scored file's customers turned out. Joins a predictions file (the
batch function's Parquet, or the Kaggle CSV `customer_ID,prediction`; a dataset job's parts too)
with a labels file (`customer_ID,target`, the Kaggle layout) and reports AUC, Gini, KS, the
competition metric, the Brier score and calibration by decile, beside the model's training
metrics when given the model, flagging those that fell by more than the user allows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from lambda_function.core.artifacts import load_artifacts
from lambda_function.core.drift import bin_counts, psi_from_counts
from lambda_function.core.schema import CUSTOMER_ID
from lambda_function.monitoring import html
from lambda_function.monitoring.outcomes import compared_with_training, fallen, outcome_metrics

from .train import read_labels


def read_predictions(paths: list[Path]) -> pd.DataFrame:
    frames = []
    for path in paths:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path, columns=[CUSTOMER_ID, "prediction"])
        else:
            frame = pd.read_csv(path, usecols=[CUSTOMER_ID, "prediction"], dtype={CUSTOMER_ID: str})
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def outcomes_report(
    predictions: list[Path], labels: Path, model_dir: Path | None = None, max_drop: float = 0.05
) -> dict[str, Any]:
    scored, targets = read_predictions(predictions), read_labels(labels)
    joined = scored.merge(targets, on=CUSTOMER_ID, how="inner", validate="1:1")
    report: dict[str, Any] = {
        "predictions": [str(path) for path in predictions],
        "labels": str(labels),
        "customers_scored": len(scored),
        "customers_labelled": len(targets),
        "customers_joined": len(joined),
        "metrics": outcome_metrics(joined["target"].to_numpy(), joined["prediction"].to_numpy()),
    }
    if model_dir is not None:
        artifacts = load_artifacts(model_dir)
        report["training"] = compared_with_training(artifacts.manifest.get("metrics", {}))
        report["max_drop"] = max_drop
        report["flagged"] = fallen(report["metrics"], report["training"], max_drop)
        if artifacts.reference is not None:
            report["score_distribution"] = _against_reference(artifacts.reference["score"], scored["prediction"])
    return report


def _against_reference(bins: dict[str, Any], scores: pd.Series) -> dict[str, Any]:
    """The file's score shares in the reference's deciles, and the PSI between them."""
    counts = bin_counts(bins, scores.to_numpy(dtype="float64"))
    return {
        "edges": bins["edges"],
        "training": bins["expected"],
        "this_file": (counts / max(counts.sum(), 1)).round(6).tolist(),
        "psi": psi_from_counts(bins, counts),
    }


def write_report(report: dict[str, Any], folder: Path) -> None:
    """report.json and report.html (self-contained: opens without a network) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(describe(report) + "\n")
    metrics = report["metrics"]
    sections = [
        html.metrics_table(metrics, report.get("training", {}), report.get("flagged", [])),
        html.calibration_plot("calibration by score decile (dashed: perfect)", metrics["calibration"]),
    ]
    if "score_distribution" in report:
        shares = report["score_distribution"]
        labels = [f"d{k + 1}" for k in range(len(shares["training"]))]
        sections.append(
            html.paired_bars(
                f"score by training decile (PSI {shares['psi']:.4f})",
                labels,
                {"this file": shares["this_file"], "training": shares["training"]},
            )
        )
    summary = (
        f"{report['customers_joined']} customers with outcomes; AUC {metrics['auc']:.4f}, "
        f"competition metric {metrics['amex_metric']:.4f}"
        + (f"; flagged: {', '.join(report['flagged'])}" if report.get("flagged") else "")
    )
    (folder / "report.html").write_text(html.page("How the scored customers turned out", summary, sections))


def describe(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=1)
