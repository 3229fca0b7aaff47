"""Outcome metrics (lambda_function/monitoring/outcomes.py) against independent implementations:
scikit-learn (AUC, ROC for KS, Brier, calibration_curve) and the competition metric as its host
published it (Kaggle's pandas `amex_metric`, written out below), on generated outcomes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import SYNTHETIC_MODEL
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

from lambda_function.monitoring.outcomes import outcome_metrics


def kaggle_amex_metric(y_true: pd.DataFrame, y_pred: pd.DataFrame) -> float:
    """The host's reference implementation, as published with the competition."""

    def top_four_percent_captured(y_true: pd.DataFrame, y_pred: pd.DataFrame) -> float:
        df = pd.concat([y_true, y_pred], axis="columns").sort_values("prediction", ascending=False)
        df["weight"] = df["target"].apply(lambda x: 20 if x == 0 else 1)
        four_pct_cutoff = int(0.04 * df["weight"].sum())
        df["weight_cumsum"] = df["weight"].cumsum()
        df_cutoff = df.loc[df["weight_cumsum"] <= four_pct_cutoff]
        return float((df_cutoff["target"] == 1).sum() / (df["target"] == 1).sum())

    def weighted_gini(y_true: pd.DataFrame, y_pred: pd.DataFrame) -> float:
        df = pd.concat([y_true, y_pred], axis="columns").sort_values("prediction", ascending=False)
        df["weight"] = df["target"].apply(lambda x: 20 if x == 0 else 1)
        df["random"] = (df["weight"] / df["weight"].sum()).cumsum()
        total_pos = (df["target"] * df["weight"]).sum()
        df["cum_pos_found"] = (df["target"] * df["weight"]).cumsum()
        df["lorentz"] = df["cum_pos_found"] / total_pos
        df["gini"] = (df["lorentz"] - df["random"]) * df["weight"]
        return float(df["gini"].sum())

    def normalized_weighted_gini(y_true: pd.DataFrame, y_pred: pd.DataFrame) -> float:
        y_true_pred = y_true.rename(columns={"target": "prediction"})
        return weighted_gini(y_true, y_pred) / weighted_gini(y_true, y_true_pred)

    return 0.5 * (normalized_weighted_gini(y_true, y_pred) + top_four_percent_captured(y_true, y_pred))


@pytest.fixture(params=[1, 2, 3])
def outcomes(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    """Scores that rank defaulters higher, imperfectly, as a model's do."""
    rng = np.random.default_rng(request.param)
    target = (rng.random(5000) < 0.26).astype(np.float64)
    score = 1 / (1 + np.exp(-(rng.normal(size=5000) + 1.6 * target - 1.2)))
    return target, score


def test_ranking_and_calibration_agree_with_scikit_learn(outcomes: tuple[np.ndarray, np.ndarray]) -> None:
    target, score = outcomes
    found = outcome_metrics(target, score)
    assert found["auc"] == pytest.approx(roc_auc_score(target, score), abs=1e-12)
    assert found["gini"] == pytest.approx(2 * roc_auc_score(target, score) - 1, abs=1e-12)
    false_rate, true_rate, _ = roc_curve(target, score)
    assert found["ks"] == pytest.approx(np.max(true_rate - false_rate), abs=1e-12)
    assert found["brier"] == pytest.approx(brier_score_loss(target, score), abs=1e-12)
    observed, predicted = calibration_curve(target, score, n_bins=10, strategy="quantile")
    assert [b["default_rate"] for b in found["calibration"]] == pytest.approx(observed, abs=1e-12)
    assert [b["mean_score"] for b in found["calibration"]] == pytest.approx(predicted, abs=1e-12)
    assert sum(b["customers"] for b in found["calibration"]) == target.size == found["customers"]


def test_the_competition_metric_is_the_hosts(outcomes: tuple[np.ndarray, np.ndarray]) -> None:
    target, score = outcomes
    expected = kaggle_amex_metric(pd.DataFrame({"target": target}), pd.DataFrame({"prediction": score}))
    assert outcome_metrics(target, score)["amex_metric"] == pytest.approx(expected, abs=1e-12)


def test_ties_count_half_and_one_outcome_alone_is_refused() -> None:
    target, score = np.array([0, 1, 0, 1.0]), np.array([0.5, 0.5, 0.2, 0.9])
    assert outcome_metrics(target, score)["auc"] == pytest.approx(roc_auc_score(target, score))
    false_rate, true_rate, _ = roc_curve(target, score)
    assert outcome_metrics(target, score)["ks"] == pytest.approx(np.max(true_rate - false_rate))
    with pytest.raises(ValueError, match="both outcomes"):
        outcome_metrics(np.zeros(4), score)


def test_amex_scoring_outcomes_joins_predictions_and_labels_and_flags_what_fell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A scored file and its labels, as a user has them: the batch function's Parquet output or
    Kaggle's CSV, and `customer_ID,target`; compared with the model's training metrics."""
    from amex_scoring.cli import main
    from amex_scoring.synth import write_synthetic

    statements, labels = tmp_path / "s.parquet", tmp_path / "labels.csv"
    write_synthetic(statements, 2000, statements=2, seed=8, labels_out=labels)
    predictions = tmp_path / "p.csv"
    assert main(["score", "--model", str(SYNTHETIC_MODEL), str(statements), str(predictions)]) == 0
    capsys.readouterr()
    assert main(["outcomes", str(predictions), "--labels", str(labels), "--model", str(SYNTHETIC_MODEL)]) == 0
    report = json.loads(capsys.readouterr().out)
    joined = pd.read_csv(predictions).merge(pd.read_csv(labels), on="customer_ID")
    assert report["customers_joined"] == len(joined) == 2000
    assert report["metrics"]["auc"] == pytest.approx(roc_auc_score(joined["target"], joined["prediction"]), abs=1e-12)
    assert set(report["training"]) == {"auc", "gini", "amex_metric"} and report["flagged"] == []
    flipped = tmp_path / "flipped.csv"
    pd.read_csv(labels).assign(target=lambda f: 1 - f["target"]).to_csv(flipped, index=False)
    assert main(["outcomes", str(predictions), "--labels", str(flipped), "--model", str(SYNTHETIC_MODEL)]) == 0
    assert json.loads(capsys.readouterr().out)["flagged"] == ["auc", "gini", "amex_metric"]
