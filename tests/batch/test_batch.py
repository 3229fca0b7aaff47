"""The S3 batch function against moto's S3 server over HTTP, with the production boto3/pyarrow code."""

from __future__ import annotations

import dataclasses
import gzip
import http.server
import io
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from helpers import SYNTHETIC_MODEL, get, invoke, keys_in, parquet_bytes, predictions, upload
from serving import batch

from amex_scoring.events import s3_put
from amex_scoring.invoke import LambdaContext
from lambda_function.core.scoring import Model
from lambda_function.s3 import s3_client
from lambda_function.settings import Settings


@pytest.fixture(scope="module")
def cli_scores(statements_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    from amex_scoring.cli import main

    out = tmp_path_factory.mktemp("cli") / "out.parquet"
    assert main(["score", "--model", str(SYNTHETIC_MODEL), str(statements_file), str(out)]) == 0
    table = pq.read_table(out)
    return dict(zip(table["customer_ID"].to_pylist(), table["prediction"].to_pylist(), strict=True))


def test_a_landed_file_is_scored_with_a_summary(bucket: str, statements_file: Path, cli_scores) -> None:
    upload(bucket, "incoming/march.parquet", statements_file)
    result = invoke(bucket, "incoming/march.parquet")
    assert result["status"] == "scored" and result["customers"] == 300
    assert keys_in(bucket) == [
        "incoming/march.parquet",
        "scored/march.parquet.predictions.parquet",
        "scored/march.parquet.summary.json",
    ]
    table = pq.read_table(io.BytesIO(get(bucket, "scored/march.parquet.predictions.parquet")))
    assert table.column_names == ["customer_ID", "prediction", "default", "model_version"]
    # the same scores as the CLI, exactly
    assert predictions(bucket, "scored/march.parquet.predictions.parquet") == cli_scores
    summary = json.loads(get(bucket, "scored/march.parquet.summary.json"))
    rows = pq.ParquetFile(statements_file).metadata.num_rows
    assert summary["input"]["key"] == "incoming/march.parquet"
    assert summary["input"]["size"] == statements_file.stat().st_size and len(summary["input"]["etag"]) == 32
    assert summary["rows_read"] == rows and summary["customers_scored"] == 300
    assert summary["statements_superseded"] == rows - 300
    assert summary["model"]["checksum"] == Model(str(SYNTHETIC_MODEL)).load().checksum
    quantiles = list(summary["score_quantiles"].values())
    assert quantiles == sorted(quantiles) and set(summary["score_quantiles"]) >= {"p01", "p50", "p99"}
    assert summary["share_default"] == pytest.approx(np.mean(np.array(list(cli_scores.values())) >= 0.5))
    assert summary["drift"]["psi"]["score"]["drift"] is False  # same generator as the training data
    assert set(summary["drift"]["psi"]) >= {"score", "D_48", "D_63"}


def test_shuffled_statements_in_many_row_groups_score_the_same(bucket: str, statements_file: Path, cli_scores) -> None:
    table = pq.read_table(statements_file)
    shuffled = table.take(np.random.default_rng(0).permutation(table.num_rows))
    upload(bucket, "incoming/shuffled.parquet", parquet_bytes(shuffled, row_group_size=97))
    assert pq.ParquetFile(io.BytesIO(get(bucket, "incoming/shuffled.parquet"))).num_row_groups > 20
    assert invoke(bucket, "incoming/shuffled.parquet")["status"] == "scored"
    assert predictions(bucket, "scored/shuffled.parquet.predictions.parquet") == cli_scores


@pytest.mark.parametrize(
    "key", ["incoming/my file.parquet", "incoming/a+b=c.parquet", "incoming/été/relevés 11.parquet"]
)
def test_keys_that_need_decoding(bucket: str, statements_file: Path, key: str) -> None:
    upload(bucket, key, statements_file)
    result = invoke(bucket, key)  # the event carries the key form-encoded, as S3 sends it
    assert result["status"] == "scored", result
    assert f"scored/{key.removeprefix('incoming/')}.predictions.parquet" in keys_in(bucket)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a readable Parquet file"),
        (b"customer_ID,S_2\nabc,2018-01-01\n", "not a readable Parquet file"),
        (b"PAR1" + b"\0" * 64 + b"PAR1", "not a readable Parquet file"),
    ],
)
def test_unreadable_files_get_an_error_report(bucket: str, data: bytes, message: str) -> None:
    upload(bucket, "incoming/bad.parquet", data)
    result = invoke(bucket, "incoming/bad.parquet")
    assert result["status"] == "error"
    assert keys_in(bucket) == ["errors/bad.parquet.error.json", "incoming/bad.parquet"]
    report = json.loads(get(bucket, "errors/bad.parquet.error.json"))
    assert report["error"] == "invalid_input" and message in report["message"]
    assert report["input"]["key"] == "incoming/bad.parquet" and report["input"]["size"] == len(data)


def _report(bucket: str, table: pa.Table, name: str = "bad") -> str:
    upload(bucket, f"incoming/{name}.parquet", parquet_bytes(table))
    assert invoke(bucket, f"incoming/{name}.parquet")["status"] == "error"
    assert not [k for k in keys_in(bucket) if k.startswith("scored/")]
    return json.loads(get(bucket, f"errors/{name}.parquet.error.json"))["message"]


def test_structural_problems_are_reported_precisely(bucket: str, statements_file: Path) -> None:
    table = pq.read_table(statements_file)
    assert _report(bucket, table.slice(0, 0), "empty") == "the file has no statement rows"
    assert _report(bucket, table.drop_columns(["S_2", "D_63"]), "cols") == "missing required columns: S_2, D_63"
    as_text = table.set_column(table.schema.get_field_index("D_48"), "D_48", pc_cast(table["D_48"], pa.string()))
    assert _report(bucket, as_text, "types") == "column D_48 has type string, expected a number"
    ids = table["customer_ID"].to_pylist()
    ids[5] = None
    ids[9] = ""
    nulls = table.set_column(0, "customer_ID", pa.array(ids, pa.string()))
    assert _report(bucket, nulls, "ids") == (
        "column customer_ID: 2 rows have an ID that is not a string of 1 to 256 characters, not all blank "
        "(first at row 5)"
    )
    dates = table["S_2"].to_pylist()
    dates[3] = "13/01/2018"
    bad_dates = table.set_column(1, "S_2", pa.array(dates, pa.string()))
    assert _report(bucket, bad_dates, "dates") == (
        "column S_2 row 3: '13/01/2018' is not a date YYYY-MM-DD, optionally with a time of day hh:mm[:ss[.f]] "
        "and an offset"
    )


def pc_cast(column: pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
    import pyarrow.compute as pc

    return pc.cast(column, kind)


def test_a_second_delivery_overwrites_with_the_same_bytes(bucket: str, statements_file: Path) -> None:
    upload(bucket, "incoming/twice.parquet", statements_file)
    invoke(bucket, "incoming/twice.parquet")
    first = get(bucket, "scored/twice.parquet.predictions.parquet")
    invoke(bucket, "incoming/twice.parquet")
    assert get(bucket, "scored/twice.parquet.predictions.parquet") == first
    assert keys_in(bucket) == [
        "incoming/twice.parquet",
        "scored/twice.parquet.predictions.parquet",
        "scored/twice.parquet.summary.json",
    ]


@pytest.mark.parametrize(
    "key",
    [
        "scored/march.parquet",
        "errors/x.parquet",
        "other/march.parquet",
        "incoming/notes.txt",
        "incoming/march.parquet.tmp",
    ],
)
def test_keys_outside_the_input_are_ignored(bucket: str, statements_file: Path, key: str) -> None:
    upload(bucket, key, statements_file)
    result = invoke(bucket, key)
    assert result["status"] == "skipped"
    assert keys_in(bucket) == [key]


def test_csv_gz_input_and_kaggle_csv_output(bucket: str, statements_file: Path, cli_scores, synthetic_model) -> None:
    text = io.BytesIO()
    pacsv.write_csv(pq.read_table(statements_file), text)
    upload(bucket, "incoming/2026/11/statements.csv.gz", gzip.compress(text.getvalue()))
    settings = dataclasses.replace(Settings.from_env(), output_format="csv", output_bucket=None)
    scorer = batch.BatchScorer(synthetic_model, settings)
    result = scorer.process(batch.S3Object(bucket, "incoming/2026/11/statements.csv.gz"), lambda: 900_000)
    assert result["status"] == "scored"
    lines = get(bucket, "scored/2026/11/statements.csv.gz.predictions.csv").decode().splitlines()
    assert lines[0] == "customer_ID,prediction" and len(lines) == 301
    scores = {cid: float(p) for cid, p in (line.split(",") for line in lines[1:])}
    assert scores.keys() == cli_scores.keys()
    assert max(abs(scores[c] - cli_scores[c]) for c in scores) < 1e-12


def test_the_model_can_come_from_s3(bucket: str, statements_file: Path, cli_scores, tmp_path: Path) -> None:
    for path in SYNTHETIC_MODEL.iterdir():
        s3_client().upload_file(str(path), bucket, f"models/current/{path.name}")
    model = Model(f"s3://{bucket}/models/current/", cache_dir=str(tmp_path)).load()
    upload(bucket, "incoming/march.parquet", statements_file)
    scorer = batch.BatchScorer(model, Settings.from_env())
    assert scorer.process(batch.S3Object(bucket, "incoming/march.parquet"), lambda: 900_000)["status"] == "scored"
    assert predictions(bucket, "scored/march.parquet.predictions.parquet") == cli_scores


def test_running_out_of_time_leaves_a_report_and_no_output(bucket: str, statements_file: Path) -> None:
    upload(bucket, "incoming/slow.parquet", statements_file)
    result = invoke(bucket, "incoming/slow.parquet", seconds=5)  # under MIN_REMAINING_MS (20 s)
    assert result["status"] == "error" and result["error"] == "timeout"
    report = json.loads(get(bucket, "errors/slow.parquet.error.json"))
    assert "Timeout" in report["message"] and report["rows_read"] == 0
    assert keys_in(bucket) == ["errors/slow.parquet.error.json", "incoming/slow.parquet"]
    invoke(bucket, "incoming/slow.parquet")  # with time, the retry succeeds and the stale report goes
    assert keys_in(bucket) == [
        "incoming/slow.parquet",
        "scored/slow.parquet.predictions.parquet",
        "scored/slow.parquet.summary.json",
    ]


def test_a_deleted_object_is_reported_not_retried(bucket: str) -> None:
    result = invoke(bucket, "incoming/gone.parquet")
    assert result["error"] == "not_found"
    assert "URL-decoded" in json.loads(get(bucket, "errors/gone.parquet.error.json"))["message"]


def test_eventbridge_object_created_events_work_too(bucket: str, statements_file: Path) -> None:
    upload(bucket, "incoming/eb file.parquet", statements_file)
    event = {
        "version": "0",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {"bucket": {"name": bucket}, "object": {"key": "incoming/eb file.parquet", "size": 1}},
    }
    [result] = batch.handler(event, LambdaContext("batch", 900))["results"]
    assert result["status"] == "scored"


class _Unavailable(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_HEAD = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


def test_transient_s3_failures_raise_for_lambda_to_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{server.server_address[1]}")
    s3_client.cache_clear()
    try:
        with pytest.raises(ClientError, match="SlowDown|503"):
            invoke("some-bucket", "incoming/a.parquet")
    finally:
        server.shutdown()
        monkeypatch.undo()
        s3_client.cache_clear()


def test_s3_events_wrapped_in_sqs_or_sns_are_unwrapped(bucket: str, statements_file: Path) -> None:
    upload(bucket, "incoming/via queue.parquet", statements_file)
    inner = json.dumps(s3_put("incoming/via queue.parquet", bucket=bucket))
    sqs = {
        "Records": [
            {
                "messageId": "1",
                "eventSource": "aws:sqs",
                "body": inner,
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:uploads",
            }
        ]
    }
    sns = {
        "Records": [
            {"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": {"Type": "Notification", "Message": inner}}
        ]
    }
    # S3 -> SNS -> SQS without raw message delivery: SNS's envelope is the SQS body.
    envelope = {"Type": "Notification", "MessageId": "2", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t"}
    sns_in_sqs = {"Records": [{**sqs["Records"][0], "body": json.dumps({**envelope, "Message": inner})}]}
    for event in (sqs, sns, sns_in_sqs):
        [result] = batch.handler(event, LambdaContext("batch", 900))["results"]
        assert result["status"] == "scored"
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": bucket}  # sent when notifications are set
    assert batch.handler(test_event, LambdaContext("batch", 900)) == {"results": []}


def test_a_categorical_of_the_wrong_type_is_reported(bucket: str, statements_file: Path) -> None:
    table = pq.read_table(statements_file)
    nested = pa.array([[value] for value in table["D_63"].to_pylist()], pa.list_(pa.string()))
    message = _report(bucket, table.set_column(table.schema.get_field_index("D_63"), "D_63", nested), "nested")
    assert message.startswith("column D_63 has type list<") and message.endswith(", expected a number or text")
