"""`amex-scoring`: synth, train, score, and one clear line for every bad input."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from helpers import SYNTHETIC_MODEL

from amex_scoring.cli import main
from amex_scoring.recipe import latest_statement_per_customer
from lambda_function.core.schema import COLUMNS
from lambda_function.core.scoring import Model


def test_synth_is_deterministic_and_in_the_kaggle_layout(tmp_path: Path) -> None:
    assert (
        main(
            [
                "synth",
                "--customers",
                "60",
                "--seed",
                "3",
                "--out",
                str(tmp_path / "a.parquet"),
                "--labels",
                str(tmp_path / "a.csv"),
            ]
        )
        == 0
    )
    assert main(["synth", "--customers", "60", "--seed", "3", "--out", str(tmp_path / "b.parquet")]) == 0
    assert main(["synth", "--customers", "60", "--seed", "4", "--out", str(tmp_path / "c.parquet")]) == 0
    a, b, c = (pq.read_table(tmp_path / f"{n}.parquet") for n in "abc")
    assert a.equals(b) and not a.equals(c)
    assert tuple(a.column_names) == COLUMNS and len(COLUMNS) == 190
    frame = a.to_pandas()
    assert frame["customer_ID"].str.fullmatch(r"[0-9a-f]{64}").all()
    counts = frame.groupby("customer_ID").size()
    assert counts.between(1, 13).all() and counts.max() == 13 and len(counts) == 60
    assert frame["S_2"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert frame["D_64"].isna().any() and set(frame["D_63"].dropna()) <= {"CO", "CR", "CL", "XZ", "XM", "XL"}
    labels = pd.read_csv(tmp_path / "a.csv")
    assert list(labels.columns) == ["customer_ID", "target"] and len(labels) == 60


def test_train_learns_the_planted_signal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, labels, out = tmp_path / "d.parquet", tmp_path / "l.csv", tmp_path / "model"
    main(
        [
            "synth",
            "--customers",
            "3000",
            "--statements",
            "3",
            "--seed",
            "9",
            "--out",
            str(data),
            "--labels",
            str(labels),
        ]
    )
    assert main(["train", "--data", str(data), "--labels", str(labels), "--out", str(out), "--trees", "60"]) == 0
    assert '"auc"' in capsys.readouterr().out
    model = Model(str(out)).load()
    metrics = model.manifest["metrics"]
    assert metrics["auc"] > 0.75 and metrics["gini"] == pytest.approx(2 * metrics["auc"] - 1, abs=1e-5)
    assert 0 < metrics["amex_metric"] < 1 and metrics["validation_customers"] == 600
    assert model.artifacts.reference["score"]["kind"] == "numeric"
    golden = model.artifacts.golden  # held-out customers, some with missing values and unseen categories
    # 60 chosen, and those added so every category and both sides of every imputation are covered
    assert len(golden["customers"]) >= 60 and golden["source"] == "this model, when trained"
    assert main(["verify-model", str(out)]) == 0


def _expected(statements: Path) -> dict[str, float]:
    """Latest statement per customer with pandas, then the model: what `score` must write."""
    model = Model(str(SYNTHETIC_MODEL)).load()
    latest = latest_statement_per_customer(pd.read_parquet(statements))
    columns = {
        n: latest[n].to_numpy(dtype=np.float64, na_value=np.nan)
        if latest[n].dtype.kind == "f"
        else [None if pd.isna(v) else v for v in latest[n]]
        for n in model.inputs
    }
    return dict(zip(latest["customer_ID"], model.predict(columns, len(latest)).probability, strict=True))


def test_score_writes_kaggle_csv_and_parquet(statements_file: Path, tmp_path: Path) -> None:
    assert main(["score", "--model", str(SYNTHETIC_MODEL), str(statements_file), str(tmp_path / "out.csv")]) == 0
    assert (tmp_path / "out.csv").read_text().splitlines()[0] == "customer_ID,prediction"
    csv = pd.read_csv(tmp_path / "out.csv")
    expected = _expected(statements_file)
    assert len(csv) == len(expected) == 300
    np.testing.assert_allclose(csv["prediction"], [expected[c] for c in csv["customer_ID"]], atol=1e-12)

    assert main(["score", str(statements_file), str(tmp_path / "out.parquet")]) == 0
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column_names == ["customer_ID", "prediction", "default", "model_version"]
    assert set(table["model_version"].to_pylist()) == {"1.0.0-synthetic"}
    assert table["customer_ID"].to_pylist() == csv["customer_ID"].tolist()


def test_csv_and_gzipped_csv_inputs_score_like_parquet(statements_file: Path, tmp_path: Path) -> None:
    pacsv.write_csv(pq.read_table(statements_file), tmp_path / "in.csv")
    with open(tmp_path / "in.csv", "rb") as raw, gzip.open(tmp_path / "in.csv.gz", "wb") as packed:
        shutil.copyfileobj(raw, packed)
    expected = _expected(statements_file)
    for name in ("in.csv", "in.csv.gz"):
        assert main(["score", str(tmp_path / name), str(tmp_path / "out.csv")]) == 0
        out = pd.read_csv(tmp_path / "out.csv")
        np.testing.assert_allclose(out["prediction"], [expected[c] for c in out["customer_ID"]], atol=1e-12)


def _fails(args: list[str], capsys: pytest.CaptureFixture[str], message: str) -> None:
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_bad_inputs_exit_non_zero_with_one_line_and_no_output(
    statements_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.csv"
    _fails(["score", str(tmp_path / "nope.parquet"), str(out)], capsys, "file not found")
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    _fails(["score", str(tmp_path / "corrupt.parquet"), str(out)], capsys, "not a readable Parquet file")
    (tmp_path / "empty.parquet").write_bytes(b"")
    _fails(["score", str(tmp_path / "empty.parquet"), str(out)], capsys, "not a readable Parquet file")
    pq.write_table(pq.read_table(statements_file).drop_columns(["D_48", "B_30"]), tmp_path / "cols.parquet")
    _fails(["score", str(tmp_path / "cols.parquet"), str(out)], capsys, "missing required columns: D_48, B_30")
    tampered = tmp_path / "model"
    shutil.copytree(SYNTHETIC_MODEL, tampered)
    (tampered / "preprocessing.json").write_text((tampered / "preprocessing.json").read_text().replace("0", "1", 1))
    _fails(["score", "--model", str(tampered), str(statements_file), str(out)], capsys, "checksum mismatch")
    _fails(["score", str(statements_file), str(tmp_path / "out.txt")], capsys, "must end in .csv or .parquet")
    _fails(
        ["train", "--data", str(tmp_path / "x.parquet"), "--labels", "y.csv", "--out", str(tmp_path / "m")],
        capsys,
        "file not found",
    )
    _fails(
        [
            "import-legacy",
            "--vectorizer",
            "a.pkl",
            "--imputer",
            "b.pkl",
            "--model",
            "c.bin",
            "--out",
            str(tmp_path / "m"),
        ],
        capsys,
        "file not found",
    )
    assert not out.exists() and not (tmp_path / "m").exists()
    assert not list(tmp_path.glob(".out*"))  # no temporary leftovers either


def test_console_script_help() -> None:
    for command in ("synth", "train", "import-legacy", "score", "serve", "invoke"):
        result = subprocess.run(
            [sys.executable, "-m", "amex_scoring.cli", command, "--help"], capture_output=True, text=True, check=True
        )
        assert "usage: amex-scoring" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "amex_scoring.cli", "import-legacy", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "only import files you trust" in result.stdout.replace("\n", " ")


def test_invoke_runs_the_handler_the_event_calls_for(capsys: pytest.CaptureFixture[str]) -> None:
    from helpers import EVENTS

    assert main(["invoke", "--event", str(EVENTS / "api-health.json")]) == 0
    response = json.loads(capsys.readouterr().out)  # stdout is the return value; logs go to stderr
    assert response["statusCode"] == 200 and json.loads(response["body"])["ready"] is True
    assert main(["invoke", "--event", str(EVENTS / "s3-output-ignored.json")]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["status"] == "skipped"


def test_invoke_tells_the_function_from_the_event_shape() -> None:
    from amex_scoring.events import http_api_v2, rest_api_v1, s3_put
    from amex_scoring.invoke import function_for

    s3 = s3_put("incoming/a.parquet")
    assert function_for(s3) == "batch"
    assert function_for({"Records": [{"eventSource": "aws:sqs", "body": json.dumps(s3)}]}) == "batch"
    assert function_for({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(s3)}}]}) == "batch"
    assert function_for({"detail-type": "Object Created", "detail": {}}) == "batch"
    assert function_for(http_api_v2("GET", "/health")) == function_for(rest_api_v1("GET", "/health")) == "api"
    with pytest.raises(ValueError, match="--function"):
        function_for({"hello": "world"})


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_the_rough_edges_a_new_user_hit_are_one_clear_line(
    statements_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _error(capsys, ["serve", "--model", str(tmp_path / "nope")]) == (
        f"amex-scoring serve: error: model directory not found: {tmp_path / 'nope'}"
    )
    assert _error(capsys, ["score", str(statements_file), str(tmp_path / "missing" / "out.csv")]) == (
        f"amex-scoring score: error: output folder not found: {tmp_path / 'missing'}"
    )
    bad_event = tmp_path / "event.json"
    bad_event.write_text("{\n")
    assert _error(capsys, ["invoke", "--event", str(bad_event)]).startswith(
        f"amex-scoring invoke: error: {bad_event}: not a JSON event"
    )
    labels = ["train", "--data", str(statements_file), "--out", str(tmp_path / "m"), "--labels"]
    assert _error(capsys, [*labels, str(statements_file)]) == (
        f"amex-scoring train: error: {statements_file}: the labels are a Parquet file; "
        "expected a CSV with customer_ID,target"
    )
    few = tmp_path / "few.csv"
    ids = pq.read_table(statements_file, columns=["customer_ID"])["customer_ID"].unique().to_pylist()
    pd.DataFrame({"customer_ID": ids[:150], "target": [0, 1] * 75}).to_csv(few, index=False)
    assert _error(capsys, [*labels, str(few)]) == (
        f"amex-scoring train: error: {few}: only 150 of the 300 customers in {statements_file} have a label; "
        "label at least 90% of them"
    )
    no_column = tmp_path / "cols.parquet"
    pq.write_table(pq.read_table(statements_file).drop_columns(["D_48"]), no_column)
    assert _error(capsys, ["train", "--data", str(no_column), "--labels", str(few), "--out", str(tmp_path / "m")]) == (
        f"amex-scoring train: error: {no_column}: missing required columns: D_48"
    )


def test_score_writes_files_others_can_read(statements_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    assert main(["score", str(statements_file), str(out)]) == 0
    assert out.stat().st_mode & 0o044 == 0o044  # readable by group and others, as open() makes files


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == "amex-scoring 0.1.0"


def test_invoke_an_s3_event_against_a_local_s3_server(
    statements_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import EVENTS

    assert main(["invoke", "--event", str(EVENTS / "s3-put.json"), "--local-s3", str(statements_file)]) == 0
    shown = json.loads(capsys.readouterr().out)
    [result] = shown["result"]["results"]
    assert result["status"] == "scored" and result["customers"] == 300
    [objects] = shown["objects"].values()
    assert len(objects) == 3 and any(key.endswith(".summary.json") for key in objects)


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own: a handler module loads its model once per process."""
    return subprocess.run([sys.executable, "-m", "amex_scoring.cli", *argv], capture_output=True, text=True)


def test_invoke_with_a_model_of_its_own_and_keeping_what_the_function_wrote(
    legacy_model_dir: Path, statements_file: Path, tmp_path: Path
) -> None:
    from helpers import EVENTS

    done = _cli("invoke", "--event", str(EVENTS / "api-model.json"), "--model", str(legacy_model_dir))
    assert done.returncode == 0, done.stderr
    described = json.loads(json.loads(done.stdout)["body"])
    assert described["version"] == json.loads((legacy_model_dir / "manifest.json").read_text())["version"]
    event = str(EVENTS / "s3-put.json")
    done = _cli("invoke", "--event", event, "--local-s3", str(statements_file), "--download", str(tmp_path / "kept"))
    assert done.returncode == 0, done.stderr
    kept = sorted(str(path) for path in (tmp_path / "kept").rglob("*") if path.is_file())
    assert len(kept) == 2 and kept == sorted(json.loads(done.stdout)["downloaded"])  # predictions and summary
    summary = json.loads(next((tmp_path / "kept").rglob("*.summary.json")).read_text())
    assert summary["customers_scored"] == 300 and summary["drift"]["status"] == "measured"


def test_invoke_and_serve_refuse_to_start_with_a_model_or_setting_that_cannot_work(
    tmp_path: Path, legacy_model_dir: Path
) -> None:
    from helpers import EVENTS

    tampered = tmp_path / "tampered"
    shutil.copytree(legacy_model_dir, tampered)
    (tampered / "model.ubj").write_bytes((tampered / "model.ubj").read_bytes() + b"x")
    done = _cli("invoke", "--event", str(EVENTS / "api-health.json"), "--model", str(tampered))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines()[-1].startswith(
        f"amex-scoring invoke: error: model failed to load from {tampered}: checksum mismatch for {tampered}/model.ubj"
    )
    done = subprocess.run(
        [sys.executable, "-m", "amex_scoring.cli", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        env={**os.environ, "DECISION_THRESHOLD": "abc"},
        timeout=60,
    )
    assert done.returncode == 1 and "Uvicorn running" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        "amex-scoring serve: error: bad configuration: environment variable DECISION_THRESHOLD must be a number, "
        "got 'abc'"
    )


def test_local_s3_serves_what_the_events_name_and_writes_the_env_file(statements_file: Path, tmp_path: Path) -> None:
    """`amex-scoring local-s3`, as README "Try it with SAM" runs it (here on 127.0.0.1)."""
    import socket
    import time

    import boto3

    from amex_scoring.events import BUCKET

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env_file = tmp_path / "local-s3.json"
    command = [sys.executable, "-m", "amex_scoring.cli", "local-s3", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--env-file", str(env_file), "--statements", str(statements_file)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not env_file.exists() and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.2)
        assert json.loads(env_file.read_text()) == {
            "Parameters": {
                "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
                "CAPTURE_URI": f"s3://{BUCKET}/captures/",
                "MONITORING_URI": f"s3://{BUCKET}/monitoring/",
            }
        }
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
        assert keys == [
            "datasets/2026-11/statements.csv",
            "incoming/2026/11/statements.csv.gz",
            "incoming/statements 2026-11+été.parquet",
            "jobs/2026-11.json",
            "labels/2026-11.csv",
        ]
        stored = s3.get_object(Bucket=BUCKET, Key="incoming/statements 2026-11+été.parquet")["Body"].read()
        assert stored == statements_file.read_bytes()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_score_dataset_refuses_a_model_that_will_not_load_before_writing_anything(
    tmp_path: Path, statements_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import SYNTHETIC_MODEL

    tampered = tmp_path / "tampered"
    shutil.copytree(SYNTHETIC_MODEL, tampered)
    (tampered / "golden.json").write_text("{}")
    (tmp_path / "in").mkdir()
    shutil.copy(statements_file, tmp_path / "in" / "a.parquet")
    assert main(["score-dataset", "--model", str(tampered), str(tmp_path / "in"), str(tmp_path / "out")]) == 1
    assert "checksum mismatch" in capsys.readouterr().err and not (tmp_path / "out").exists()
