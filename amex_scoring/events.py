"""Writes `events/`: realistic Lambda events for `sam local invoke -e` and the tests.

Regenerate with `make events` after replacing the committed model; the customers are
synthetic AmEx-layout statements.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pyarrow.parquet as pq

from .recipe import DEFAULT_MODEL_NAME
from .synth import write_synthetic

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = f"amex-scoring-data-{ACCOUNT}-{REGION}"
INPUT_KEY = "incoming/statements 2026-11+été.parquet"  # a space, a plus and non-ASCII
# The dataset job's events name this file (events/data/), at this key of BUCKET: its bytes are
# fixed, so the shard event's ETag and plan digest are those the plan step computes for it.
DATASET = "datasets/2026-11/"
DATASET_FILE = "statements.csv"
JOB_OUTPUT = "scored/2026-11/"
JOB_FILE = "jobs/2026-11.json"
LABELS_KEY = "labels/2026-11.csv"  # the monitor joins the captured decisions to it


def _customers(count: int = 3) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "customers.parquet"
        write_synthetic(path, count, statements=2, seed=2026)
        rows = pq.read_table(path).to_pylist()
    return [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()} for row in rows]


def http_api_v2(
    method: str, path: str, body: Any = None, query: str = "", stage: str = "$default", function_url: bool = False
) -> dict[str, Any]:
    api_id = "a1b2c3d4e5"
    domain = (
        f"{api_id}abcdefghijklmnopqrstuvw.lambda-url.{REGION}.on.aws"
        if function_url
        else f"{api_id}.execute-api.{REGION}.amazonaws.com"
    )
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default" if function_url else f"{method} {path}",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {
            "accept": "application/json",
            "content-length": "0",
            "host": domain,
            "user-agent": "curl/8.5.0",
            "x-amzn-trace-id": "Root=1-67891233-abcdef012345678912345678",
            "x-forwarded-for": "198.51.100.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "anonymous" if function_url else ACCOUNT,
            "apiId": api_id,
            "domainName": domain,
            "domainPrefix": api_id,
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.7",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": "$default" if function_url else f"{method} {path}",
            "stage": "$default" if function_url else stage,
            "time": "29/Nov/2026:09:30:00 +0000",
            "timeEpoch": 1796031000000,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(part.split("=", 1) for part in query.split("&"))
    if body is not None:
        text = body if isinstance(body, str) else json.dumps(body)
        event["headers"]["content-type"] = "application/json"
        event["headers"]["content-length"] = str(len(text.encode()))
        event["body"] = text
    return event


def rest_api_v1(method: str, path: str, body: Any = None, stage: str = "Prod") -> dict[str, Any]:
    text = None if body is None else json.dumps(body)
    headers = {
        "Accept": "application/json",
        "Host": f"a1b2c3d4e5.execute-api.{REGION}.amazonaws.com",
        "User-Agent": "python-requests/2.32.3",
        "X-Forwarded-For": "198.51.100.7",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    if text is not None:
        headers["Content-Type"] = "application/json"
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourceId": "abc123",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "extendedRequestId": "c6af9ac6-EXT",
            "requestTime": "29/Nov/2026:09:30:00 +0000",
            "path": f"/{stage}{path}",
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": "a1b2c3d4e5",
            "requestTimeEpoch": 1796031000000,
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {
                "sourceIp": "198.51.100.7",
                "userAgent": "python-requests/2.32.3",
                "user": None,
                "accountId": None,
                "caller": None,
                "accessKey": None,
            },
            "domainName": f"a1b2c3d4e5.execute-api.{REGION}.amazonaws.com",
            "apiId": "a1b2c3d4e5",
        },
        "body": text,
        "isBase64Encoded": False,
    }


def s3_put(key: str, bucket: str = BUCKET, size: int = 1048576, version_id: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2026-11-29T09:30:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
                "requestParameters": {"sourceIPAddress": "198.51.100.7"},
                "responseElements": {
                    "x-amz-request-id": "C3D13FE58DE4C810",
                    "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "ScoreFileFunctionS3Event",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    # S3 sends keys form-encoded: a space as +, a plus as %2B, UTF-8 percent-encoded.
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                        "sequencer": "0A1B2C3D4E5F678901",
                    },
                },
            }
        ]
    }
    if version_id is not None:  # a versioned bucket's events name the version
        event["Records"][0]["s3"]["object"]["versionId"] = version_id
    return event


def v2_infer(customers: list[dict[str, Any]], binary: bool, model: str = DEFAULT_MODEL_NAME) -> dict[str, Any]:
    """An Open Inference Protocol request of these customers' statements, one input per field
    (numbers as FP64, text as BYTES); with `binary`, as the binary tensor extension sends it,
    which API Gateway hands to Lambda base64-encoded."""
    import base64
    import struct

    names = sorted({name for customer in customers for name in customer}, key=lambda n: (n != "customer_ID", n))
    inputs, data = [], []
    for name in names:
        values = [customer.get(name) for customer in customers]
        text = name in ("customer_ID", "S_2") or any(isinstance(v, str) for v in values)
        tensor: dict[str, Any] = {"name": name, "shape": [len(values)], "datatype": "BYTES" if text else "FP64"}
        if text:
            values = ["" if v is None else str(v) for v in values]
        else:
            values = [float("nan") if v is None else float(v) for v in values]
        if binary:
            raw = (
                b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)
                if text
                else struct.pack(f"<{len(values)}d", *values)
            )
            tensor["parameters"] = {"binary_data_size": len(raw)}
            data.append(raw)
        else:  # JSON has no NaN: a missing number is null, which this server reads as missing
            tensor["data"] = [None if v != v else v for v in values]
        inputs.append(tensor)
    outputs = [{"name": n, "parameters": {"binary_data": binary}} for n in ("customer_ID", "probability", "default")]
    header = json.dumps({"id": "v2-example", "inputs": inputs, "outputs": outputs}).encode()
    event = http_api_v2("POST", f"/v2/models/{model}/infer", None)
    if binary:
        event["body"] = base64.b64encode(header + b"".join(data)).decode()
        event["isBase64Encoded"] = True
        event["headers"]["content-type"] = "application/octet-stream"
        event["headers"]["inference-header-content-length"] = str(len(header))
    else:
        event["body"] = header.decode()
        event["headers"]["content-type"] = "application/json"
    event["headers"]["content-length"] = str(len(header) + sum(map(len, data)))
    return event


def statements_csv(customers: list[dict[str, Any]]) -> bytes:
    """The customers' statements as a CSV file, byte for byte the same on every machine (numbers
    as Python writes them, a missing value empty)."""
    columns = list(customers[0])
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for row in customers:
        writer.writerow(["" if row.get(name) is None else row[name] for name in columns])
    return text.getvalue().encode()


def dataset_events(data: bytes) -> dict[str, Any]:
    """The ScoreDataset tasks' events for `data` at BUCKET/DATASET/DATASET_FILE: StartExecution's
    input to the plan task, a job file's EventBridge event, one Map item to the shard task, and
    the reduce task's input (the plan's result with the Map's), as the state machine passes them."""
    job = {"input": f"s3://{BUCKET}/{DATASET}", "output": f"s3://{BUCKET}/{JOB_OUTPUT}"}
    file = {"uri": job["input"] + DATASET_FILE, "size": len(data), "etag": hashlib.md5(data).hexdigest()}
    shard = {"index": 0, "file": {**file, "version_id": None}, "format": "csv", "row_groups": None, "rows": None}
    shard.update(file_rows=None, footer_error=None, plan="")
    digest = hashlib.sha256(json.dumps([shard]).encode()).hexdigest()[:16]  # as dataset_plan.plan_dataset
    plan = {**job, "files": 1, "shards": 1, "rows": 0, "shard_rows": 2_000_000}
    plan["skipped_not_data"] = {"count": 0, "first": []}  # staging copies, _SUCCESS markers: none here
    planned = {
        **plan,
        "items": {"bucket": BUCKET, "key": f"{JOB_OUTPUT}_work/shards.json"},
        "tolerated_failure_percentage": 0.0,
        "max_concurrency": 1000,
    }
    map_result = {"MapRunArn": f"arn:aws:states:{REGION}:{ACCOUNT}:mapRun:ScoreDataset/example:1"}
    return {
        "dataset-plan.json": job,
        "dataset-job-file.json": eventbridge_object_created(JOB_FILE, len(job_file())),
        "dataset-shard.json": {"shard": {**shard, "plan": digest}, "output": job["output"]},
        "dataset-reduce.json": {**planned, "map": {"ResultWriterDetails": {"Bucket": BUCKET}, **map_result}},
    }


def job_file() -> bytes:
    """A job file for DATASET, uploaded under jobs/: its output defaults to scored/<its name>/."""
    return json.dumps({"input": f"s3://{BUCKET}/{DATASET}"}).encode()


def eventbridge_object_created(key: str, size: int) -> dict[str, Any]:
    """S3's "Object Created" event as EventBridge delivers it (the data bucket sends them all)."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2026-11-29T09:30:00Z",
        "region": REGION,
        "resources": [f"arn:aws:s3:::{BUCKET}"],
        "detail": {
            "version": "0",
            "bucket": {"name": BUCKET},
            "object": {"key": key, "size": size, "etag": "b1946ac92492d2347c6235b4d2611184", "sequencer": "0061"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": ACCOUNT,
            "source-ip-address": "198.51.100.7",
            "reason": "PutObject",
        },
    }


def deploy_hook_event() -> dict[str, Any]:
    """What CodeDeploy sends a pre-traffic hook (the versions to check are in its environment)."""
    return {
        "DeploymentId": "d-EXAMPLE111",
        "LifecycleEventHookExecutionId": "eyJkZXBsb3ltZW50SWQiOiJkLUVYQU1QTEUxMTEifQ==",
    }


def labels_csv(customers: list[dict[str, Any]]) -> bytes:
    """Kaggle's labels layout for the customers: the first defaulted, the others did not."""
    ids = list(dict.fromkeys(customer["customer_ID"] for customer in customers))
    return ("customer_ID,target\n" + "".join(f"{c},{int(k == 0)}\n" for k, c in enumerate(ids))).encode()


def write_events(folder: str | Path = "events") -> list[Path]:
    folder = Path(folder)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    customers = _customers()
    data = statements_csv(customers)
    (folder / "data" / DATASET_FILE).write_bytes(data)
    (folder / "data" / "2026-11.json").write_bytes(job_file())
    (folder / "data" / "labels-2026-11.csv").write_bytes(labels_csv(customers))
    one = customers[-1]
    batch = {"customers": customers}  # several statements per customer, as a client would send
    bad = {**one, "D_48": "high"}  # a model input that is not a number
    events = {
        "api-predict.json": http_api_v2("POST", "/v1/predict", one),
        "api-predict-batch.json": rest_api_v1("POST", "/v1/predict", batch),
        "api-explain.json": http_api_v2("POST", "/v1/predict", one, query="explain=5", function_url=True),
        "api-legacy-predict.json": rest_api_v1("POST", "/predict", one),
        "api-health.json": http_api_v2("GET", "/health", stage="prod"),
        "api-model.json": rest_api_v1("GET", "/v1/model"),
        "api-docs.json": rest_api_v1("GET", "/docs"),
        "api-invalid.json": http_api_v2("POST", "/v1/predict", bad),
        "api-v2-infer.json": v2_infer(customers, binary=False),
        "api-v2-infer-binary.json": v2_infer(customers, binary=True),
        "s3-put.json": s3_put(INPUT_KEY),
        "s3-put-csv.json": s3_put("incoming/2026/11/statements.csv.gz"),
        "s3-output-ignored.json": s3_put("scored/statements 2026-11+été.parquet"),
        **dataset_events(data),
        "deploy-hook.json": deploy_hook_event(),
        "monitor-daily.json": {},  # what the schedule sends (template.yaml: MonitorFunction's Daily)
        "monitor-labels.json": eventbridge_object_created(LABELS_KEY, len(labels_csv(customers))),
    }
    written = [folder / "data" / DATASET_FILE, folder / "data" / "2026-11.json", folder / "data" / "labels-2026-11.csv"]
    for name, event in events.items():
        path = folder / name
        path.write_text(json.dumps(event, indent=1, ensure_ascii=False) + "\n")
        written.append(path)
    return written
