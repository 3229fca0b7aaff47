"""Capture records from every scoring path: the same customers through /v1, V2, the batch
function and a dataset shard carry the answer's probability, the scored statement's date and
the inputs as received and as used; a failed delivery is in the log and the metric while the
answer stands; Firehose is moto's, over HTTP.

AWS's code here: boto3 (S3 and Firehose clients, as in Lambda). What stands in: moto's server
for S3 and Firehose (moto delivers a stream's records to its S3 destination at once, as JSON
lines, where Firehose would buffer them and convert them to Parquet with the Glue table: the
records the function sends are what is checked).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import httpx
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from helpers import EVENTS, SYNTHETIC_MODEL, get, invoke_with, keys_in, served, upload
from serving import LOADED, http_handler

from amex_scoring.events import http_api_v2, statements_csv, v2_infer
from amex_scoring.invoke import LambdaContext
from lambda_function.core.scoring import Loaded
from lambda_function.monitoring.capture import SCHEMA
from lambda_function.monitoring.delivery import FirehoseSink, json_records
from lambda_function.monitoring.recorder import CaptureRecorder
from lambda_function.settings import Settings

MODEL = LOADED.model
NUMERIC, CATEGORY = "B_7", "B_38"  # an input of the synthetic model of each kind


@pytest.fixture(scope="module")
def customers() -> list[dict[str, Any]]:
    """Three customers, two statements each; the first misses a number in its latest statement,
    the second sends a category training never saw, the third a category as a number."""
    found = json.loads(json.loads((EVENTS / "api-predict-batch.json").read_text())["body"])["customers"]
    found = copy.deepcopy(found)
    latest = {c["customer_ID"]: c for c in sorted(found, key=lambda c: c["S_2"])}
    first, second, third = latest.values()
    first[NUMERIC] = None
    second[CATEGORY] = "never-seen"
    third[CATEGORY] = 4
    return list(found)


def records(folder: Path) -> list[dict[str, Any]]:
    table = ds.dataset(folder, format="parquet", partitioning="hive").to_table()
    return table.to_pylist()


def http(settings: Settings, event: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    handler = http_handler(MODEL, settings)
    answer = handler.handler(event, LambdaContext("api", 30))
    assert handler.capture is not None
    handler.capture.flush()
    return answer, records(Path(str(settings.capture_uri)))


def check_inputs(record: dict[str, Any], customer: dict[str, Any]) -> None:
    received, used = dict(record["received_numeric"]), dict(record["used_numeric"])
    texts, learnt = dict(record["received_category"]), dict(record["used_category"])
    if customer[NUMERIC] is None:
        assert received[NUMERIC] is None and NUMERIC in record["imputed"]
        assert used[NUMERIC] == pytest.approx(MODEL.pipeline.imputation[NUMERIC])
    else:
        assert received[NUMERIC] == used[NUMERIC] == customer[NUMERIC] and NUMERIC not in record["imputed"]
    if customer[CATEGORY] == "never-seen":
        assert texts[CATEGORY] == "never-seen" and learnt[CATEGORY] is None and CATEGORY in record["unseen"]
    elif customer[CATEGORY] == 4:
        assert texts[CATEGORY] == "4" and learnt[CATEGORY] == "4.0" and not record["unseen"]


def test_v1_v2_batch_and_dataset_capture_the_answers_decisions(
    customers: list[dict[str, Any]], tmp_path: Path, bucket: str
) -> None:
    latest = {c["customer_ID"]: c for c in sorted(customers, key=lambda c: c["S_2"])}
    settings = Settings(capture_uri=str(tmp_path / "v1"))
    answer, v1 = http(settings, http_api_v2("POST", "/v1/predict", {"customers": customers}))
    predictions = json.loads(answer["body"])["predictions"]
    assert [r["customer_ID"] for r in v1] == [p["customer_ID"] for p in predictions]
    for record, prediction in zip(v1, predictions, strict=True):
        assert record["probability"] == prediction["probability"] and record["default"] == prediction["default"]
        assert record["warnings"] == prediction["warnings"] and record["source"] == "v1"
        assert record["request_id"] == answer["headers"]["x-request-id"]
        assert record["statement_date"] == dt.date.fromisoformat(latest[record["customer_ID"]]["S_2"])
        assert (record["model_name"], record["model_version"], record["threshold"]) == (
            MODEL.name,
            MODEL.version,
            MODEL.threshold,
        )
        check_inputs(record, latest[record["customer_ID"]])
    probabilities = {r["customer_ID"]: r["probability"] for r in v1}

    _, v2 = http(Settings(capture_uri=str(tmp_path / "v2")), v2_infer(customers, binary=True))
    assert {r["customer_ID"]: r["probability"] for r in v2} == probabilities
    assert {r["source"] for r in v2} == {"v2"}
    for record in v2:
        check_inputs(record, latest[record["customer_ID"]])

    upload(bucket, "incoming/book.csv", statements_csv(customers))
    loaded = Loaded(Settings(capture_uri=f"s3://{bucket}/captures/"), MODEL)
    result, _ = invoke_with(loaded, bucket, "incoming/book.csv")
    assert result["capture"] == "written"
    [key] = [k for k in keys_in(bucket) if k.startswith("captures/date=")]
    batch = pq.read_table(pa.BufferReader(get(bucket, key))).to_pylist()
    scored = pq.read_table(pa.BufferReader(get(bucket, "scored/book.csv.predictions.parquet")))
    assert {r["customer_ID"]: r["probability"] for r in batch} == dict(
        zip(scored["customer_ID"].to_pylist(), scored["prediction"].to_pylist(), strict=True)
    )
    assert {r["customer_ID"]: r["probability"] for r in batch} == pytest.approx(probabilities, abs=1e-12)
    first = next(r for r in batch if latest[r["customer_ID"]][NUMERIC] is None)
    assert first["request_id"] == f"s3://{bucket}/incoming/book.csv" and NUMERIC in first["imputed"]
    assert first["used_numeric"] is None  # a file's inputs are referenced, not copied


def test_a_dataset_shard_captures_its_customers(customers: list[dict[str, Any]], tmp_path: Path) -> None:
    from amex_scoring.dataset import score_dataset

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "book.csv").write_bytes(statements_csv(customers))
    with mock.patch.dict(os.environ, {"CAPTURE_URI": str(tmp_path / "captures")}):
        score_dataset(str(MODEL.uri), str(tmp_path / "in"), str(tmp_path / "out"))
    found = records(tmp_path / "captures")
    parts = ds.dataset(tmp_path / "out", format="parquet", exclude_invalid_files=True).to_table()
    assert {r["customer_ID"]: r["probability"] for r in found} == dict(
        zip(parts["customer_ID"].to_pylist(), parts["prediction"].to_pylist(), strict=True)
    )
    assert {r["source"] for r in found} == {"dataset"} and len(found) == 3


@pytest.mark.parametrize(("inputs", "kept"), [("used", {"used_numeric", "used_category"}), ("none", set())])
def test_capture_inputs_leaves_out_what_it_says(
    customers: list[dict[str, Any]], tmp_path: Path, inputs: str, kept: set[str]
) -> None:
    settings = Settings(capture_uri=str(tmp_path), capture_inputs=inputs)
    _, found = http(settings, http_api_v2("POST", "/v1/predict", {"customers": customers}))
    maps = {"received_numeric", "received_category", "used_numeric", "used_category"}
    for record in found:
        assert {name for name in maps if record[name] is not None} == kept
        assert record["imputed"] or record["unseen"] or record["customer_ID"]  # the decision is still there


def test_requests_are_sampled_whole(customers: list[dict[str, Any]], tmp_path: Path) -> None:
    handler = http_handler(MODEL, Settings(capture_uri=str(tmp_path), capture_sample_rate=0.5))
    assert handler.capture is not None
    for chance, kept in ((0.7, 0), (0.2, 3)):
        handler.capture._chance = lambda chance=chance: chance  # type: ignore[misc]
        handler.handler(http_api_v2("POST", "/v1/predict", {"customers": customers}), LambdaContext("api", 30))
        assert handler.capture.flush() == kept


def test_firehose_receives_every_record(customers: list[dict[str, Any]], s3_endpoint: str, bucket: str) -> None:
    with mock.patch.dict(os.environ, {"AWS_ENDPOINT_URL_FIREHOSE": s3_endpoint, "AWS_DEFAULT_REGION": "us-east-1"}):
        boto3.client("firehose").create_delivery_stream(
            DeliveryStreamName="captures",
            ExtendedS3DestinationConfiguration={
                "BucketARN": f"arn:aws:s3:::{bucket}",
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "Prefix": "captures/",
            },
        )
        recorder = CaptureRecorder(MODEL, "firehose:captures")
        handler = http_handler(MODEL, Settings())
        handler.app.state.service.capture = recorder
        handler.handler(http_api_v2("POST", "/v1/predict", {"customers": customers}), LambdaContext("api", 30))
        table = _pending_table(recorder)
        FirehoseSink("captures").write(table, "http")
    delivered = [json.loads(line) for key in keys_in(bucket) for line in get(bucket, key).decode().splitlines()]
    assert delivered == json.loads(json.dumps(json_records(table), default=str))
    assert {r["customer_ID"] for r in delivered} == {c["customer_ID"] for c in customers}
    assert set(delivered[0]) == set(SCHEMA.names)


def _pending_table(recorder: CaptureRecorder) -> pa.Table:
    from lambda_function.monitoring.capture import capture_table

    return pa.concat_tables([capture_table(MODEL, d) for d in recorder._pending])


def test_a_delivery_that_fails_is_logged_with_its_records_and_the_answer_stands(
    customers: list[dict[str, Any]], s3_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    environment = {"AWS_ENDPOINT_URL_FIREHOSE": s3_endpoint, "AWS_DEFAULT_REGION": "us-east-1"}
    with mock.patch.dict(os.environ, environment):
        handler = http_handler(MODEL, Settings(capture_uri="firehose:no-such-stream"))
        answer = handler.handler(http_api_v2("POST", "/v1/predict", {"customers": customers}), LambdaContext("api", 30))
        assert answer["statusCode"] == 200
        capsys.readouterr()
        assert handler.capture is not None and handler.capture.flush() == 3
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    undelivered = [line for line in lines if line.get("message") == "capture undelivered"]
    assert sorted(json.loads(line["record"])["customer_ID"] for line in undelivered) == sorted(
        {c["customer_ID"] for c in customers}
    )
    [metric] = [line for line in lines if "CaptureRecordsUndelivered" in line]
    assert metric["CaptureRecordsUndelivered"] == [3.0]


def test_serve_and_invoke_write_the_records_locally(customers: list[dict[str, Any]], tmp_path: Path) -> None:
    """`amex-scoring serve` delivers from its background thread (every second); `invoke` when it ends."""
    with served(SYNTHETIC_MODEL, {"CAPTURE_URI": str(tmp_path / "serve")}) as (url, _):
        answer = httpx.post(f"{url}/v1/predict", json={"customers": customers}).json()
        deadline = time.monotonic() + 10
        while not list((tmp_path / "serve").rglob("*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.2)
    found = records(tmp_path / "serve")
    assert {(r["customer_ID"], r["probability"]) for r in found} == {
        (p["customer_ID"], p["probability"]) for p in answer["predictions"]
    }
    command = [sys.executable, "-m", "amex_scoring.cli", "invoke", "--event", str(EVENTS / "api-predict-batch.json")]
    command += ["--model", str(SYNTHETIC_MODEL)]
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "CAPTURE_URI": str(tmp_path / "invoke")}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(records(tmp_path / "invoke")) == 3
