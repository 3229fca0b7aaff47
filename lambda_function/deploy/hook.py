"""CodeDeploy's pre-traffic hook: the new versions must score the golden customers before any
traffic moves to them.

CodeDeploy calls this with `{"DeploymentId", "LifecycleEventHookExecutionId"}` after publishing
the new versions and before shifting the `live` alias. It invokes each new version directly (the
versions are named in its environment by the template): the HTTP function with an API Gateway
event carrying the golden customers (golden.py), the batch function with an S3 event for a file
of them under CHECK_PREFIX (which the S3 trigger does not watch). Every probability must equal the
model directory's to 1e-6. Then it reports Succeeded or Failed, always: a version whose model
will not load, a wrong score, an error or a timeout all fail the deployment, and CodeDeploy
leaves the alias where it was.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lambda_function.core.artifacts import load_artifacts, resolve_model_uri
from lambda_function.deploy.golden import TOLERANCE, golden_body
from lambda_function.s3 import s3_client
from lambda_function.settings import Settings
from lambda_function.telemetry import logger

# Kept back from the hook's own deadline for the report to CodeDeploy: without a report,
# CodeDeploy waits out the hook's whole timeout before it fails the deployment.
REPORT_MARGIN_SECONDS = 10
Deadline = Callable[[], float]  # seconds left before the hook must report


def _invoke(function: str, event: dict[str, Any], deadline: Deadline) -> dict[str, Any]:
    """One attempt (botocore retries a read timeout, which would invoke a hanging version
    again), waiting at most until the report margin before the hook's own deadline."""
    import boto3
    from botocore.config import Config

    wait = max(1.0, deadline() - REPORT_MARGIN_SECONDS)
    client = boto3.client("lambda", config=Config(read_timeout=wait, retries={"total_max_attempts": 1}))
    answer = client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    payload = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError"):  # Lambda's error shape: a failed start (init) or an unhandled exception
        shown = (
            payload if not isinstance(payload, dict) else f"{payload.get('errorType')}: {payload.get('errorMessage')}"
        )
        raise RuntimeError(f"{function} failed: {shown}")
    if not isinstance(payload, dict):
        raise RuntimeError(f"{function} answered {payload!r}")
    return payload


def _http_event(body: bytes) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) request for POST /v1/predict."""
    return {
        "version": "2.0",
        "routeKey": "POST /v1/predict",
        "rawPath": "/v1/predict",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "content-length": str(len(body))},
        "requestContext": {
            "http": {"method": "POST", "path": "/v1/predict", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": f"deploy-check-{uuid.uuid4()}",
            "stage": "$default",
        },
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def check_http(function: str, golden: dict[str, Any], deadline: Deadline) -> dict[str, float]:
    response = _invoke(function, _http_event(golden_body(golden)), deadline)
    if response.get("statusCode") != 200:
        raise RuntimeError(f"{function} answered {response.get('statusCode')}: {str(response.get('body'))[:300]}")
    return {p["customer_ID"]: p["probability"] for p in json.loads(response["body"])["predictions"]}


def _golden_file(golden: dict[str, Any]) -> bytes:
    """The golden statements as a Parquet file: numbers as numbers, a column with any text as text."""
    statements = [s for c in golden["customers"] for s in c["statements"]]
    names = sorted({name for s in statements for name in s})
    columns = {}
    for name in names:
        values = [s.get(name) for s in statements]
        text = any(isinstance(v, str) for v in values)
        columns[name] = pa.array([None if v is None else str(v) for v in values] if text else values)
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


def check_batch(
    function: str, golden: dict[str, Any], bucket: str, settings: Settings, deadline: Deadline
) -> dict[str, float]:
    key = f"{settings.check_prefix}{uuid.uuid4()}.parquet"
    s3_client().put_object(Bucket=bucket, Key=key, Body=_golden_file(golden))
    record = {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}
    event = {"Records": [{**record, "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]}
    [result] = _invoke(function, event, deadline)["results"]
    if result.get("status") != "scored":
        raise RuntimeError(f"{function} did not score the golden file: {result}")
    output_bucket, output_key = result["output"].removeprefix("s3://").split("/", 1)
    table = pq.read_table(io.BytesIO(s3_client().get_object(Bucket=output_bucket, Key=output_key)["Body"].read()))
    return dict(zip(table["customer_ID"].to_pylist(), table["prediction"].to_pylist(), strict=True))


def first_difference(golden: dict[str, Any], got: dict[str, float]) -> str | None:
    for customer in golden["customers"]:
        found = got.get(customer["customer_ID"])
        if found is None or not abs(found - customer["probability"]) <= TOLERANCE:
            return f"golden customer {customer['customer_ID']}: expected {customer['probability']!r}, got {found!r}"
    return None


def run_checks(environ: dict[str, str], settings: Settings, deadline: Deadline) -> str | None:
    """None when both new versions score every golden customer; otherwise what went wrong."""
    golden = load_artifacts(resolve_model_uri(settings.model_uri, settings.model_cache_dir)).golden
    if not golden:
        return "the model directory has no golden customers (golden.json)"
    found = {environ["API_FUNCTION_VERSION"]: check_http(environ["API_FUNCTION_VERSION"], golden, deadline)}
    if environ.get("BATCH_FUNCTION_VERSION"):
        function = environ["BATCH_FUNCTION_VERSION"]
        found[function] = check_batch(function, golden, environ["DATA_BUCKET"], settings, deadline)
    for function, got in found.items():
        problem = first_difference(golden, got)
        if problem is not None:
            return f"{function}: {problem}"
    return None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    def deadline() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000

    try:
        problem = run_checks(dict(os.environ), Settings.from_env(), deadline)
    except Exception as error:  # anything at all fails the deployment rather than letting it through
        problem = f"{type(error).__name__}: {error}"
    status = "Succeeded" if problem is None else "Failed"
    (logger.info if problem is None else logger.error)(
        "pre-traffic check", extra={"status": status, "problem": problem}
    )
    import boto3

    boto3.client("codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )
    return {"status": status, "problem": problem}
