"""The S3 batch function: a statements file lands under INPUT_PREFIX, its scores appear.

For every input object there is, in the end, either a complete output (predictions and a
summary, each written in one PUT) or an error report. Bad input is reported and the
invocation returns normally (a retry cannot fix it); transient S3 failures, and an object
replaced while it was read, raise, so Lambda's retries and the on-failure destination
take over.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from botocore.exceptions import ClientError

from lambda_function.batch.events import S3Object, objects_in
from lambda_function.batch.outputs import output_keys
from lambda_function.core.drift import record_drift_metrics, summary_drift
from lambda_function.core.scoring import Loaded, Model
from lambda_function.core.summaries import quantiles
from lambda_function.files.file_scoring import ScoredFile, score_statements
from lambda_function.files.predictions import encode_predictions
from lambda_function.files.statements import InputError, Opener, OutOfTime, input_format
from lambda_function.monitoring.capture import FileCapture, object_uri
from lambda_function.s3 import PinnedObject, is_missing, s3_client
from lambda_function.settings import Settings
from lambda_function.telemetry import MetricUnit, logger, metrics

__all__ = ["BatchScorer", "FileJob", "S3Object", "batch_handler", "objects_in", "skip_reason"]

CONTENT_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def skip_reason(obj: S3Object, settings: Settings) -> str | None:
    for prefix in (settings.output_prefix, settings.error_prefix):
        if obj.key.startswith(prefix) and (settings.output_bucket in (None, obj.bucket)):
            return f"key is under the function's own output prefix {prefix!r}"
    if not obj.key.startswith((settings.input_prefix, settings.check_prefix)):  # the deploy hook's checks too
        return f"key is not under INPUT_PREFIX {settings.input_prefix!r}"
    if input_format(obj.key) is None:
        return "key does not end in .parquet, .csv or .csv.gz"
    return None


def opener(source: PinnedObject, fmt: str) -> Opener:
    """Parquet is read at random (footer, then the needed column chunks); CSV as one stream."""
    return source.open_random_access if fmt == "parquet" else source.open_stream


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _put_json(bucket: str, key: str, body: dict[str, Any]) -> None:
    data = json.dumps(body, indent=1, allow_nan=False, default=str).encode()
    s3_client().put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")


class BatchScorer:
    """Scores S3 objects with one loaded model; one instance per container."""

    def __init__(self, model: Model, settings: Settings) -> None:
        self.model, self.settings = model, settings

    def process(self, obj: S3Object, remaining_ms: Callable[[], int]) -> dict[str, Any]:
        reason = skip_reason(obj, self.settings)
        if reason is None:
            return FileJob(self, obj, remaining_ms).run()
        logger.info("skipping object", extra={"bucket": obj.bucket, "key": obj.key, "reason": reason})
        metrics.add_metric(name="ObjectsSkipped", unit=MetricUnit.Count, value=1)
        return {"bucket": obj.bucket, "key": obj.key, "status": "skipped", "reason": reason}

    def model_info(self) -> dict[str, Any]:
        return {"name": self.model.name, "version": self.model.version, "checksum": self.model.checksum}


class FileJob:
    """One input object, through to its predictions and summary or to its error report."""

    def __init__(self, scorer: BatchScorer, obj: S3Object, remaining_ms: Callable[[], int]) -> None:
        self.scorer, self.settings, self.remaining_ms = scorer, scorer.settings, remaining_ms
        self.obj = obj
        self.out_bucket = self.settings.output_bucket or obj.bucket
        self.keys = output_keys(obj.key, self.settings)
        self.format = input_format(obj.key) or ""
        self.source: dict[str, Any] = {"bucket": obj.bucket, "key": obj.key, "version_id": obj.version_id}
        self.started = time.perf_counter()

    def run(self) -> dict[str, Any]:
        logger.append_keys(bucket=self.obj.bucket, key=self.obj.key)
        try:
            pinned = PinnedObject.head(self.obj.bucket, self.obj.key, self.obj.version_id)
        except ClientError as error:
            if not is_missing(error):
                raise
            return self.report(
                "not_found",
                f"s3://{self.obj.bucket}/{self.obj.key} does not exist (deleted since the event, "
                "or the event's key was not URL-decoded)",
            )
        self.source = pinned.describe()
        capture = self.capture()
        try:
            scored = score_statements(
                self.scorer.model, opener(pinned, self.format), self.format, self.out_of_time, capture=capture
            )
        except InputError as error:
            return self.report("invalid_input", str(error))
        except OutOfTime as error:
            return self.report_timeout(error.rows_read)
        if self.out_of_time():
            return self.report_timeout(scored.rows_read, scored.customers)
        result = self.write(scored)
        if capture is not None:  # after the outputs: a capture that fails never costs the scores
            result["capture"] = capture.write(scored)
        return result

    def capture(self) -> FileCapture | None:
        if self.settings.capture_uri is None:
            return None
        source = object_uri(self.source["bucket"], self.source["key"], self.source.get("version_id"))
        return FileCapture(self.scorer.model, "batch", source, self.settings.capture_uri)

    def out_of_time(self) -> bool:
        return self.remaining_ms() < self.settings.min_remaining_ms

    def write(self, scored: ScoredFile) -> dict[str, Any]:
        output_format = self.settings.output_format
        body = encode_predictions(scored, self.scorer.model, output_format)
        s3 = s3_client()
        content_type = CONTENT_TYPES[output_format]
        s3.put_object(Bucket=self.out_bucket, Key=self.keys.predictions, Body=body, ContentType=content_type)
        summary = self.summary(scored)
        _put_json(self.out_bucket, self.keys.summary, summary)
        try:  # an earlier failure's report no longer applies
            s3.delete_object(Bucket=self.out_bucket, Key=self.keys.error)
        except ClientError:
            pass
        _record_metrics(scored, summary)
        logger.info(
            "scored",
            extra={"customers": scored.customers, "rows_read": scored.rows_read, "output": self.keys.predictions},
        )
        return {
            **self.source,
            "status": "scored",
            "customers": scored.customers,
            "output": f"s3://{self.out_bucket}/{self.keys.predictions}",
            "summary": f"s3://{self.out_bucket}/{self.keys.summary}",
        }

    def summary(self, scored: ScoredFile) -> dict[str, Any]:
        scores = scored.drift_inputs["score"]
        threshold = self.scorer.model.threshold
        skipped = sum(scored.skipped.values())
        result: dict[str, Any] = {
            "status": "scored",
            "input": self.source,
            "output": {"uri": f"s3://{self.out_bucket}/{self.keys.predictions}", "format": self.settings.output_format},
            "model": self.scorer.model_info(),
            "rows_read": scored.rows_read,
            "customers": scored.customers + skipped,
            "customers_scored": scored.customers,
            "customers_skipped": scored.skipped,
            "statements_superseded": scored.rows_read - scored.customers - skipped,
            "unseen_categories": scored.unseen,
            "duration_seconds": round(time.perf_counter() - self.started, 3),
            "score_quantiles": quantiles(scores),
            "threshold": threshold,
            "share_default": round(float(np.mean(scores >= threshold)), 6) if scores.size else None,
            "time": _now(),
        }
        reference = self.scorer.model.artifacts.reference if self.scorer.model.artifacts else None
        counts = scored.reference_counts(reference) if reference is not None else {}
        drift = summary_drift(reference, counts)
        if drift is not None:
            result["drift"] = drift
        return result

    def report_timeout(self, rows_read: int, customers: int | None = None) -> dict[str, Any]:
        done = f"read {rows_read} statement rows" if customers is None else f"scored {customers} customers"
        return self.report(
            "timeout",
            f"stopped: {done} with less than {self.settings.min_remaining_ms} ms left; nothing was written. "
            "Raise the function's Timeout (and MemorySize, which also adds CPU), or split the file.",
            rows_read=rows_read,
        )

    def report(self, kind: str, message: str, **extra: Any) -> dict[str, Any]:
        """The error report for this input, in one PUT; the invocation itself succeeds."""
        body = {
            "status": "error",
            "error": kind,
            "message": message,
            "input": self.source,
            "model": self.scorer.model_info(),
            "time": _now(),
            **extra,
        }
        _put_json(self.out_bucket, self.keys.error, body)
        metrics.add_metric(name="ErrorReports", unit=MetricUnit.Count, value=1)
        logger.warning("error report written", extra={"error": kind, "error_key": self.keys.error, "detail": message})
        report = f"s3://{self.out_bucket}/{self.keys.error}"
        return {**self.source, "status": "error", "error": kind, "message": message, "report": report}


def _record_metrics(scored: ScoredFile, summary: dict[str, Any]) -> None:
    metrics.add_metric(name="CustomersScored", unit=MetricUnit.Count, value=scored.customers)
    metrics.add_metric(name="RowsRead", unit=MetricUnit.Count, value=scored.rows_read)
    metrics.add_metric(name="ScoringDuration", unit=MetricUnit.Seconds, value=summary["duration_seconds"])
    record_drift_metrics(summary.get("drift"))


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def batch_handler(loaded: Loaded) -> Handler:
    """The batch function's Lambda handler for a loaded model (handlers/batch.py builds it once
    per container; the tests build theirs the same way)."""
    scorer = BatchScorer(loaded.model, loaded.settings)

    @metrics.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        objects = objects_in(event)
        if not objects:
            logger.info("no S3 objects in the event", extra={"event_keys": sorted(event)[:10]})
        remaining = getattr(context, "get_remaining_time_in_millis", None) or (lambda: 15 * 60 * 1000)
        return {"results": [scorer.process(obj, remaining) for obj in objects]}

    return handler
