"""The S3 batch function: a statements file lands under INPUT_PREFIX, its scores appear.

For every input object there is, in the end, either a complete output (predictions and a
summary, each written in one PUT) or an error report. Bad input is reported and the
invocation returns normally (a retry cannot fix it); transient S3 failures raise, so
Lambda's retries and the on-failure destination take over.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import numpy as np
from botocore.exceptions import ClientError

from .drift import drift_report
from .s3 import s3_client
from .scoring import Model
from .settings import Settings
from .statements import InputError, OutOfTime, ScoredFile, encode_predictions, input_format, score_statements
from .telemetry import MetricUnit, logger, metrics

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str


def objects_in(event: dict[str, Any]) -> list[S3Object]:
    """The objects an S3 notification (or EventBridge "Object Created") event names."""
    if event.get("detail-type") == "Object Created" and "detail" in event:
        detail = event["detail"]  # EventBridge keys are not URL-encoded
        return [S3Object(detail["bucket"]["name"], detail["object"]["key"])]
    found = []
    for record in event.get("Records") or []:
        wrapped = _unwrap(record)  # S3 -> SQS -> Lambda, or S3 -> SNS -> Lambda
        if wrapped is not None:
            found.extend(objects_in(wrapped))
            continue
        if record.get("eventSource") != "aws:s3" or not str(record.get("eventName", "")).startswith("ObjectCreated"):
            logger.info(
                "skipping record",
                extra={"event_source": record.get("eventSource"), "event_name": record.get("eventName")},
            )
            continue
        # Notification keys are form-encoded: `+` is a space, `%2B` a plus.
        found.append(S3Object(record["s3"]["bucket"]["name"], unquote_plus(record["s3"]["object"]["key"])))
    return found


def _unwrap(record: dict[str, Any]) -> dict[str, Any] | None:
    """The S3 event inside an SQS message body or an SNS message, if the record is one."""
    if record.get("eventSource") == "aws:sqs":
        text = record.get("body")
    elif record.get("EventSource") == "aws:sns":
        text = (record.get("Sns") or {}).get("Message")
    else:
        return None
    inner = _json_object(text, record)
    if inner.get("Type") == "Notification" and isinstance(inner.get("Message"), str):
        # S3 -> SNS -> SQS without raw message delivery: the body is SNS's envelope.
        inner = _json_object(inner["Message"], record)
    return inner


def _json_object(text: str | None, record: dict[str, Any]) -> dict[str, Any]:
    try:
        inner = json.loads(text or "")
    except ValueError:
        logger.warning("skipping a message that is not JSON", extra={"event_source": record.get("eventSource")})
        return {}
    return inner if isinstance(inner, dict) else {}


@dataclass(frozen=True)
class OutputKeys:
    predictions: str
    summary: str
    error: str


def output_keys(key: str, settings: Settings) -> OutputKeys:
    """Derived from the input key alone, so a retry overwrites rather than adds."""
    relative = key[len(settings.input_prefix) :]
    fmt = input_format(relative) or ""
    stem = relative[: -len(fmt) - 1] if fmt else relative
    return OutputKeys(
        predictions=f"{settings.output_prefix}{stem}.{settings.output_format}",
        summary=f"{settings.output_prefix}{stem}.summary.json",
        error=f"{settings.error_prefix}{relative}.error.json",
    )


def skip_reason(obj: S3Object, settings: Settings) -> str | None:
    for prefix in (settings.output_prefix, settings.error_prefix):
        if obj.key.startswith(prefix) and (settings.output_bucket in (None, obj.bucket)):
            return f"key is under the function's own output prefix {prefix!r}"
    if not obj.key.startswith(settings.input_prefix):
        return f"key is not under INPUT_PREFIX {settings.input_prefix!r}"
    if input_format(obj.key) is None:
        return "key does not end in .parquet, .csv or .csv.gz"
    return None


def _is_missing(error: ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def _s3_reader(bucket: str, key: str, fmt: str) -> Callable[[], Any]:
    """Opens the object through pyarrow's S3 filesystem: only the needed columns are fetched."""
    import boto3
    import pyarrow as pa
    from pyarrow import fs

    client = s3_client()
    credentials = boto3.Session().get_credentials()
    frozen = credentials.get_frozen_credentials() if credentials else None
    endpoint = client.meta.endpoint_url
    filesystem = fs.S3FileSystem(
        access_key=frozen.access_key if frozen else None,
        secret_key=frozen.secret_key if frozen else None,
        session_token=frozen.token if frozen else None,
        region=client.meta.region_name,
        endpoint_override=None if endpoint.endswith(".amazonaws.com") else endpoint,
        retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=5),
    )
    path = f"{bucket}/{key}"

    def open_file() -> pa.NativeFile:
        return (
            filesystem.open_input_file(path)
            if fmt == "parquet"
            else filesystem.open_input_stream(path, compression=None)
        )

    return open_file


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class BatchScorer:
    """Scores S3 objects with one loaded model; one instance per container."""

    def __init__(self, model: Model, settings: Settings) -> None:
        self.model, self.settings = model, settings

    def _put_json(self, bucket: str, key: str, body: dict[str, Any]) -> None:
        data = json.dumps(body, indent=1, allow_nan=False, default=str).encode()
        s3_client().put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")

    def _model_info(self) -> dict[str, Any]:
        return {"name": self.model.name, "version": self.model.version, "checksum": self.model.checksum}

    def process(self, obj: S3Object, remaining_ms: Callable[[], int]) -> dict[str, Any]:
        settings = self.settings
        reason = skip_reason(obj, settings)
        if reason is not None:
            logger.info("skipping object", extra={"bucket": obj.bucket, "key": obj.key, "reason": reason})
            metrics.add_metric(name="ObjectsSkipped", unit=MetricUnit.Count, value=1)
            return {"bucket": obj.bucket, "key": obj.key, "status": "skipped", "reason": reason}
        out_bucket = settings.output_bucket or obj.bucket
        keys = output_keys(obj.key, settings)
        fmt = input_format(obj.key) or ""
        start = time.perf_counter()
        source: dict[str, Any] = {"bucket": obj.bucket, "key": obj.key}
        logger.append_keys(bucket=obj.bucket, key=obj.key)

        def report(kind: str, message: str, **extra: Any) -> dict[str, Any]:
            body = {
                "status": "error",
                "error": kind,
                "message": message,
                "input": source,
                "model": self._model_info(),
                "time": _now(),
                **extra,
            }
            self._put_json(out_bucket, keys.error, body)
            metrics.add_metric(name="ErrorReports", unit=MetricUnit.Count, value=1)
            logger.warning("error report written", extra={"error": kind, "error_key": keys.error, "detail": message})
            return {
                **source,
                "status": "error",
                "error": kind,
                "message": message,
                "report": f"s3://{out_bucket}/{keys.error}",
            }

        try:
            head = s3_client().head_object(Bucket=obj.bucket, Key=obj.key)
        except ClientError as error:
            if _is_missing(error):
                return report(
                    "not_found",
                    f"s3://{obj.bucket}/{obj.key} does not exist (deleted since the event, "
                    "or the event's key was not URL-decoded)",
                )
            raise
        source.update(
            etag=head.get("ETag", "").strip('"'), version_id=head.get("VersionId"), size=head.get("ContentLength")
        )

        def out_of_time() -> bool:
            return remaining_ms() < settings.min_remaining_ms

        try:
            scored = score_statements(self.model, _s3_reader(obj.bucket, obj.key, fmt), fmt, out_of_time)
        except InputError as error:
            return report("invalid_input", str(error))
        except OutOfTime as error:
            return report(
                "timeout",
                f"stopped after reading {error.rows_read} statement rows with less than "
                f"{settings.min_remaining_ms} ms left; nothing was written. Raise the function's Timeout "
                "(and MemorySize, which also adds CPU), or split the file.",
                rows_read=error.rows_read,
            )
        if out_of_time():
            return report(
                "timeout",
                f"scored {scored.customers} customers but less than {settings.min_remaining_ms} "
                "ms are left to write them; nothing was written. Raise the function's Timeout.",
                rows_read=scored.rows_read,
            )
        body = encode_predictions(scored, self.model, settings.output_format)
        content_type = "text/csv" if settings.output_format == "csv" else "application/vnd.apache.parquet"
        s3_client().put_object(Bucket=out_bucket, Key=keys.predictions, Body=body, ContentType=content_type)
        summary = self.summary(scored, source, f"s3://{out_bucket}/{keys.predictions}", time.perf_counter() - start)
        self._put_json(out_bucket, keys.summary, summary)
        try:  # an earlier failure's report no longer applies
            s3_client().delete_object(Bucket=out_bucket, Key=keys.error)
        except ClientError:
            pass
        self._record_metrics(scored, summary)
        logger.info(
            "scored",
            extra={
                "customers": scored.customers,
                "rows_read": scored.rows_read,
                "output": keys.predictions,
                "seconds": summary["duration_seconds"],
            },
        )
        return {
            **source,
            "status": "scored",
            "customers": scored.customers,
            "output": f"s3://{out_bucket}/{keys.predictions}",
            "summary": f"s3://{out_bucket}/{keys.summary}",
        }

    def summary(self, scored: ScoredFile, source: dict[str, Any], output: str, seconds: float) -> dict[str, Any]:
        scores = scored.drift_inputs["score"]
        threshold = self.model.threshold
        result: dict[str, Any] = {
            "status": "scored",
            "input": source,
            "output": {"uri": output, "format": self.settings.output_format},
            "model": self._model_info(),
            "rows_read": scored.rows_read,
            "customers": scored.customers + sum(scored.skipped.values()),
            "customers_scored": scored.customers,
            "customers_skipped": scored.skipped,
            "statements_superseded": scored.rows_read - scored.customers - sum(scored.skipped.values()),
            "unseen_categories": scored.unseen,
            "duration_seconds": round(seconds, 3),
            "score_quantiles": {
                f"p{round(q * 100):02d}": round(float(v), 6)
                for q, v in zip(QUANTILES, np.quantile(scores, QUANTILES), strict=True)
            }
            if scores.size
            else {},
            "threshold": threshold,
            "share_default": round(float(np.mean(scores >= threshold)), 6) if scores.size else None,
            "time": _now(),
        }
        reference = self.model.artifacts.reference if self.model.artifacts else None
        if reference is not None and scores.size:
            result["drift"] = drift_report(reference, scored.drift_inputs)
        return result

    def _record_metrics(self, scored: ScoredFile, summary: dict[str, Any]) -> None:
        metrics.add_metric(name="CustomersScored", unit=MetricUnit.Count, value=scored.customers)
        metrics.add_metric(name="RowsRead", unit=MetricUnit.Count, value=scored.rows_read)
        metrics.add_metric(name="ScoringDuration", unit=MetricUnit.Seconds, value=summary["duration_seconds"])
        if "drift" in summary:
            metrics.add_metric(name="MaxPSI", unit=MetricUnit.NoUnit, value=summary["drift"]["max_psi"])
            score_psi = summary["drift"]["psi"].get("score")
            if score_psi is not None:
                metrics.add_metric(name="ScorePSI", unit=MetricUnit.NoUnit, value=score_psi["psi"])


def _load() -> tuple[BatchScorer | None, str | None]:
    try:
        settings = Settings.from_env()
        model = Model(
            settings.model_uri, cache_dir=settings.model_cache_dir, threshold=settings.decision_threshold
        ).load()
    except Exception as error:
        logger.exception("model failed to load")
        return None, str(error)
    return BatchScorer(model, settings), None


SCORER, LOAD_ERROR = _load()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if SCORER is None:  # raise, so the event goes to retries and the failure destination
        raise RuntimeError(f"model not loaded: {LOAD_ERROR}")
    objects = objects_in(event)
    if not objects:
        logger.info("no S3 objects in the event", extra={"event_keys": sorted(event)[:10]})
    remaining = getattr(context, "get_remaining_time_in_millis", None) or (lambda: 15 * 60 * 1000)
    return {"results": [SCORER.process(obj, remaining) for obj in objects]}
