"""The monitor job's outputs: report.json (one line, so Athena's MonitoringReportsTable reads each
report as a row), a self-contained report.html a person reads, and the metrics the alarms watch."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from lambda_function.files import storage
from lambda_function.monitoring import html
from lambda_function.monitoring.outcomes import compared_with_training, fallen
from lambda_function.telemetry import SERVICE, emit


def flag_outcomes(report: dict[str, Any], max_drop: float) -> None:
    """Name the outcome metrics that fell more than `max_drop` below training's."""
    metrics = report.get("outcomes", {}).get("metrics")
    if metrics is None:
        return
    compared = compared_with_training(report["model"]["metrics"])
    report["outcomes"]["training"] = compared
    report["outcomes"]["max_drop"] = max_drop
    report["outcomes"]["flagged"] = fallen(metrics, compared, max_drop)


def write_report(report: dict[str, Any], out: str) -> tuple[str, str]:
    """report.json and report.html under `out` (a folder or an s3:// prefix); their URIs."""
    json_uri, html_uri = storage.join(out, "report.json"), storage.join(out, "report.html")
    storage.write_bytes(json_uri, (json.dumps(report, allow_nan=False) + "\n").encode(), "application/json")
    storage.write_bytes(html_uri, render(report).encode(), "text/html; charset=utf-8")
    return json_uri, html_uri


def render(report: dict[str, Any]) -> str:
    sections = []
    drift = report["drift"]
    if drift["status"] == "measured":
        psi = drift["psi"]
        if "score" in psi:
            score = psi["score"]
            labels = [f"d{k + 1}" for k in range(len(score["training"]))]
            series = {"this window": score["shares"], "training": score["training"]}
            sections.append(html.paired_bars(f"score by training decile (PSI {score['psi']:.4f})", labels, series))
        inputs = sorted(((n, e["psi"]) for n, e in psi.items() if n != "score"), key=lambda item: -item[1])
        sections.append(html.bars("PSI per input (line: drift threshold)", inputs, drift["threshold"]))
    missing = sorted(((n, m["rate"] or 0.0) for n, m in report["missing"].items()), key=lambda item: -item[1])
    training = {n: m["training"] for n, m in report["missing"].items() if m["training"] is not None}
    sections.append(html.bars("missing rate per input (grey: training's)", missing[:40], None, training))
    outcomes = report.get("outcomes", {})
    if "metrics" in outcomes:
        metrics = outcomes["metrics"]
        sections.append(html.metrics_table(metrics, outcomes.get("training", {}), outcomes.get("flagged", [])))
        sections.append(html.calibration_plot("calibration by score decile (dashed: perfect)", metrics["calibration"]))
    return html.page(
        f"Model monitoring: {report['model']['name']} {report['model']['version']}", summary(report), sections
    )


def summary(report: dict[str, Any]) -> str:
    drift = report["drift"]
    parts = [f"{report['decisions']} decisions", f"decision rate {report['decision_rate']}"]
    if drift["status"] == "measured":
        parts.append(f"max input PSI {drift['max_psi']:.4f}")
        parts.append(f"drifted: {', '.join(drift['drifted'])}" if drift["drifted"] else "no drift")
    else:
        parts.append("drift not measured: the model has no training reference")
    flagged = report.get("outcomes", {}).get("flagged")
    if flagged:
        parts.append(f"outcomes flagged: {', '.join(flagged)}")
    return "; ".join(parts)


def emit_metrics(report: dict[str, Any]) -> None:
    """The numbers the alarms watch (template.yaml), one EMF line."""
    values = {"MonitoredDecisions": [float(report["decisions"])]}
    if report["decision_rate"] is not None:
        values["MonitoredDecisionRate"] = [float(report["decision_rate"])]
    drift = report["drift"]
    if drift["status"] == "measured":
        values["MonitoredMaxPSI"] = [float(drift["max_psi"])]
        if "score" in drift["psi"]:
            values["MonitoredScorePSI"] = [float(drift["psi"]["score"]["psi"])]
    outcomes = report.get("outcomes", {})
    if "metrics" in outcomes:
        values["OutcomeAUC"] = [float(outcomes["metrics"]["auc"])]
        values["OutcomeAmexMetric"] = [float(outcomes["metrics"]["amex_metric"])]
        values["ModelFlagged"] = [float(bool(outcomes.get("flagged")))]
    units = dict.fromkeys(values, "None")
    units["MonitoredDecisions"] = "Count"
    emit(values, units, {"service": SERVICE})


def previous_day(now: dt.datetime | None = None) -> dt.date:
    return ((now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=1)).date()
