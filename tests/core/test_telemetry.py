"""Structured logs and EMF metrics of both handlers: what operators see in CloudWatch."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import EVENTS
from serving import api, batch

from amex_scoring.events import http_api_v2, s3_put
from amex_scoring.invoke import LambdaContext
from lambda_function.s3 import s3_client


def records(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def metric_values(lines: list[dict[str, Any]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for line in lines:
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                values[metric["Name"]] = {
                    "value": line[metric["Name"]],
                    "dimensions": directive["Dimensions"],
                    **{d: line.get(d) for dims in directive["Dimensions"] for d in dims},
                }
    return values


def test_api_flushes_metrics_each_invocation_and_logs_no_customer_data(capsys: pytest.CaptureFixture[str]) -> None:
    event = json.loads((EVENTS / "api-predict.json").read_text())
    customer = json.loads(event["body"])
    context = LambdaContext("api", 30)
    capsys.readouterr()
    assert api.handler(event, context)["statusCode"] == 200
    lines = records(capsys)
    # A success is in API Gateway's access log (template.yaml), not repeated here at INFO.
    assert not [line for line in lines if line.get("message") == "request"]
    metrics = metric_values(lines)
    assert metrics["CustomersScored"]["value"] == [1.0]
    assert metrics["Latency"]["value"][0] > 0
    text = json.dumps(lines)
    assert customer["customer_ID"] not in text  # no customer IDs ...
    assert repr(customer["P_2"]) not in text  # ... and no feature values in logs


def test_refused_requests_are_logged_with_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    context = LambdaContext("api", 30)
    capsys.readouterr()
    body = {"customer_ID": "someone-secret", "D_48": "not a number"}
    assert api.handler(http_api_v2("POST", "/v1/predict", body), context)["statusCode"] == 422
    lines = records(capsys)
    [request] = [line for line in lines if line.get("message") == "request"]
    assert request["request_id"] == context.aws_request_id and request["function_request_id"] == context.aws_request_id
    assert request["path"] == "/v1/predict" and request["status"] == 422 and request["latency_ms"] > 0
    assert "cold_start" in request
    assert "someone-secret" not in json.dumps(lines)


def test_successes_are_logged_at_debug(capsys: pytest.CaptureFixture[str]) -> None:
    """POWERTOOLS_LOG_LEVEL=DEBUG brings back a line per success."""
    event = json.loads((EVENTS / "api-health.json").read_text())
    api.logger.setLevel("DEBUG")
    try:
        capsys.readouterr()
        assert api.handler(event, LambdaContext("api", 30))["statusCode"] == 200
        [request] = [line for line in records(capsys) if line.get("message") == "request"]
        assert request["level"] == "DEBUG" and request["status"] == 200
    finally:
        api.logger.setLevel("INFO")


def test_rejections_are_counted_by_reason(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    api.handler(http_api_v2("POST", "/v1/predict", '{"customer_ID": '), LambdaContext("api", 30))
    api.handler(http_api_v2("POST", "/v1/predict", {"customer_ID": 5}), LambdaContext("api", 30))
    rejected = [line for line in records(capsys) if "RejectedRequests" in line]
    assert [line["reason"] for line in rejected] == ["malformed_json", "validation_error"]
    assert all(
        ["reason", "service"] in line["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
        or ["service", "reason"] in line["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
        for line in rejected
    )


def test_batch_logs_bucket_and_key_and_emits_scoring_metrics(
    capsys: pytest.CaptureFixture[str], bucket: str, statements_file: Path
) -> None:
    s3_client().upload_file(str(statements_file), bucket, "incoming/metrics.parquet")
    s3_client().put_object(Bucket=bucket, Key="incoming/broken.parquet", Body=b"nope")
    capsys.readouterr()
    batch.handler(s3_put("incoming/metrics.parquet", bucket=bucket), LambdaContext("batch", 900))
    lines = records(capsys)
    [scored] = [line for line in lines if line.get("message") == "scored"]
    assert scored["bucket"] == bucket and scored["key"] == "incoming/metrics.parquet" and scored["customers"] == 300
    metrics = metric_values(lines)
    assert metrics["CustomersScored"]["value"] == [300.0]
    assert metrics["RowsRead"]["value"][0] > 300
    assert 0 <= metrics["MaxPSI"]["value"][0] < 0.25 and "ScorePSI" in metrics
    import pyarrow.parquet as pq

    logged = json.dumps(lines)
    ids = set(pq.read_table(statements_file, columns=["customer_ID"])["customer_ID"].to_pylist())
    assert len(ids) == 300 and not [customer_id for customer_id in ids if customer_id in logged]

    batch.handler(s3_put("incoming/broken.parquet", bucket=bucket), LambdaContext("batch", 900))
    lines = records(capsys)
    assert metric_values(lines)["ErrorReports"]["value"] == [1.0]
    [warning] = [line for line in lines if line.get("message") == "error report written"]
    assert warning["level"] == "WARNING" and warning["key"] == "incoming/broken.parquet"


def test_metrics_are_written_even_when_the_handler_fails_and_cold_start_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lambda_function.telemetry import MAX_VALUES, Metrics, MetricUnit

    metrics = Metrics()

    @metrics.log_metrics
    def handler(event: Any, context: Any) -> str:
        for _ in range(event["points"]):
            metrics.add_metric(name="Seen", unit=MetricUnit.Milliseconds, value=2)
        if event["fail"]:
            raise RuntimeError("boom")
        return "ok"

    capsys.readouterr()
    assert handler({"points": 1, "fail": False}, LambdaContext("scorer", 30)) == "ok"
    with pytest.raises(RuntimeError):
        handler({"points": MAX_VALUES + 50, "fail": True}, LambdaContext("scorer", 30))
    lines = records(capsys)
    [cold] = [line for line in lines if "ColdStart" in line]
    assert cold["ColdStart"] == [1.0] and cold["function_name"] == "amex-scoring-scorer"
    assert cold["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["function_name", "service"]]
    seen = [line for line in lines if "Seen" in line]
    assert [len(line["Seen"]) for line in seen] == [1, MAX_VALUES, 50]  # at most 100 values a line
    declared = seen[0]["_aws"]["CloudWatchMetrics"][0]
    assert declared["Namespace"] == "AmexScoring" and declared["Metrics"] == [{"Name": "Seen", "Unit": "Milliseconds"}]
    assert declared["Dimensions"] == [["service"]] and seen[0]["service"] == "amex-scoring"
    assert abs(seen[0]["_aws"]["Timestamp"] / 1000 - time.time()) < 60
