"""The monitor function (template.yaml: MonitorFunction): a daily report on yesterday's captures,
scheduled by EventBridge Scheduler, and an outcomes report when a labels file lands.

Events:
- the schedule's `{"date": "YYYY-MM-DD"}` (optional; the previous UTC day by default): the day's
  captures under CAPTURE_URI -> MONITORING_URI/reports/date=YYYY-MM-DD/report.{json,html};
- S3's "Object Created" through EventBridge for a key under `labels/`: every capture joined to
  that labels file -> MONITORING_URI/outcomes/<labels file name>/report.{json,html}.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from lambda_function.core.scoring import Loaded, Model, StartupError
from lambda_function.monitoring.monitor import read_labels, summarise
from lambda_function.monitoring.report import emit_metrics, flag_outcomes, previous_day, write_report
from lambda_function.telemetry import logger


def monitor_report(
    model: Model,
    captures: str,
    out: str,
    window: tuple[dt.date | None, dt.date | None] = (None, None),
    labels_uri: str | None = None,
    max_drop: float = 0.05,
) -> dict[str, Any]:
    """One report under `out`: the captures of the window (both ends in; None: open), joined to
    their outcomes when `labels_uri` names a labels file. Returns the report."""
    if captures.startswith("firehose:"):
        raise ValueError("the captures must be read where they land (an s3:// prefix or a folder), not a stream")
    labels = read_labels(labels_uri) if labels_uri else None
    report = summarise(model, captures, window[0], window[1], labels)
    if labels_uri:
        report["labels"] = labels_uri
        flag_outcomes(report, max_drop)
    report["written"] = dict(zip(("json", "html"), write_report(report, out), strict=True))
    return report


def run_monitor(loaded: Loaded, out: str, day: dt.date | None = None, labels_uri: str | None = None) -> dict[str, Any]:
    settings = loaded.settings
    assert settings.capture_uri is not None, "monitor_handler does not start without it"
    report = monitor_report(loaded.model, settings.capture_uri, out, (day, day), labels_uri, settings.max_outcome_drop)
    emit_metrics(report)
    written = report["written"]
    result = {"report": written["json"], "html": written["html"], "decisions": report["decisions"]}
    logger.info("monitoring report written", extra=result)
    return {**result, "drifted": report["drift"].get("drifted")}


def monitor_handler(loaded: Loaded) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    base = loaded.settings.monitoring_uri
    if base is None or loaded.settings.capture_uri is None:  # the template sets both: a start that cannot work
        logger.error("bad configuration", extra={"reason": "the monitor needs CAPTURE_URI and MONITORING_URI"})
        raise StartupError("bad configuration: the monitor function needs CAPTURE_URI and MONITORING_URI")

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        detail = event.get("detail", {}) if event.get("source") == "aws.s3" else None
        if detail is not None:
            bucket, key = detail["bucket"]["name"], detail["object"]["key"]
            name = key.rsplit("/", 1)[-1]
            return run_monitor(loaded, f"{base.rstrip('/')}/outcomes/{name}/", labels_uri=f"s3://{bucket}/{key}")
        day = dt.date.fromisoformat(event["date"]) if event.get("date") else previous_day()
        return run_monitor(loaded, f"{base.rstrip('/')}/reports/date={day.isoformat()}/", day)

    return handler
